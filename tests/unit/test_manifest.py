"""Manifest and pointer parsing: the contract between trainer, quality gate and Lambda."""

from __future__ import annotations

import json

import pytest

from catdog.errors import ManifestError
from catdog.manifest import Manifest, ModelPointer

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
