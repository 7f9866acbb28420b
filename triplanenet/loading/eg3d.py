"""EG3D generators from every kind of checkpoint people have: :func:`load_generator`.

* **Official network snapshots** (``.pkl``): :mod:`triplanenet.loading.snapshot`.
* **``.pth`` files** (TriPlaneNet's converted EG3D weights: ``G_ema`` state dict
  + ``init_kwargs``): :func:`~triplanenet.loading.files.read_torch`, weights only.
* **Our format** (safetensors + JSON, :mod:`triplanenet.pretrained`): a folder.
* **Hugging Face Hub ids**: downloaded, then read as one of the above.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..models.generator import TriPlaneGenerator
from .files import PICKLE, TORCH_LEGACY, TORCH_ZIP, CheckpointError, file_kind, load_folder, read_torch, resolve
from .snapshot import PickledObject, plain, read_network_pickle

FOLDER_HINTS = {"TriPlaneNet": "an inverter: use triplanenet.load_inverter"}


def build_generator(init_kwargs: Mapping, state_dict: Mapping[str, torch.Tensor], source: str,
                    rendering_kwargs: Mapping | None = None,
                    neural_rendering_resolution: int | None = None) -> TriPlaneGenerator:
    """A :class:`TriPlaneGenerator` from its constructor arguments and weights (cast to float32), in eval mode."""
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


def generator_from_snapshot(snapshot: Mapping, source: str = "snapshot") -> TriPlaneGenerator:
    """Build ``G_ema`` of an official snapshot (the EMA weights, the ones to sample from)."""
    g = snapshot.get("G_ema")
    if not isinstance(g, PickledObject):
        raise CheckpointError(f"{source} has no 'G_ema' generator (keys: {sorted(snapshot)})")
    if not g.class_name.endswith("TriPlaneGenerator"):
        raise CheckpointError(f"{source}: G_ema is a {g.class_name}, not an EG3D TriPlaneGenerator")
    return build_generator(g.state.get("_init_kwargs", {}), g.state_dict(), source,
                           g.state.get("rendering_kwargs"), g.state.get("neural_rendering_resolution"))


def generator_from_pth(path: Path) -> TriPlaneGenerator:
    """TriPlaneNet's converted EG3D weights: a dict with ``G_ema`` (state dict) and ``init_kwargs``."""
    ckpt = read_torch(path)
    if not isinstance(ckpt.get("G_ema"), Mapping):
        raise CheckpointError(f"{path} has no 'G_ema' state dict (expected TriPlaneNet's converted EG3D .pth)")
    if "init_kwargs" not in ckpt:
        raise CheckpointError(f"{path} has no 'init_kwargs'; cannot tell which EG3D architecture it is")
    return build_generator(ckpt["init_kwargs"], ckpt["G_ema"], str(path), ckpt.get("rendering_kwargs"),
                           ckpt.get("neural_rendering_resolution"))


def load_generator(source: str | os.PathLike, device: str | torch.device = "cpu") -> TriPlaneGenerator:
    """Load an EG3D generator from any supported checkpoint, in eval mode.

    ``source``: an official network pickle (``.pkl``), TriPlaneNet's converted
    ``.pth``, a folder written by ``G.save_pretrained``, or a Hub id (see
    :func:`~triplanenet.loading.files.resolve`).
    """
    path = resolve(source)
    if path.is_dir():
        return load_folder(path, TriPlaneGenerator, device, FOLDER_HINTS)
    kind = file_kind(path)
    if kind == TORCH_ZIP:
        G = generator_from_pth(path)
    elif kind in (PICKLE, TORCH_LEGACY):
        G = generator_from_snapshot(read_network_pickle(path), str(path))
    else:
        raise CheckpointError(f"{path} is neither a network pickle, a torch checkpoint nor a pretrained folder")
    return G.to(device)
