"""The demo's verdict: accuracy against folder labels, failures and missing items counted honestly."""

from __future__ import annotations

from catdog_cli.demo import cache_key, folder_label, summarize

FOLDERS = {"cats": "cat", "dogs": "dog"}
KEYS = ["uploads/validation/cats/cat.1.jpg", "uploads/validation/cats/cat.2.jpg",
        "uploads/validation/dogs/dog.1.jpg", "uploads/validation/dogs/dog.2.jpg"]


def _item(key: str, label: str | None, status: str = "classified") -> dict[str, object]:
    item: dict[str, object] = {"image": f"s3://bkt/{key}", "status": status}
    if label:
        item["label"] = label
    return item


def test_folder_label_reads_the_class_folder_not_the_file_name() -> None:
    assert folder_label("s3://b/uploads/validation/cats/dog-looking.jpg", FOLDERS) == "cat"
    assert folder_label("s3://b/uploads/validation/dogs/cat.jpg", FOLDERS) == "dog"
    assert folder_label("s3://b/uploads/cats.jpg", FOLDERS) is None


def test_summary_counts_right_wrong_failed_and_missing() -> None:
    items = [
        _item(KEYS[0], "cat"),
        _item(KEYS[1], "dog"),  # wrong
        _item(KEYS[2], "dog"),
        _item(KEYS[3], None, status="failed") | {"reason": "corrupt"},
        _item("uploads/someone-else.jpg", "cat"),  # not one of ours: ignored
    ]
    s = summarize(items, [*KEYS, "uploads/validation/dogs/never-arrived.jpg"], FOLDERS, seconds=2.0,
                  dlq_messages=1)
    assert (s.images, s.classified, s.failed, s.missing) == (5, 3, 1, 1)
    assert s.correct == 2
    assert s.accuracy == 2 / 3
    assert s.per_label == {"cat": 1, "dog": 2}
    assert s.images_per_second == 2.0  # 4 items written in 2 s
    assert s.failures == {KEYS[3]: "corrupt"}
    assert s.dlq_messages == 1
    assert s.unknown == 0 and s.answered_accuracy == s.accuracy


def test_unknown_answers_are_counted_and_left_out_of_the_answered_accuracy() -> None:
    items = [_item(KEYS[0], "cat"), _item(KEYS[1], "unknown"), _item(KEYS[2], "dog"), _item(KEYS[3], "cat")]
    s = summarize(items, KEYS, FOLDERS, seconds=1.0, dlq_messages=0)
    assert (s.classified, s.unknown, s.correct) == (4, 1, 2)
    assert s.per_label == {"cat": 2, "dog": 1, "unknown": 1}
    assert s.accuracy == 2 / 4  # a cat answered `unknown` is not a right answer
    assert s.answered_accuracy == 2 / 3


def test_cache_key_changes_with_data_or_settings() -> None:
    base = cache_key("abc", {"limit": None, "epochs": None})
    assert base == cache_key("abc", {"epochs": None, "limit": None})
    assert base != cache_key("abd", {"limit": None, "epochs": None})
    assert base != cache_key("abc", {"limit": 5, "epochs": None})
