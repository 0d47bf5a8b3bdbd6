"""Labels and their folders: what a crafted manifest can put in a label, and what an export makes of it."""

from __future__ import annotations

import pytest

from catdog.labels import LabelError, check_label, folder_name, unique_folders


@pytest.mark.parametrize("label", ["", " ", "x" * 65, "a\tb", "a\u2066b", "\ufeffcat", "a\u2028b", ".", "..",
                                   "...", "a/b", "a\\b", 7, None])
def test_what_cannot_be_shown_stored_or_made_a_folder_is_not_a_label(label: object) -> None:
    with pytest.raises(LabelError):
        check_label(label)


@pytest.mark.parametrize(("label", "folder"), [
    ("cat", "cat"), ("golden retriever", "golden_retriever"), ("猫", "猫"), ("_hidden", "hidden"),
    (".cat", "cat"), ("a:b*c?", "a_b_c"), ("con", "con_"), ("NUL.txt", "NUL.txt_"), ("!!!", "label"),
    ("..", "label"), ("../../etc", "etc"),
])
def test_a_folder_name_is_always_one_plain_visible_path_component(label: str, folder: str) -> None:
    assert folder_name(label) == folder


def test_unique_folders_tell_apart_labels_that_clean_to_one_name_and_avoid_taken_ones() -> None:
    folders = unique_folders([("a b", "a b"), ("a_b", "a_b"), ("A_B", "A_B"), ("cat", "cats"),
                              ("x", "_unknown")], taken=["_unknown", "UNKNOWN"])
    assert folders == {"a b": "a_b", "a_b": "a_b-2", "A_B": "A_B-3", "cat": "cats", "x": "unknown-2"}
    assert len({f.casefold() for f in folders.values()}) == len(folders)
