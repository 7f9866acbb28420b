"""Loading TriPlaneNet inverters: :func:`load_inverter`.

Published ``.pth`` files hold no architecture, so it is read from the weights'
shapes (cross-checked with the saved training options); saved folders and the
bundled model carry their own.
"""
from __future__ import annotations

import argparse
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..models.encoders import detect_use_pixelshuffle
from ..models.triplanenet import LoadReport, TriPlaneNet
from .bundled import NAMES, load_bundled
from .files import PICKLE, TORCH_LEGACY, TORCH_ZIP, CheckpointError, file_kind, load_folder, read_torch, resolve

ENCODER_INPUT_KEY = "triplanenet_encoder.input_layer.0.weight"
VERSION_BY_INPUT_CHANNELS = {6: 1, 9: 2}
STYLE_HEAD = re.compile(r"^psp_encoder\.styles\.(\d+)\.linear\.weight$")
DEPTH_KEYS = ("depth_resolution", "depth_resolution_importance")
FOLDER_HINTS = {"TriPlaneGenerator": "a generator: use triplanenet.load_generator"}


def load_inverter(source: str | os.PathLike, device: str | torch.device = "cpu", *,
                  double_depth_samples: bool = True, config: Mapping | None = None) -> TriPlaneNet:
    """Load a TriPlaneNet inverter, in eval mode.

    ``source``: a published checkpoint (``triplanenet_final.pth`` for v1,
    ``triplanenet_v2_final.pth`` for v2: ``{'state_dict', 'opts', ...}``), a folder
    written by ``save_pretrained``, or a Hugging Face Hub id (``owner/repo`` for
    our format, ``owner/repo/file.pth``). ``.pth`` files are read with
    ``torch.load(weights_only=True)``, allowing only ``argparse.Namespace``
    besides tensors and plain containers; anything else is refused with
    :class:`~triplanenet.loading.CheckpointError`.

    For ``.pth`` files: the version and v2 variant come from the weights' shapes
    (cross-checked with ``opts``); the generator architecture is FFHQ-512 (the
    files store none) unless ``config`` gives other sizes (keys ``generator``,
    ``psp_kwargs``, ``triplane_kwargs`` as in :meth:`TriPlaneNet.get_config`).
    ``double_depth_samples`` (default True, as the official inference scripts do)
    renders with twice the trained samples per ray (FFHQ: 96 + 96 instead of
    48 + 48): sharper geometry, about twice the rendering time. v1 loads
    strictly; v2, like the official loader, tolerates missing or unexpected
    keys, which are listed in a warning and in ``load_report``.
    A saved folder keeps the depth samples it was saved with. ``'bundled'``
    (or ``'bundled-v1'``) is the offline model in ``assets/`` (:mod:`triplanenet.loading.bundled`).
    """
    if str(source) in NAMES:
        return load_bundled(NAMES[str(source)], device)
    path = resolve(source)
    if path.is_dir():
        return load_folder(path, TriPlaneNet, device, FOLDER_HINTS)
    model = _from_pth(path, config)
    if double_depth_samples:
        for key in DEPTH_KEYS:
            model.decoder.rendering_kwargs[key] = 2 * model.decoder.rendering_kwargs[key]
    return model.to(device).eval()


def _read_pth(path: Path) -> Mapping[str, Any]:
    """A published checkpoint's dict: torch files only (an EG3D snapshot is pointed to ``load_generator``)."""
    kind = file_kind(path)
    if kind not in (TORCH_ZIP, TORCH_LEGACY):
        hint = " (an EG3D network pickle? use triplanenet.load_generator)" if kind == PICKLE else ""
        raise CheckpointError(f"{path} is not a torch checkpoint (.pth){hint}")
    return read_torch(path, allowed=(argparse.Namespace,))


def _options(ckpt: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The training options saved with a checkpoint (a dict or an ``argparse.Namespace``)."""
    opts = ckpt.get("opts", {})
    if isinstance(opts, argparse.Namespace):
        opts = vars(opts)
    if not isinstance(opts, Mapping):
        raise CheckpointError(f"{path}: 'opts' is a {type(opts).__name__}, expected a dict or Namespace")
    return dict(opts)


def _architecture(state_dict: Mapping[str, torch.Tensor], opts: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``version``, ``use_pixelshuffle`` and ``n_styles`` read from the weights' shapes."""
    if not isinstance(state_dict, Mapping) or ENCODER_INPUT_KEY not in state_dict:
        is_eg3d = isinstance(state_dict, Mapping) and "G_ema" in state_dict
        hint = " (an EG3D generator: use triplanenet.load_generator)" if is_eg3d else ""
        raise CheckpointError(f"{path} has no TriPlaneNet 'state_dict' with '{ENCODER_INPUT_KEY}'{hint}")
    shape = tuple(getattr(state_dict[ENCODER_INPUT_KEY], "shape", ()))
    if len(shape) != 4 or shape[1] not in VERSION_BY_INPUT_CHANNELS:
        raise CheckpointError(f"{path}: '{ENCODER_INPUT_KEY}' has shape {shape}; the tri-plane encoder "
                              "of TriPlaneNet v1 takes 6 channels and v2 takes 9")
    version = VERSION_BY_INPUT_CHANNELS[shape[1]]
    use_pixelshuffle = True if version == 1 else _v2_variant(state_dict, opts, path)
    n_styles = sum(1 for key in state_dict if STYLE_HEAD.match(key))
    return {"version": version, "use_pixelshuffle": use_pixelshuffle, "n_styles": n_styles}


def _v2_variant(state_dict: Mapping[str, torch.Tensor], opts: Mapping[str, Any], path: Path) -> bool:
    """``use_pixelshuffle`` of a v2 checkpoint, from its weights; a warning says when ``opts`` disagree."""
    try:
        use_pixelshuffle = detect_use_pixelshuffle(state_dict)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a TriPlaneNet v2 tri-plane encoder ({exc})") from exc
    if "use_pixelshuffle" in opts and bool(opts["use_pixelshuffle"]) != use_pixelshuffle:
        warnings.warn(f"{path}: opts say use_pixelshuffle={opts['use_pixelshuffle']} but the weights are "
                      f"the use_pixelshuffle={use_pixelshuffle} variant; using the weights' variant")
    return use_pixelshuffle


def _from_pth(path: Path, config: Mapping | None) -> TriPlaneNet:
    ckpt = _read_pth(path)
    state_dict = ckpt.get("state_dict", ckpt)
    arch = _architecture(state_dict, _options(ckpt, path), path)
    sizes = {key: value for key, value in (config or {}).items()
             if key in ("generator", "psp_kwargs", "triplane_kwargs")}
    try:
        model = TriPlaneNet(**arch, **sizes)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot build the TriPlaneNet it describes ({exc})") from exc
    _load_weights(model, state_dict, strict=arch["version"] == 1, source=str(path))
    return model


def _load_weights(model: TriPlaneNet, state_dict: Mapping[str, torch.Tensor], strict: bool, source: str) -> None:
    """Copy ``state_dict`` in; v1 (``strict``) refuses missing/unexpected keys, v2 warns about them."""
    try:
        report = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weight shapes do not fit the architecture ({exc})") from exc
    if report.missing_keys or report.unexpected_keys:
        message = (f"{source}: {len(report.missing_keys)} missing keys {report.missing_keys[:5]} (left at their "
                   f"initial values), {len(report.unexpected_keys)} unexpected keys {report.unexpected_keys[:5]} "
                   "(ignored)")
        if strict:
            raise CheckpointError(message)
        warnings.warn(message)
    model.load_report = LoadReport(list(report.missing_keys), list(report.unexpected_keys))
