"""Reading official EG3D network snapshots (``ffhq512-128.pkl`` ...) without running anything in them.

A pickle can name any Python callable and have it called while loading, so
:class:`SnapshotUnpickler` allows only the globals a snapshot needs. Every
global the file names must be on an allow-list; classes become inert
:class:`PickledObject` records (their ``__dict__`` kept as data, their embedded
source code never executed), and the state dict is rebuilt from each record's
``_parameters``, ``_buffers`` and ``_modules``. Anything else is refused with
the offending name.
"""
from __future__ import annotations

import collections
import io
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .files import CheckpointError


class PickledObject:
    """An inert record of a pickled object: its class name and its ``__dict__``.

    Stands in for ``torch.nn.Module`` subclasses (persistent EG3D classes and
    plain torch containers alike), which are never imported or instantiated.
    """

    class_name = "object"

    def __new__(cls, *args: Any, **kwargs: Any) -> "PickledObject":
        obj = super().__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, class_name: str | None = None, state: dict | None = None):
        if class_name is not None:
            self.class_name = class_name
        self.state = state or {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"_state": state}

    def __repr__(self) -> str:
        return f"<pickled {self.class_name}>"

    def state_dict(self, prefix: str = "") -> "collections.OrderedDict[str, torch.Tensor]":
        """The state dict ``torch.nn.Module.state_dict()`` would have returned, in the same order."""
        out: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
        for name, param in self.state.get("_parameters", {}).items():
            if param is not None:
                out[prefix + name] = param.detach()
        skipped = self.state.get("_non_persistent_buffers_set", set())
        for name, buf in self.state.get("_buffers", {}).items():
            if buf is not None and name not in skipped:
                out[prefix + name] = buf.detach()
        for name, child in self.state.get("_modules", {}).items():
            if isinstance(child, PickledObject):
                out.update(child.state_dict(f"{prefix}{name}."))
        return out


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict (attribute access is not needed here)."""


def _stand_in_class(module: str, name: str) -> type[PickledObject]:
    return type(name, (PickledObject,), {"class_name": f"{module}.{name}"})


def _reconstruct_persistent_obj(meta: dict) -> PickledObject:
    """EG3D's persistence wrapper: ``meta['state']`` is the object's ``__dict__``; its source is ignored."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("unsupported persistent object in network snapshot")
    return PickledObject(meta.get("class_name", "?"), meta.get("state"))


def _load_storage_bytes(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=True)


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if dtype.hasobject or data is None:
        raise CheckpointError("refused a numpy object scalar in the snapshot")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


_TORCH_DTYPES = {name: getattr(torch, name) for name in (
    "float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool")}

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch", "device"): torch.device,
    **{("torch", name): dtype for name, dtype in _TORCH_DTYPES.items()},
}

# Module classes are replaced by inert records, whatever they are.
STAND_IN_MODULES = re.compile(r"^(training(\.[\w]+)*|torch\.nn\.modules\.[\w]+)$")


class SnapshotUnpickler(pickle.Unpickler):
    """Reads official network pickles without executing anything they contain."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        if STAND_IN_MODULES.match(module) and name.isidentifier() and name[0].isupper():
            return _stand_in_class(module, name)
        raise CheckpointError(
            f"refused to load: the file references '{module}.{name}', which a network snapshot "
            "never needs (it could run code). Only use checkpoints from sources you trust; if this "
            "is a genuine EG3D snapshot, please report the name.")


def read_network_pickle(path: str | Path) -> dict[str, Any]:
    """The snapshot dict of an official ``.pkl`` (``G``, ``D``, ``G_ema`` as :class:`PickledObject`)."""
    with open(path, "rb") as f:
        try:
            data = SnapshotUnpickler(f).load()
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(f"{path} is not a readable network pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a network snapshot dict")
    return data


def plain(value: Any) -> Any:
    """Recursively turn EasyDicts, OrderedDicts, tuples and numpy scalars into JSON-able Python values."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
