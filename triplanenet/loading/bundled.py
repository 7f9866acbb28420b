"""The bundled offline model: a small EG3D trained on procedural heads, and TriPlaneNet v1/v2 trained on it.

It lives in ``assets/bundled/`` (float16 safetensors, cast to float32 on load):

* ``config.json`` + ``model.safetensors``: the v2 inverter (generator, pSp encoder,
  v2 tri-plane network), a normal :meth:`TriPlaneNet.save_pretrained` folder;
* ``v1_encoder.safetensors``: the v1 tri-plane network trained on the same
  generator and pSp encoder (only its own weights, to keep the assets small);
* ``head_params.json``: the normalisation that turns a synthetic head's
  parameters into the generator's z (see :mod:`triplanenet.training.generator_trainer`);
* ``edit_directions.safetensors``: the generator's edit directions (:mod:`triplanenet.editing`).

``load_bundled(version)`` assembles either inverter; the app and the command line
use it when no other checkpoint is configured. The model knows synthetic heads,
not photographs: real photos invert to its closest synthetic head.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..models.triplanenet import TriPlaneNet
from ..pretrained import read_config, save_tensors
from .files import CheckpointError

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "assets" / "bundled"
V1_ENCODER_NAME = "v1_encoder.safetensors"
ENCODER_PREFIX = "triplanenet_encoder."
SUPERRESOLUTION_PREFIX = "decoder.superresolution."
NAMES = {"bundled": 2, "bundled-v2": 2, "bundled-v1": 1}
"""Names that :func:`~triplanenet.load_inverter` accepts for the bundled model (and its version)."""
CHECKPOINT_ENV = "TRIPLANENET_CHECKPOINT"
"""Environment variable naming the inverter the app and the command line use by default."""


def default_checkpoint() -> str:
    """``$TRIPLANENET_CHECKPOINT`` when set (a path, a Hub id or a bundled name), else ``'bundled'``."""
    return os.environ.get(CHECKPOINT_ENV) or "bundled"


def available(directory: str | os.PathLike = BUNDLED_DIR) -> bool:
    """Whether the bundled weights are present."""
    return (Path(directory) / "model.safetensors").is_file()


def load_bundled(version: int = 2, device: str | torch.device = "cpu",
                 directory: str | os.PathLike = BUNDLED_DIR) -> TriPlaneNet:
    """The bundled v2 (default) or v1 inverter, in eval mode, float32."""
    if version not in (1, 2):
        raise ValueError(f"the bundled model has TriPlaneNet versions 1 and 2, not {version!r}")
    return load_versions(device, directory)[version]


def load_versions(device: str | torch.device = "cpu",
                  directory: str | os.PathLike = BUNDLED_DIR) -> dict[int, TriPlaneNet]:
    """Both bundled inverters by version, read once: v1 shares v2's generator and pSp encoder modules."""
    directory = Path(directory)
    if not available(directory):
        raise CheckpointError(f"the bundled model is missing from {directory} (a broken checkout? "
                              "git lfs is not needed: the files are plain git objects)")
    v2 = TriPlaneNet.from_pretrained(directory, device)
    v1 = TriPlaneNet.from_config({**v2.get_config(), "version": 1, "use_pixelshuffle": False})
    v1.decoder, v1.psp_encoder = v2.decoder, v2.psp_encoder
    v1.triplanenet_encoder.load_state_dict(load_file(str(directory / V1_ENCODER_NAME)), strict=True)
    return {2: v2, 1: v1.to(device).eval()}


def save_bundled(v2: TriPlaneNet, v1: TriPlaneNet, directory: str | os.PathLike,
                 head_params: str | os.PathLike | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write the bundled folder from trained v2 and v1 inverters that share generator and pSp encoder.

    The generator's super-resolution may differ (``train-encoder --stage 3`` polishes v2's); both versions
    then use v2's.
    """
    if v2.version != 2 or v1.version != 1:
        raise ValueError("save_bundled takes a v2 and a v1 inverter, in that order")
    shared = v1.state_dict()
    for key, value in v2.state_dict().items():
        if key.startswith((ENCODER_PREFIX, SUPERRESOLUTION_PREFIX)):
            continue
        if not torch.equal(value, shared[key]):
            raise ValueError(f"the v1 and v2 inverters differ outside the tri-plane branch ({key}); train both "
                             "from the same pSp stage (train-encoder --init)")
    directory = v2.save_pretrained(directory, dtype=dtype)
    save_tensors(v1.triplanenet_encoder.state_dict(), directory / V1_ENCODER_NAME, dtype)
    if head_params is not None:
        shutil.copy(head_params, directory / "head_params.json")
    return directory


def describe(directory: str | os.PathLike = BUNDLED_DIR) -> str:
    """One line for people: what the bundled model is and how large."""
    config = read_config(directory)
    generator = config["generator"]["init_kwargs"]
    return (f"bundled offline model: EG3D-style generator ({generator['img_resolution']} px images, "
            f"{config['generator']['neural_rendering_resolution']} px neural rendering) trained on procedural "
            "synthetic heads, with TriPlaneNet v1/v2 encoders; it has never seen a photograph")
