"""`evaluate` and `predict` score the `.tflite` through `preprocess_image`, as the Lambda does."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from catdog.model_repo import load_model
from catdog_cli.main import main
from tests.support.images import jpeg_bytes
from tests.support.model_factory import build_tiny_model_dir
from tests.support.nonphotos import nonphotos
from training_job.data import DataError
from training_job.evaluate import evaluate, predict
from training_job.publish import publish_model

RED, TEAL = (220, 20, 20), (20, 200, 220)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reddish → cat, teal → dog (see tests/model_factory.py); accuracy recorded for the gate."""
    out = build_tiny_model_dir(tmp_path_factory.mktemp("model"), version="tiny-v1")
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text.replace('"accuracy": 1.0', '"accuracy": 0.99'))
    return out


@pytest.fixture(scope="module")
def novelty_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same rule plus a novelty output: colours far from red and teal are `unknown`."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("novelty"), version="tiny-nov", novelty=True)


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """Noise and line drawings (grey and white on average: neither red nor teal), in sub-folders."""
    root = tmp_path / "generated"
    for name, data in nonphotos(per_kind=3, kinds=("uniform_noise", "sketch")):
        (root / name.split("-")[0]).mkdir(parents=True, exist_ok=True)
        (root / name.split("-")[0] / name).write_bytes(data)
    return root


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """3 red cats, 2 teal dogs and 1 red dog (which the model gets wrong), plus one broken file."""
    root = tmp_path / "eval"
    for folder, colors in (("cats", [RED] * 3), ("dogs", [TEAL, TEAL, RED])):
        (root / folder).mkdir(parents=True)
        for i, color in enumerate(colors):
            (root / folder / f"{i}.jpg").write_bytes(jpeg_bytes((50, 40), color))
    (root / "dogs" / "broken.jpg").write_text("not an image")
    return root


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_evaluate_scores_the_tflite(tiny_model: Path, labelled: Path) -> None:
    report = evaluate(load_model(tiny_model), str(labelled))
    assert report["n"] == 6 and report["skipped"] == 1
    assert report["accuracy"] == pytest.approx(5 / 6, abs=1e-6)
    assert report["confusion_matrix"] == [[3, 0], [1, 2]]
    assert report["per_class"]["dog"]["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert report["per_class"]["cat"]["precision"] == pytest.approx(3 / 4)
    assert report["version"] == "tiny-v1"


def test_evaluate_cli_prints_one_json_object_last(
    tiny_model: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(["evaluate", "--model", str(tiny_model), "--data", str(labelled)], capsys)
    last = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and last["n"] == 6 and set(last["per_class"]) == {"cat", "dog"}
    assert {"accuracy", "confusion_matrix", "version", "roc_auc"} <= set(last)


def test_evaluate_uses_the_validation_split_of_a_dataset(
    tiny_model: Path, labelled: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ds"
    (root / "train" / "cats").mkdir(parents=True)
    (root / "train" / "cats" / "t.jpg").write_bytes(jpeg_bytes((50, 40), TEAL))  # would be wrong: ignored
    labelled.rename(root / "validation")
    assert evaluate(load_model(tiny_model), str(root))["n"] == 6


def test_evaluate_with_no_matching_folders_names_them(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "birds").mkdir()
    (tmp_path / "birds" / "b.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "fish").mkdir()
    (tmp_path / "fish" / "f.jpg").write_bytes(jpeg_bytes())
    with pytest.raises(DataError, match="birds"):
        evaluate(load_model(tiny_model), str(tmp_path))


def test_predict_labels_each_image_and_reports_bad_ones(
    tiny_model: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [
        str(labelled / "cats" / "0.jpg"),
        str(labelled / "dogs" / "0.jpg"),
        str(labelled / "dogs" / "broken.jpg"),
        str(labelled / "nope.jpg"),
    ]
    code, out = run_cli(["predict", "--model", str(tiny_model), *images], capsys)
    lines = [line.split("\t") for line in out.strip().splitlines()]
    assert code == 1  # some inputs failed
    assert [(line[0], line[1]) for line in lines] == [
        (images[0], "cat"),
        (images[1], "dog"),
        (images[2], "error"),
        (images[3], "error"),
    ]
    assert float(lines[0][2]) > 0.9
    assert lines[0][3:] == ["cat", "-"]  # an old single-output model: top label = answer, no novelty
    assert "not_an_image" in lines[2][2] and "unreadable" in lines[3][2]


def test_predict_shows_unknown_with_the_top_label_and_novelty(
    novelty_model: Path, labelled: Path, generated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = sorted((generated / "uniform_noise").iterdir())[0]
    code, out = run_cli(["predict", "--model", str(novelty_model), str(labelled / "cats" / "0.jpg"),
                         str(noise)], capsys)
    cat, other = (line.split("\t") for line in out.strip().splitlines())
    assert code == 0
    assert cat[1] == cat[3] == "cat" and float(cat[4]) <= 1.0
    assert other[1] == "unknown" and other[3] in ("cat", "dog") and float(other[4]) > 1.0
    assert 0.5 <= float(other[2]) <= 1.0  # the top label's confidence, still reported


def test_evaluate_reports_unknown_rates_on_labelled_and_ood_sets(
    novelty_model: Path, labelled: Path, generated: Path, tmp_path: Path
) -> None:
    zipped = tmp_path / "flat.zip"
    with zipfile.ZipFile(zipped, "w") as zf:  # a zip with class sub-folders, like ood_flowers.zip
        zf.writestr("ood/grey/a.jpg", jpeg_bytes((40, 30), (128, 128, 128)))
        zf.writestr("ood/green/b.jpg", jpeg_bytes((40, 30), (30, 220, 30)))
        zf.writestr("ood/red/c.jpg", jpeg_bytes((40, 30), RED))  # cat-coloured: answered
    report = evaluate(load_model(novelty_model), str(labelled), ood=[str(generated), str(zipped)])
    assert report["scores_novelty"] and report["unknown_rate"] == 0.0 and report["answered"] == 6
    assert report["answered_accuracy"] == report["accuracy"] == pytest.approx(5 / 6, abs=1e-6)
    assert report["ood"][str(generated)] == {"n": 6, "unknown": 6, "unknown_rate": 1.0,
                                             "answered_as": {"cat": 0, "dog": 0}, "skipped": 0}
    flat = report["ood"][str(zipped)]
    assert (flat["n"], flat["unknown"], flat["answered_as"]) == (3, 2, {"cat": 1, "dog": 0})


def test_evaluate_with_an_old_model_never_answers_unknown(
    tiny_model: Path, labelled: Path, generated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(["evaluate", "--model", str(tiny_model), "--data", str(labelled), "--ood",
                         str(generated)], capsys)
    last = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and not last["scores_novelty"] and last["unknown_rate"] == 0.0
    assert last["ood"][str(generated)]["unknown_rate"] == 0.0


def test_predict_returns_in_order(tiny_model: Path, labelled: Path) -> None:
    results = predict(load_model(tiny_model), [labelled / "dogs" / "2.jpg", labelled / "dogs" / "1.jpg"])
    assert [r.label for _, r in results] == ["cat", "dog"]


def test_model_dir_without_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        load_model(tmp_path)


@pytest.fixture
def aws_region() -> str:
    return "us-east-1"  # its buckets are created without a location constraint


def test_evaluate_the_live_model_from_s3(tiny_model: Path, labelled: Path, aws_env: str) -> None:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="live-models")
        publish_model(tiny_model, "s3://live-models/models/", min_accuracy=0.5)
        live = load_model("s3://live-models/models/")  # follows latest.json
        assert (
            live.manifest.version == "tiny-v1"
            and live.location == "s3://live-models/models/tiny-v1/model.tflite"
        )
        assert evaluate(live, str(labelled))["correct"] == 5
        assert load_model("s3://live-models/models/tiny-v1/").manifest.version == "tiny-v1"


def test_container_entry_point_runs() -> None:
    """What `training_job/Dockerfile`'s ENTRYPOINT names must start and describe its env vars."""
    dockerfile = (Path(__file__).resolve().parents[2] / "training_job" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "training_job"]' in dockerfile
    done = subprocess.run(
        [sys.executable, "-m", "training_job", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for var in ("DATA_URI", "OUTPUT_URI", "PUBLISH_URI", "MIN_ACCURACY", "ARCH", "EPOCHS"):
        assert var in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "training_job", "--data", "/no/such/data", "--output", "/tmp/x"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "/no/such/data" in bad.stderr.strip().splitlines()[-1]


def test_evaluate_never_imports_tensorflow(tiny_model: Path, labelled: Path) -> None:
    """Scoring must run where the Lambda runs: LiteRT + Pillow, no TensorFlow or Keras."""
    code = (
        "import sys, json\n"
        "from catdog_cli.commands.training import register\n"
        "from catdog.model_repo import load_model\nfrom training_job.evaluate import evaluate\n"
        f"report = evaluate(load_model({str(tiny_model)!r}), {str(labelled)!r})\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(json.dumps({'n': report['n'], 'heavy': heavy}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"n": 6, "heavy": []}
