"""Legacy torch checkpoints written without torch, byte for byte: for tests of the reader and of the trainer.

A pickler that emits the torch globals by name (torch itself is not installed) writes four pickles,
the storage key list, then each storage's element count and bytes, as
`torch.save(state, f, _use_new_zipfile_serialization=False)` does.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from training_job.torch_checkpoint import MAGIC_NUMBER


class Global:
    """Pickled as the opcode GLOBAL 'module name', whether or not `module` is importable here."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # only so that the pickler accepts it as a reduce function
        raise AssertionError("never called")


class Storage:
    def __init__(self, key: str, values: np.ndarray, kind: str | None = None,
                 numel: int | None = None) -> None:
        self.key, self.values = key, values
        self.kind = kind or {"float32": "FloatStorage", "int64": "LongStorage"}[str(values.dtype)]
        self.numel = len(values) if numel is None else numel


class Tensor:
    """`_rebuild_tensor_v2(storage, offset, shape, stride, requires_grad, hooks)`, as torch pickles it."""

    def __init__(self, storage: Storage, offset: int, shape: tuple[Any, ...], stride: tuple[Any, ...],
                 hooks: OrderedDict[Any, Any] | None = None) -> None:
        self.storage, self.args = storage, (offset, shape, stride, False, hooks or OrderedDict())

    def __reduce__(self) -> tuple[Any, ...]:
        return Global("torch._utils", "_rebuild_tensor_v2"), (self.storage, *self.args)


class TorchPickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def save_global_by_name(self, obj: Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[Global] = save_global_by_name

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Storage):
            return ("storage", Global("torch", obj.kind), obj.key, "cpu", obj.numel, None)
        return None


def dumps(obj: Any) -> bytes:
    out = io.BytesIO()
    TorchPickler(out, protocol=2).dump(obj)
    return out.getvalue()


SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


def legacy_file(state: Any, storages: list[Storage], *, magic: Any = MAGIC_NUMBER, tail: bytes = b"",
                counts: dict[str, int] | None = None, state_pickle: bytes | None = None) -> bytes:
    """torch.save(state, f, _use_new_zipfile_serialization=False), without torch."""
    parts = [dumps(magic), dumps(1001), dumps(SYS_INFO), state_pickle or dumps(state),
             dumps([s.key for s in storages])]
    for s in storages:
        parts.append(struct.pack("<q", (counts or {}).get(s.key, len(s.values))))
        parts.append(s.values.astype(s.values.dtype.newbyteorder("<")).tobytes())
    return b"".join(parts) + tail


def state_dict_file(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A legacy checkpoint of `arrays` (float32 or int64), one contiguous storage per tensor."""
    storages, state = [], OrderedDict()
    for i, (name, given) in enumerate(arrays.items()):
        array = np.array(given, order="C")  # (np.ascontiguousarray would make a 0-d counter 1-d)
        storage = Storage(str(i), array.ravel())
        strides = tuple(s // array.itemsize for s in array.strides)
        storages.append(storage)
        state[name] = Tensor(storage, 0, tuple(array.shape), strides)
    return legacy_file(state, storages)


def hostile_state_pickle(module: str, name: str, argument: str) -> bytes:
    """A state-dict pickle that calls module.name(argument): what `pickle.load` would run."""
    call = pickle.dumps(argument, protocol=2)[2:-1] + b"\x85R."  # the argument, TUPLE1, REDUCE
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + call
