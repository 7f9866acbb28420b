"""Image tensors: what people pass as a face crop (PIL, numpy, tensors) -> [N,3,R,R] in [-1, 1], resizing,
and the black that EG3D's renderer shows through empty space.

Shared by the inverter, training and evaluation (none of them owns these conventions).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ImageInput = Image.Image | np.ndarray | torch.Tensor | Sequence[Image.Image]

MAX_CROP_SIDE = 2048
"""Largest side of an aligned face crop the inverter accepts (crops are 512 px; 4x that is already plenty).

A crop is resized to the generator's resolution anyway, so a bigger one only costs
memory: a 12000x12000 crop took 5 GB to decode and resize."""

EMPTY_SPACE = -1.0
"""What an EG3D renderer shows where a ray hits nothing (without ``white_back``): composited colours
in [0, 1] are mapped to [-1, 1], so zero opacity is black. Synthetic ground truth gets this background,
so that image, opacity and depth supervision agree."""


def with_background(image: torch.Tensor, mask: torch.Tensor, level: float) -> torch.Tensor:
    """Images [B,3,H,W] with the background (``1 - mask`` [B,1,H,W]) replaced by the level ``level``."""
    return mask * image + (1 - mask) * level


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize images [N,C,H,W] to [N,C,size,size].

    Integer downscales use an average pool (what TriPlaneNet's ``face_pool`` /
    ``adaptive_avg_pool2d`` and an exact 2x bilinear resize both compute);
    anything else is antialiased bilinear.
    """
    height, width = x.shape[-2:]
    if (height, width) == (size, size):
        return x
    if height == width and height % size == 0:
        return F.adaptive_avg_pool2d(x, (size, size))
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _uint8_to_tensor(array: np.ndarray) -> torch.Tensor:
    """HxWx3 or NxHxWx3 uint8 -> [N,3,H,W] float32 in [-1, 1]."""
    if array.dtype != np.uint8:
        raise ValueError(f"numpy images must be uint8 (0..255) HxWx3, got dtype {array.dtype}; "
                         "pass float images as a torch tensor [N,3,H,W] in [-1, 1]")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"numpy images must be HxWx3 or NxHxWx3 (RGB), got shape {array.shape}")
    return torch.from_numpy(np.array(array)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _float_tensor(x: torch.Tensor) -> torch.Tensor:
    """[3,H,W] or [N,3,H,W] float in [-1, 1] -> [N,3,H,W] float32 (checked)."""
    if not x.is_floating_point():
        raise ValueError(f"image tensors must be float in [-1, 1], got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"image tensors must be [3,H,W] or [N,3,H,W] (RGB), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all() or x.abs().max() > 1.001:
        raise ValueError("image tensors must hold finite values in [-1, 1]")
    return x.float()


def as_images(image: ImageInput, size: int) -> torch.Tensor:
    """Aligned face crop(s) -> [N,3,size,size] float32 in [-1, 1].

    Accepts a PIL image, a list of them, an HxWx3 / NxHxWx3 uint8 array, or a
    float tensor [3,H,W] / [N,3,H,W] in [-1, 1]. Crops must be square, at most
    :data:`MAX_CROP_SIDE` px; other sizes than
    ``size`` are resized.
    """
    if isinstance(image, Image.Image):
        if max(image.size) > MAX_CROP_SIDE:
            raise ValueError(f"expected an aligned face crop of at most {MAX_CROP_SIDE} px, got "
                             f"{image.width}x{image.height} (align it with triplanenet.preprocess first)")
        x = _uint8_to_tensor(np.asarray(image.convert("RGB")))
    elif isinstance(image, (list, tuple)) and image and all(isinstance(i, Image.Image) for i in image):
        return torch.cat([as_images(i, size) for i in image])
    elif isinstance(image, np.ndarray):
        x = _uint8_to_tensor(image)
    elif isinstance(image, torch.Tensor):
        x = _float_tensor(image)
    else:
        raise ValueError(f"expected a PIL image, a uint8 numpy array or a float tensor, got {type(image).__name__}")
    if x.shape[0] == 0 or x.shape[-1] != x.shape[-2] or x.shape[-1] > MAX_CROP_SIDE:
        raise ValueError(f"expected square aligned face crops of at most {MAX_CROP_SIDE} px, got {x.shape[0]} "
                         f"image(s) of {x.shape[-2]}x{x.shape[-1]} (align them with triplanenet.preprocess first)")
    return resize_images(x, size)
