"""Loading generators from every kind of checkpoint people have, safely.

Checkpoints are untrusted input. A pickle can name any Python callable and
have it called while loading, so nothing here unpickles with arbitrary
globals:

* **Official network snapshots** (``ffhq512-128.pkl`` ...) are read by
  :class:`SnapshotUnpickler`. Every global the file names must be on an
  allow-list; classes become inert :class:`PickledObject` records (their
  ``__dict__`` kept as data, their embedded source code never executed), and
  the state dict is rebuilt from each record's ``_parameters``, ``_buffers``
  and ``_modules``. Anything else is refused with the offending name.
* **``.pth`` files** (TriPlaneNet's converted EG3D weights) go through
  ``torch.load(weights_only=True)``.
* **Our format** is safetensors + JSON (:mod:`triplanenet.pretrained`).
* **Hugging Face Hub ids** are downloaded with ``huggingface_hub`` (which
  honours ``HF_HUB_OFFLINE``) and then read as one of the above.
"""
from __future__ import annotations

import argparse
import collections
import io
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .models.generator import TriPlaneGenerator
from .pretrained import CONFIG_NAME, WEIGHTS_NAME, read_config


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says why and what to do."""


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


def _build(init_kwargs: Mapping, state_dict: Mapping[str, torch.Tensor], source: str,
           rendering_kwargs: Mapping | None = None, neural_rendering_resolution: int | None = None) -> TriPlaneGenerator:
    try:
        G = TriPlaneGenerator(**plain(init_kwargs))
    except (TypeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{source}: its generator arguments are not an EG3D TriPlaneGenerator's ({exc})") from exc
    missing, unexpected = G.state_dict().keys() - state_dict.keys(), state_dict.keys() - G.state_dict().keys()
    if missing or unexpected:
        raise CheckpointError(f"{source}: weights do not fit the architecture: missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}")
    try:
        G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weight shapes do not fit the architecture ({exc})") from exc
    if rendering_kwargs:
        G.rendering_kwargs = plain(rendering_kwargs)
    if neural_rendering_resolution:
        G.neural_rendering_resolution = int(neural_rendering_resolution)
    return G.eval().requires_grad_(False)


def generator_from_snapshot(snapshot: Mapping[str, Any], source: str = "snapshot") -> TriPlaneGenerator:
    """Build ``G_ema`` of an official snapshot (the EMA weights, the ones to sample from)."""
    g = snapshot.get("G_ema")
    if not isinstance(g, PickledObject):
        raise CheckpointError(f"{source} has no 'G_ema' generator (keys: {sorted(snapshot)})")
    if not g.class_name.endswith("TriPlaneGenerator"):
        raise CheckpointError(f"{source}: G_ema is a {g.class_name}, not an EG3D TriPlaneGenerator")
    return _build(g.state.get("_init_kwargs", {}), g.state_dict(), source,
                  g.state.get("rendering_kwargs"), g.state.get("neural_rendering_resolution"))


def generator_from_pth(path: str | Path) -> TriPlaneGenerator:
    """TriPlaneNet's converted EG3D weights: a dict with ``G_ema`` (state dict) and ``init_kwargs``."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"refused to load {path}: it contains objects beyond tensors and plain "
                              f"containers ({str(exc).splitlines()[0]})") from exc
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("G_ema"), Mapping):
        raise CheckpointError(f"{path} has no 'G_ema' state dict (expected TriPlaneNet's converted EG3D .pth)")
    if "init_kwargs" not in ckpt:
        raise CheckpointError(f"{path} has no 'init_kwargs'; cannot tell which EG3D architecture it is")
    init_kwargs = ckpt["init_kwargs"]
    return _build(init_kwargs, ckpt["G_ema"], str(path), ckpt.get("rendering_kwargs"),
                  ckpt.get("neural_rendering_resolution"))


HUB_ID = re.compile(r"^(hf://)?(?P<repo>[\w.-]+/[\w.-]+)(/(?P<file>.+))?$")


def resolve(source: str | os.PathLike) -> Path:
    """A local path for ``source``: an existing file/folder, or a Hub id downloaded (or found in the cache).

    Hub ids: ``owner/repo`` (our format: ``config.json`` + ``model.safetensors``)
    or ``owner/repo/file.pkl``, optionally prefixed ``hf://``.
    """
    path = Path(source).expanduser()
    if path.exists():
        return path
    match = HUB_ID.match(str(source))
    if not match or str(source).startswith((".", "/", "~")):
        raise CheckpointError(f"checkpoint not found: {source} (not a file, folder or Hugging Face Hub id)")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo, filename = match["repo"], match["file"]
    try:
        if filename:
            return Path(hf_hub_download(repo, filename))
        hf_hub_download(repo, CONFIG_NAME)
        return Path(hf_hub_download(repo, WEIGHTS_NAME)).parent
    except LocalEntryNotFoundError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        hint = ("HF_HUB_OFFLINE is set and it is not in the local cache: run once with network access, "
                "or download the file and pass its path" if offline else "check the network connection")
        raise CheckpointError(f"cannot fetch '{source}' from the Hugging Face Hub: {hint}") from exc
    except HfHubHTTPError as exc:
        raise CheckpointError(f"cannot fetch '{source}' from the Hugging Face Hub: {exc}") from exc


def load_generator(source: str | os.PathLike, device: str | torch.device = "cpu") -> TriPlaneGenerator:
    """Load an EG3D generator from any supported checkpoint, in eval mode.

    ``source``: an official network pickle (``.pkl``), TriPlaneNet's converted
    ``.pth``, a folder written by ``G.save_pretrained``, or a Hub id (see
    :func:`resolve`).
    """
    path = resolve(source)
    if path.is_dir():
        if not (path / CONFIG_NAME).exists():
            raise CheckpointError(f"{path} is a folder without {CONFIG_NAME} (expected G.save_pretrained output)")
        if read_config(path).get("class") != TriPlaneGenerator.__name__:
            raise CheckpointError(f"{path} does not hold a TriPlaneGenerator")
        return TriPlaneGenerator.from_pretrained(path, device)
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        G = generator_from_pth(path)
    elif head[:1] == b"\x80":
        G = generator_from_snapshot(read_network_pickle(path), str(path))
    else:
        raise CheckpointError(f"{path} is neither a network pickle, a torch checkpoint nor a pretrained folder")
    return G.to(device)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .pkl, .pth, pretrained folder or Hub id")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    try:
        G = load_generator(args.checkpoint)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({
        "class": type(G).__name__,
        "parameters": sum(p.numel() for p in G.parameters()),
        "num_ws": G.num_ws,
        "img_resolution": G.img_resolution,
        "neural_rendering_resolution": G.neural_rendering_resolution,
        "superresolution": G.rendering_kwargs.get("superresolution_module"),
        "depth_samples": [G.rendering_kwargs.get("depth_resolution"), G.rendering_kwargs.get("depth_resolution_importance")],
    }, indent=2))
    return 0
