"""The legacy torch checkpoint reader: right arrays from good files, a clear error for every bad one.

The files are written byte for byte in torch's legacy layout by `tests/support/torch_files.py`
(torch itself is not installed).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.torch_files import SYS_INFO, Storage, Tensor, dumps, hostile_state_pickle, legacy_file
from training_job.torch_checkpoint import MAGIC_NUMBER, CheckpointError, read_legacy_state_dict


def refused(path: Path, pattern: str) -> str:
    """The error reading `path`: a CheckpointError whose message starts with the file's name."""
    with pytest.raises(CheckpointError) as err:
        read_legacy_state_dict(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and re.search(pattern, message), message
    return message


def write(tmp_path: Path, data: bytes, name: str = "weights.pth") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def conv_and_bn() -> tuple[OrderedDict[str, Tensor], list[Storage], dict[str, np.ndarray]]:
    """A conv kernel and its transpose (a strided view), views into one shared storage, a scalar, an empty."""
    kernel = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) / 7
    shared = np.array([1.5, -2.0, 3.25, 4.0, 5.5, -6.0], np.float32)
    k, s = Storage("140", kernel.ravel()), Storage("7", shared)
    count, empty = Storage("9", np.array([1234], np.int64)), Storage("11", np.zeros(0, np.float32))
    state = OrderedDict([
        ("conv.weight", Tensor(k, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
        ("conv.weight_t", Tensor(k, 0, (3, 2, 2, 2), (4, 12, 2, 1))),  # dims 0 and 1 swapped
        ("bn.weight", Tensor(s, 0, (3,), (1,))),
        ("bn.bias", Tensor(s, 3, (3,), (1,))),  # offset into the same storage
        ("bn.every_other", Tensor(s, 1, (3,), (2,))),
        ("bn.num_batches_tracked", Tensor(count, 0, (), ())),
        ("unused.empty", Tensor(empty, 0, (0, 4), (4, 1))),
    ])
    expected = {"conv.weight": kernel, "conv.weight_t": kernel.transpose(1, 0, 2, 3),
                "bn.weight": shared[:3], "bn.bias": shared[3:], "bn.every_other": shared[1::2],
                "bn.num_batches_tracked": np.array(1234), "unused.empty": np.zeros((0, 4), np.float32)}
    return state, [k, s, count, empty], expected


def test_a_legacy_state_dict_reads_as_arrays_with_views_offsets_and_strides(
        tmp_path: Path, conv_and_bn: tuple[Any, list[Storage], dict[str, np.ndarray]]) -> None:
    state, storages, expected = conv_and_bn
    arrays = read_legacy_state_dict(write(tmp_path, legacy_file(state, storages)))
    assert list(arrays) == list(expected), "the file's order is kept"
    for name, want in expected.items():
        assert arrays[name].dtype == want.dtype and arrays[name].shape == want.shape, name
        np.testing.assert_array_equal(arrays[name], want, err_msg=name)
        assert arrays[name].flags.c_contiguous
    arrays["bn.weight"][0] = 99  # copies, not views of one buffer
    assert arrays["bn.bias"][0] == 4.0


def test_a_pickle_that_names_os_system_is_refused_and_nothing_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "owned"
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    data = legacy_file(None, [], state_pickle=hostile_state_pickle("os", "system", f"touch {marker}"))
    assert pickle.loads(data[data.index(b"\x80\x02cos"):]) is None and calls, "the payload works on pickle"
    calls.clear()
    path = write(tmp_path, data)
    refused(path, r"refused to load the pickle global os\.system")
    assert calls == [] and not marker.exists()


@pytest.mark.parametrize(("module", "name"), [
    ("builtins", "eval"), ("posix", "system"), ("subprocess", "run"), ("numpy", "load"),
    ("torch", "DoubleStorage"), ("torch.nn.modules.conv", "Conv2d"), ("collections", "Counter")])
def test_any_other_global_is_refused_by_name(tmp_path: Path, module: str, name: str) -> None:
    path = write(tmp_path, legacy_file(None, [], state_pickle=hostile_state_pickle(module, name, "x")))
    refused(path, rf"refused to load the pickle global {module}\.{name} ")


def test_a_pickle_cannot_rewrite_the_allowed_globals(tmp_path: Path, conv_and_bn: Any) -> None:
    """BUILD on the tensor function would change it for every later file, were it a plain function."""
    state, storages, expected = conv_and_bn
    # BUILD with (None, {"function": OrderedDict}): setattr(f, "function", OrderedDict)
    swap = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x08\x00\x00\x00function"
            b"ccollections\nOrderedDict\ns\x86b.")
    update = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x04\x00\x00\x00nameX\x01\x00\x00\x00xsb."
    for attack in (swap, update):
        refused(write(tmp_path, legacy_file(None, [], state_pickle=attack)), "unreadable state dict")
    arrays = read_legacy_state_dict(write(tmp_path, legacy_file(state, storages), "after.pth"))
    np.testing.assert_array_equal(arrays["conv.weight"], expected["conv.weight"])


@pytest.mark.parametrize(("data", "message"), [
    (b"PK\x03\x04" + b"\x00" * 60, "a zip-format checkpoint"),
    (pickle.dumps({"conv.weight": [1.0, 2.0]}), "no torch magic number"),
    (pickle.dumps(MAGIC_NUMBER + 1, protocol=2), "no torch magic number"),
    (pickle.dumps("119547037146038801333356", protocol=2), "no torch magic number"),
    (b"", "unreadable magic number"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "unreadable magic number"),
    (b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, r"an HDF5 file \(Keras weights\?\)"),
    (pickle.dumps(MAGIC_NUMBER, protocol=2) + pickle.dumps(1000, protocol=2), "protocol version 1000"),
])
def test_files_that_are_not_legacy_checkpoints_are_named_and_refused(
        tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path, data)
    refused(path, message)


def test_a_big_endian_file_is_refused(tmp_path: Path) -> None:
    big_endian = dumps({**SYS_INFO, "little_endian": False})
    data = legacy_file(OrderedDict(), []).replace(dumps(SYS_INFO), big_endian)
    refused(write(tmp_path, data), "big-endian")


def test_a_file_cut_anywhere_is_a_clear_error(tmp_path: Path, conv_and_bn: Any) -> None:
    state, storages, _ = conv_and_bn
    data = legacy_file(state, storages)
    storage_bytes = sum(8 + s.values.nbytes for s in storages)
    cuts = [1, 14, 16, 30, 200, len(data) - storage_bytes - 3, len(data) - storage_bytes + 4, len(data) - 1]
    for cut in cuts:
        path = write(tmp_path, data[:cut], f"cut{cut}.pth")
        refused(path, r"^\S+: (unreadable|truncated)")


def test_a_storage_whose_size_disagrees_with_its_tensors_is_refused(tmp_path: Path, conv_and_bn: Any) -> None:
    state, storages, _ = conv_and_bn
    refused(write(tmp_path, legacy_file(state, storages, counts={"7": 5})),
            "storage 7 holds 5 elements, its tensors were declared with 6")
    refused(write(tmp_path, legacy_file(state, storages, tail=b"\x00")),
            "1 unexpected bytes after the last storage")


@pytest.mark.parametrize(("tensor", "message"), [
    ((1, (6,), (1,)), "reaches element 6 of storage 7, which has 6"),
    ((4, (2, 2), (1, 1)), "reaches element 6"),
    ((0, (10**12,), (0,)), "more elements"),
    ((-1, (2,), (1,)), "malformed offset/shape/stride"),
    ((0, (2,), (1, 1)), "malformed offset/shape/stride"),
    ((0, [2], [1]), "malformed offset/shape/stride"),
    ((0, (2.0,), (1,)), "malformed offset/shape/stride"),
])
def test_a_tensor_outside_its_storage_is_refused(tmp_path: Path, tensor: tuple[Any, Any, Any],
                                                 message: str) -> None:
    storage = Storage("7", np.arange(6, dtype=np.float32))
    state = OrderedDict([("w", Tensor(storage, *tensor))])
    refused(write(tmp_path, legacy_file(state, [storage])), message)


def test_storages_must_match_the_key_list_and_tensors_need_no_hooks(tmp_path: Path) -> None:
    a, b = Storage("1", np.ones(2, np.float32)), Storage("2", np.ones(2, np.float32))
    state = OrderedDict([("a", Tensor(a, 0, (2,), (1,))), ("b", Tensor(b, 0, (2,), (1,)))])
    refused(write(tmp_path, legacy_file(state, [a])), "storage key list does not match")
    state = OrderedDict([("a", Tensor(a, 0, (2,), (1,))), ("b", Tensor(Storage("1", np.ones(3, np.float32)),
                                                                        0, (2,), (1,)))])
    refused(write(tmp_path, legacy_file(state, [a])), "storage 1 is declared twice")
    hooked = OrderedDict([("a", Tensor(a, 0, (2,), (1,), hooks=OrderedDict([(0, "hook")])))])
    refused(write(tmp_path, legacy_file(hooked, [a])), "carries backward hooks")


def test_a_checkpoint_that_is_not_a_flat_state_dict_is_refused(tmp_path: Path) -> None:
    a = Storage("1", np.ones(2, np.float32))
    nested = OrderedDict([("state_dict", OrderedDict([("a", Tensor(a, 0, (2,), (1,)))]))])
    refused(write(tmp_path, legacy_file(nested, [a])), "not a flat state dict")


def test_a_memo_index_far_beyond_the_pickle_is_refused_before_unpickling(tmp_path: Path) -> None:
    """LONG_BINPUT 2**31 - 1 would make the C unpickler allocate and zero a 32 GiB memo table."""
    state_pickle = b"\x80\x02}r\xff\xff\xff\x7f."
    refused(write(tmp_path, legacy_file(None, [], state_pickle=state_pickle)),
            "stores memo entry 2147483647 after 2 opcodes")


def test_a_hub_file_name_must_match_the_files_sha256(tmp_path: Path, conv_and_bn: Any) -> None:
    state, storages, _ = conv_and_bn
    data = legacy_file(state, storages)
    prefix = hashlib.sha256(data).hexdigest()[:8]
    assert read_legacy_state_dict(write(tmp_path, data, f"model-{prefix}.pth"))
    wrong = f"{(int(prefix, 16) ^ 1):08x}"
    refused(write(tmp_path, data, f"model-{wrong}.pth"), f"sha256 does not start with {wrong}")


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    refused(tmp_path / "nowhere.pth", "cannot read the weights file")
