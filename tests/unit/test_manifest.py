"""Manifest and pointer parsing: the contract between trainer, quality gate and Lambda."""

from __future__ import annotations

import json

import pytest

from catdog.errors import ManifestError
from catdog.manifest import Manifest, ModelPointer, image_id

VALID = {
    "version": "20261127-abc",
    "labels": ["cat", "dog"],
    "input_size": [224, 224],
    "arch": "mobilenet_v2",
    "output_activation": "sigmoid",
    "metrics": {"accuracy": 0.97},
}


def test_manifest_round_trips() -> None:
    manifest = Manifest.from_dict(VALID)
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.input_size == (224, 224)


def test_unknown_fields_are_ignored_so_old_readers_accept_new_manifests() -> None:
    assert Manifest.from_dict({**VALID, "added_later": 1}).version == "20261127-abc"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ["cat"]}, "at least two"),
        ({"input_size": [224]}, "input_size"),
        ({"output_activation": "relu"}, "output_activation"),
        ({"version": 3}, "'version' should be str"),
    ],
)
def test_invalid_manifest_names_the_field(change: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict({**VALID, **change})


def test_missing_field_and_bad_json_are_manifest_errors() -> None:
    with pytest.raises(ManifestError, match="missing field 'arch'"):
        Manifest.from_dict({k: v for k, v in VALID.items() if k != "arch"})
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.from_json("{not json")


def test_pointer_for_version_names_the_files_under_the_prefix() -> None:
    pointer = ModelPointer.for_version("models/", "v7", accuracy=0.98)
    assert pointer.manifest_key == "models/v7/manifest.json"
    assert pointer.model_key == "models/v7/model.tflite"
    assert ModelPointer.from_json(pointer.to_json()) == pointer


def test_pointer_without_model_key_is_rejected() -> None:
    with pytest.raises(ManifestError, match="model_key"):
        ModelPointer.from_json(json.dumps({"version": "v1", "manifest_key": "m"}))


@pytest.mark.parametrize("version", ["..", ".", "../x", "a/b", "-x", "", "x" * 129, "v1\n", 7])
def test_versions_that_could_escape_a_folder_are_refused_everywhere(version: object) -> None:
    """A version names a folder on S3 and in the Lambda's /tmp cache: `..` once made the handler
    write into, and then empty, the parent of its cache directory."""
    with pytest.raises(ManifestError, match=r"not allowed|should be str"):
        Manifest.from_dict({**VALID, "version": version})
    if isinstance(version, str):
        with pytest.raises(ManifestError):
            ModelPointer.from_json(json.dumps({"version": version, "manifest_key": f"models/{version}/m.json",
                                               "model_key": f"models/{version}/model.tflite"}))


def test_a_pointer_must_name_files_in_its_own_version_folder() -> None:
    good = ModelPointer.for_version("models/", "v1")
    assert ModelPointer.from_json(good.to_json()) == good
    for manifest_key, model_key in (("models/v2/manifest.json", "models/v1/model.tflite"),
                                    ("models/v1/manifest.json", "models/v1/../v2/model.tflite"),
                                    ("models/other/manifest.json", "models/other/model.tflite")):
        with pytest.raises(ManifestError, match="version's own folder"):
            ModelPointer.from_json(json.dumps({"version": "v1", "manifest_key": manifest_key,
                                               "model_key": model_key}))


def test_checksums_must_be_sha256_digests() -> None:
    assert Manifest.from_dict({**VALID, "checksums": {"model.tflite": "a" * 64}}).checksums
    with pytest.raises(ManifestError, match="checksums"):
        Manifest.from_dict({**VALID, "checksums": {"model.tflite": "md5:abc"}})


def test_old_manifests_without_novelty_or_calibration_load_and_never_say_unknown() -> None:
    manifest = Manifest.from_dict(VALID)
    assert manifest.novelty == {} and manifest.calibration == {} and manifest.novelty_threshold is None


def test_the_novelty_threshold_is_read_unless_the_block_is_disabled() -> None:
    block = {"method": "mahalanobis", "threshold": 1.0, "accept_rate": 0.99}
    assert Manifest.from_dict({**VALID, "novelty": block}).novelty_threshold == 1.0
    off = {"enabled": False, "method": "mahalanobis", "reason": "holdout AUROC 0.51 < 0.9"}
    assert Manifest.from_dict({**VALID, "novelty": off}).novelty_threshold is None


@pytest.mark.parametrize(("change", "message"), [
    ({"labels": ["cat", "unknown"]}, "reserved"),
    ({"novelty": {"threshold": "high"}}, "finite number"),
    ({"novelty": {"threshold": float("nan")}}, "finite number"),
    ({"novelty": [1]}, "'novelty' must be an object"),
])
def test_a_label_named_unknown_and_a_bad_threshold_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict({**VALID, **change})


# ---------------------------------------------------- issue 19: labels, trained_on, pointer checksums

SHA = "a" * 64


@pytest.mark.parametrize(("labels", "message"), [
    (["cat", "x" * 70], "70 characters long"),          # a 70-char label gave a 500 on review
    (["cat", "   "], "empty or blank"),
    (["cat", " dog"], "white space"),
    (["cat", "do\u202eg"], "invisible formatting"),      # a bidi override
    (["cat", "d\u200bog"], "invisible formatting"),      # a zero-width space
    (["cat", "d\x1bog"], "invisible formatting"),        # an escape sequence
    (["cat", ".."], "looks like a path"),               # became a folder in the export root
    (["cat", "a/b"], "looks like a path"),
    (["cat", "Unknown"], "reserved"),
    (["a b", "a_b"], "would share the folder 'a_b'"),   # one folder for two classes
    (["Cat", "cat"], "would share the folder"),          # one folder on a case-insensitive disk
])
def test_labels_a_crafted_manifest_could_carry_are_refused(labels: list[str], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict({**VALID, "labels": labels})


def test_ordinary_labels_of_any_script_are_accepted() -> None:
    labels = ["golden retriever", "chat noir", "猫", "dog-2"]
    assert Manifest.from_dict({**VALID, "labels": labels}).labels == labels


def test_trained_on_lists_image_ids_and_anything_else_is_malformed() -> None:
    ids = [image_id("s3://b/uploads/a.jpg", '"etag1"'), image_id("s3://b/uploads/b.jpg", "etag2")]
    manifest = Manifest.from_dict({**VALID, "data": {"trained_on": ids}})
    assert manifest.trained_on == frozenset(ids) and Manifest.from_dict(VALID).trained_on == frozenset()
    assert image_id("s3://b/uploads/a.jpg", '"etag1"') == image_id("s3://b/uploads/a.jpg", "etag1")
    assert image_id("s3://b/uploads/a.jpg", "etag1") != image_id("s3://b/uploads/a.jpg", "etag2")
    for bad in (["s3://b/uploads/a.jpg"], "abc", [1]):
        with pytest.raises(ManifestError, match="trained_on"):
            Manifest.from_dict({**VALID, "data": {"trained_on": bad}})


def test_a_pointer_records_every_file_and_old_pointers_still_parse() -> None:
    pointer = ModelPointer.for_version("models/", "v1", model_sha256=SHA,
                                       checksums={"manifest.json": "b" * 64, "model.tflite": SHA})
    assert ModelPointer.from_json(pointer.to_json()) == pointer
    old = {"version": "v1", "manifest_key": "models/v1/manifest.json", "model_key": "models/v1/model.tflite",
           "model_sha256": SHA}  # what publish wrote before the checksums
    assert ModelPointer.from_json(json.dumps(old)).checksums == {}
    assert pointer.folder == "models/v1/" and pointer.model_file == "model.tflite"


@pytest.mark.parametrize(("checksums", "message"), [
    ({"model.tflite": SHA}, "no sha256 of manifest.json"),
    ({"manifest.json": SHA}, "no sha256 of model.tflite"),
    ({"manifest.json": SHA, "model.tflite": "b" * 64}, "disagree"),
    ({"manifest.json": SHA, "model.tflite": SHA, "../x": SHA}, "map file names"),
    ({"manifest.json": "nope", "model.tflite": SHA}, "map file names"),
])
def test_a_pointer_whose_checksums_do_not_vouch_for_what_the_function_reads_is_refused(
        checksums: dict[str, str], message: str) -> None:
    data = json.loads(ModelPointer.for_version("models/", "v1", model_sha256=SHA).to_json())
    with pytest.raises(ManifestError, match=message):
        ModelPointer.from_json(json.dumps({**data, "checksums": checksums}))
