"""`catdog train --weights X` with a file that is not the architecture's weights: one line naming the file,
exit 2 (bad input), no traceback, no model written, and nothing in the file run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from catdog_cli import exit_codes
from catdog_cli.main import main
from tests.support.paths import WEIGHTS_DIR
from tests.support.torch_files import hostile_state_pickle, legacy_file, state_dict_file
from training_job import efficientnet_lite as lite
from training_job.torch_checkpoint import read_legacy_state_dict

MOBILENET_H5 = WEIGHTS_DIR / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def _truncated(tmp_path: Path) -> Path:
    data = lite.find_lite0_weights().read_bytes()
    (tmp_path / "half.pth").write_bytes(data[: len(data) // 2])
    return tmp_path / "half.pth"


def _os_system(tmp_path: Path) -> Path:
    """A legacy checkpoint whose state dict is a pickle that would run `touch <marker>`."""
    marker = tmp_path / "owned"
    path = tmp_path / "evil.pth"
    payload = hostile_state_pickle("os", "system", f"touch {marker}")
    path.write_bytes(legacy_file(None, [], state_pickle=payload))
    return path


def _wrong_shapes(tmp_path: Path) -> Path:
    """The real tensors, the head convolution's two channel axes swapped: a file that reads fine."""
    state = read_legacy_state_dict(lite.find_lite0_weights())
    state["_conv_head.weight"] = np.ascontiguousarray(state["_conv_head.weight"].transpose(1, 0, 2, 3))
    path = tmp_path / "swapped.pth"
    path.write_bytes(state_dict_file(state))
    return path


def _keras_h5(tmp_path: Path) -> Path:
    """MobileNetV2's Keras weights handed to EfficientNet-Lite0."""
    return MOBILENET_H5


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nowhere.pth"


@pytest.mark.parametrize(("make", "arch", "reason"), [
    (_truncated, "efficientnet_lite0", r"unreadable|truncated"),
    (_os_system, "efficientnet_lite0", r"refused to load the pickle global os\.system"),
    (_wrong_shapes, "efficientnet_lite0", r"tensor _conv_head\.weight is \(320, 1280, 1, 1\) float32, "
                                          r"the network needs \(1280, 320, 1, 1\)"),
    (_keras_h5, "efficientnet_lite0", r"an HDF5 file \(Keras weights\?\), not a PyTorch checkpoint"),
    (_missing, "efficientnet_lite0", r"cannot read the weights file"),
    (lambda tmp: lite.find_lite0_weights(), "mobilenet_v2", r"not MobileNetV2-0\.35 weights"),
    (_missing, "mobilenet_v2", r"no such weights file"),
], ids=["truncated", "os.system pickle", "wrong shapes", "keras h5 for lite0", "missing", "pth for mobilenet",
        "missing for mobilenet"])
def test_a_bad_weights_file_is_one_line_naming_it_and_exit_2(
        make: Callable[[Path], Path], arch: str, reason: str, data_zip: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATDOG_DEBUG", raising=False)
    weights, output = make(tmp_path), tmp_path / "model"
    code = main(["train", "--arch", arch, "--weights", str(weights), "--data", str(data_zip), "--limit", "3",
                 "--epochs", "1", "--output", str(output)])
    err = capsys.readouterr().err
    assert code == exit_codes.USAGE, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"catdog train: error: {weights}: "), last
    assert re.search(reason, last), last
    assert not (output / "model.tflite").exists() and not (output / "model.h5").exists()
    assert not (tmp_path / "owned").exists(), "the pickle's payload ran"
