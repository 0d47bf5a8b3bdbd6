"""Read a legacy (pre-1.6, not zip) PyTorch checkpoint into numpy arrays: no torch, and no code run.

Such a `.pth` file is five things back to back: four pickles (a magic number, a protocol version,
system info, then the state dict itself) and a pickle listing storage keys, followed by each
storage's raw bytes (an 8-byte little-endian element count, then the elements). The state dict's
tensors are calls to `torch._utils._rebuild_tensor_v2(storage, offset, shape, stride, ...)` whose
storage is named by a persistent id `("storage", torch.FloatStorage, key, location, numel, None)`.

A pickle is a program: loading one with `pickle.load` runs whatever callables it names. This
reader unpickles with a subclass whose `find_class` hands out exactly four harmless stand-ins
(an ordered dict, a tensor *description*, the float and long storage types) and refuses every
other global, so a hostile file can at worst be refused. The stand-ins are immutable, so a pickle cannot
rewrite them either (BUILD on them fails). Every failure, from a truncated file to
a view reaching past its storage, is a `CheckpointError` naming the file: never a crash, never a
silently wrong array.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import pickletools
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

from catdog.errors import CatdogError

#: The first pickle of every legacy torch file (torch.serialization.MAGIC_NUMBER).
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
ZIP_MAGIC = b"PK\x03\x04"
#: What a Keras `.h5` weights file starts with: the likeliest wrong file to be handed to this reader.
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: The storage types the reader accepts, with their on-disk element type (little-endian).
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}
#: torch.hub's convention: `name-<first hex digits of the sha256>.ext`.
_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


class CheckpointError(CatdogError, ValueError):
    """The weights file cannot be read as a legacy PyTorch state dict; the message names the file."""


class _Refused(Exception):
    """Raised while unpickling; `_unpickle` turns it into a CheckpointError that names the file."""


# The objects a pickle can reach are NamedTuples: no `__dict__` and no `__setstate__`, so the BUILD
# opcode cannot change them. (A frozen slotted dataclass would not do: it has a `__setstate__` that
# sets its fields, and a pickle could repoint an allowed callable at another object.)


class StorageType(NamedTuple):
    """Stand-in for `torch.FloatStorage` / `torch.LongStorage`: only ever a token in a persistent id."""

    name: str
    dtype: np.dtype[Any]


class _Storage(NamedTuple):
    key: str
    dtype: np.dtype[Any]
    numel: int


class TensorRef(NamedTuple):
    """A tensor as the pickle describes it: a view (offset, shape, stride in elements) of a storage."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _Callable(NamedTuple):
    """A global the pickle may call, standing in for the torch/collections one."""

    name: str
    function: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rebuild_tensor_v2(storage: object, offset: object, shape: object, stride: object,
                       requires_grad: object = False, backward_hooks: object = None,
                       metadata: object = None) -> TensorRef:
    """Describe the tensor instead of building it: the bytes come after the pickle."""
    if not isinstance(storage, _Storage):
        raise _Refused(f"a tensor's storage is {type(storage).__name__}, not a storage")
    if not (isinstance(shape, tuple) and isinstance(stride, tuple) and len(shape) == len(stride)
            and all(_is_int(v) and v >= 0 for v in (offset, *shape, *stride))):
        raise _Refused(f"a tensor of storage {storage.key} has a malformed offset/shape/stride: "
                              f"{offset!r} {shape!r} {stride!r}")
    if backward_hooks:  # hooks are code; a state dict never has any
        raise _Refused(f"a tensor of storage {storage.key} carries backward hooks")
    return TensorRef(storage, cast(int, offset), tuple(shape), tuple(stride))


def _ordered_dict(*args: Any) -> OrderedDict[Any, Any]:
    if args:
        raise _Refused("the ordered dict is built with arguments")
    return OrderedDict()


STATE_DICT_GLOBALS: Mapping[tuple[str, str], object] = {
    ("collections", "OrderedDict"): _Callable("collections.OrderedDict", _ordered_dict),
    ("torch._utils", "_rebuild_tensor_v2"): _Callable("torch._utils._rebuild_tensor_v2", _rebuild_tensor_v2),
    **{("torch", name): StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `allowed`; resolves persistent ids only when given `storages`."""

    def __init__(self, data: io.BytesIO, allowed: Mapping[tuple[str, str], object],
                 storages: dict[str, _Storage] | None) -> None:
        super().__init__(data)
        self._allowed, self._storages = allowed, storages

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(
                f"refused to load the pickle global {module}.{name} (a weights file "
                "needs only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and "
                f"torch.{'/'.join(STORAGE_DTYPES)}): the file is not a plain state dict") from None

    def persistent_load(self, pid: Any) -> _Storage:
        if self._storages is None:
            raise _Refused(f"a persistent id outside the state dict: {pid!r:.80}")
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise _Refused(f"an unexpected persistent id {pid!r:.80}")
        _, kind, key, _location, numel, view = pid
        if not isinstance(kind, StorageType) or not isinstance(key, str) or not _is_int(numel) or numel < 0:
            raise _Refused(f"a malformed storage id {pid!r:.80}")
        if view is not None:  # storage views: torch < 0.4 only
            raise _Refused(f"storage {key} is a view of another storage (torch < 0.4)")
        storage = self._storages.setdefault(key, _Storage(key, kind.dtype, numel))
        if storage != _Storage(key, kind.dtype, numel):
            raise _Refused(f"storage {key} is declared twice, with different types or sizes")
        return storage


_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}


def _scan(data: io.BytesIO, path: Path, what: str) -> None:
    """Walk the pickle's opcodes without running any, before the real unpickler sees them.

    The C unpickler trusts two numbers that a hostile file controls: a memo index (it grows its
    memo table to that index, zero-filled: gigabytes for one opcode) and a declared string length.
    A pickler numbers its memo entries from 0, one per opcode at most, and pickletools reads
    strings by what is actually there, so both are checked here at the cost of a fast pass.
    """
    start = data.tell()
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(data)):
            if op.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg <= count):
                raise CheckpointError(f"{path}: the {what} pickle stores memo entry {arg!r:.20} after "
                                      f"{count} opcodes (a pickler numbers them from 0)")
    except CheckpointError:
        raise
    except Exception as e:  # pickletools reports a truncated or malformed stream as ValueError
        raise CheckpointError(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None
    data.seek(start)


def _unpickle(data: io.BytesIO, path: Path, what: str,
              allowed: Mapping[tuple[str, str], object] | None = None,
              storages: dict[str, _Storage] | None = None) -> Any:
    """One pickle of the sequence; anything that goes wrong becomes a CheckpointError naming `what`."""
    _scan(data, path, what)
    try:
        return _RestrictedUnpickler(data, allowed or {}, storages).load()
    except _Refused as e:
        raise CheckpointError(f"{path}: {e}") from None
    except Exception as e:  # an untrusted parser: truncated data, wrong opcodes, wrong arguments...
        raise CheckpointError(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None


def check_hub_hash(path: Path, data: bytes) -> None:
    """A torch.hub file name ends in the first hex digits of its sha256: a mismatch is a damaged file."""
    match = _HUB_HASH.search(path.name)
    if match and not hashlib.sha256(data).hexdigest().startswith(match.group(1)):
        raise CheckpointError(f"{path}: its sha256 does not start with {match.group(1)} as its name says: "
                              "the file is damaged or not the one published under that name")


def read_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the file's state dict as a contiguous numpy array, in the file's order."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the weights file ({e.strerror or e})") from None
    check_hub_hash(path, data)
    if data.startswith(ZIP_MAGIC):
        raise CheckpointError(f"{path}: a zip-format checkpoint (torch >= 1.6); this reader reads only the "
                              "legacy format (torch.save(..., _use_new_zipfile_serialization=False))")
    if data.startswith(HDF5_MAGIC):
        raise CheckpointError(f"{path}: an HDF5 file (Keras weights?), not a PyTorch checkpoint")
    stream = io.BytesIO(data)
    magic = _unpickle(stream, path, "magic number")
    if not _is_int(magic) or magic != MAGIC_NUMBER:
        raise CheckpointError(f"{path}: not a legacy PyTorch checkpoint (no torch magic number)")
    if (version := _unpickle(stream, path, "protocol version")) != PROTOCOL_VERSION:
        raise CheckpointError(f"{path}: unsupported torch protocol version {version!r:.40}")
    sys_info = _unpickle(stream, path, "system info")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise CheckpointError(f"{path}: written on a big-endian machine or without system info")
    storages: dict[str, _Storage] = {}
    state = _unpickle(stream, path, "state dict", STATE_DICT_GLOBALS, storages)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, TensorRef)
                                              for k, v in state.items()):
        raise CheckpointError(f"{path}: the checkpoint is not a flat state dict of named tensors")
    keys = _unpickle(stream, path, "storage key list")
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)
            and len(set(keys)) == len(keys) and set(keys) == set(storages)):
        raise CheckpointError(f"{path}: the storage key list does not match the storages the tensors use")
    arrays = _read_storages(memoryview(data), stream.tell(), [storages[k] for k in keys], path)
    return {name: _view(ref, arrays[ref.storage.key], path, name) for name, ref in state.items()}


def _read_storages(data: memoryview, at: int, storages: list[_Storage], path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for storage in storages:
        if at + 8 > len(data):
            raise CheckpointError(f"{path}: truncated: the file ends before storage {storage.key}")
        numel = int.from_bytes(data[at:at + 8], "little")
        if numel != storage.numel:
            raise CheckpointError(f"{path}: storage {storage.key} holds {numel} elements, its tensors "
                                  f"were declared with {storage.numel}")
        nbytes = numel * storage.dtype.itemsize
        if at + 8 + nbytes > len(data):
            raise CheckpointError(f"{path}: truncated: storage {storage.key} needs {nbytes} bytes, "
                                  f"{len(data) - at - 8} are left")
        arrays[storage.key] = np.frombuffer(data, storage.dtype, numel, at + 8)
        at += 8 + nbytes
    if at != len(data):
        raise CheckpointError(f"{path}: {len(data) - at} unexpected bytes after the last storage")
    return arrays


def _view(ref: TensorRef, storage: np.ndarray, path: Path, name: str) -> np.ndarray:
    """The tensor's elements, copied out of its storage; a view reaching past the storage is refused."""
    if 0 in ref.shape:
        return np.zeros(ref.shape, storage.dtype.newbyteorder("="))
    if np.prod(ref.shape, dtype=object) > len(storage):  # a state dict never repeats elements (stride 0)
        raise CheckpointError(f"{path}: tensor {name} has more elements {ref.shape} than its storage "
                              f"{ref.storage.key} ({len(storage)})")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride, strict=True))
    if last >= len(storage):
        raise CheckpointError(f"{path}: tensor {name} reaches element {last} of storage {ref.storage.key}, "
                              f"which has {len(storage)}")
    native = storage.dtype.newbyteorder("=")
    if not ref.shape:  # a 0-d tensor (as_strided would return a 1-element vector)
        return np.array(storage[ref.offset], dtype=native)
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[ref.offset:], ref.shape, [s * item for s in ref.stride],
                                           writeable=False)
    return np.array(view, dtype=native, order="C")  # a copy: writable, and not tied to the file's bytes
