"""Depth maps: the raw ``.npy`` and a readable colour-mapped image with a legend.

Inputs are the renderer's depth image [H,W] (world units along the ray; EG3D's
ray marcher clamps rays that hit nothing to the far bound) and its accumulated
opacity [H,W] (the sum of the ray weights, about 1 where the ray hit the head).
Either may be a numpy array or a torch tensor of any shape that squeezes to
[H,W] (e.g. the renderer's [1,1,H,W]). A pixel is a **hit** when its opacity is
above ``threshold``; other pixels are masked (NaN in :func:`masked_depth`,
background colour in the images).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

# Colour ramp from near (light) to far (dark), linearly interpolated in sRGB.
RAMP = np.array([(255, 246, 200), (250, 186, 70), (224, 94, 64), (140, 44, 110), (42, 22, 84)], np.float64)


def as_image(array) -> np.ndarray:
    """A numpy float32 [H,W] from an array or tensor that squeezes to two dimensions."""
    if hasattr(array, "detach"):
        array = array.detach().float().cpu().numpy()
    array = np.asarray(array, np.float32)
    array = array.reshape(array.shape[-2:]) if array.ndim > 2 else array
    if array.ndim != 2:
        raise ValueError(f"expected a [H,W] image, got shape {array.shape}")
    return array


def hit_mask(opacity, threshold: float = 0.5) -> np.ndarray:
    """Pixels [H,W] bool whose accumulated opacity exceeds ``threshold``."""
    return as_image(opacity) > threshold


def masked_depth(depth, opacity=None, threshold: float = 0.5) -> np.ndarray:
    """Depth [H,W] float32 with NaN where the ray hit nothing (all kept if ``opacity`` is None)."""
    values = as_image(depth).copy()
    if opacity is not None:
        values[~hit_mask(opacity, threshold)] = np.nan
    return values


def save_depth(path: str | Path, depth) -> Path:
    """Write the raw depth [H,W] float32 (world units along the ray, unmasked) as ``.npy``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, as_image(depth))
    return path


def depth_range(depth, opacity=None, threshold: float = 0.5) -> tuple[float, float]:
    """(near, far): the smallest and largest depth over hit pixels ((0, 1) if none)."""
    values = masked_depth(depth, opacity, threshold)
    if not np.isfinite(values).any():
        return 0.0, 1.0
    return float(np.nanmin(values)), float(np.nanmax(values))


def colorize(values: np.ndarray, near: float, far: float) -> np.ndarray:
    """Map depth values [...] to RGB uint8 [...,3] on :data:`RAMP` (near light, far dark); NaN -> black."""
    t = np.clip((values - near) / max(far - near, 1e-12), 0.0, 1.0)
    t = np.nan_to_num(t, nan=1.0) * (len(RAMP) - 1)
    low = np.minimum(t.astype(np.int64), len(RAMP) - 2)
    frac = (t - low)[..., None]
    return np.round(RAMP[low] * (1 - frac) + RAMP[low + 1] * frac).astype(np.uint8)


def colorize_depth(depth, opacity=None, *, threshold: float = 0.5, near: float | None = None,
                   far: float | None = None, background: tuple[int, int, int] = (255, 255, 255)
                   ) -> tuple[np.ndarray, tuple[float, float]]:
    """The colour-mapped depth [H,W,3] uint8 and its range ``(near, far)``.

    The range defaults to :func:`depth_range` over hit pixels; masked pixels get ``background``.
    """
    values = masked_depth(depth, opacity, threshold)
    auto_near, auto_far = depth_range(depth, opacity, threshold)
    near = auto_near if near is None else near
    far = auto_far if far is None else far
    rgb = colorize(values, near, far)
    rgb[np.isnan(values)] = background
    return rgb, (near, far)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def depth_image(depth, opacity=None, *, threshold: float = 0.5, near: float | None = None,
                far: float | None = None, background: tuple[int, int, int] = (255, 255, 255),
                min_height: int = 256) -> Image.Image:
    """A PIL RGB image: the colour-mapped depth with a colour bar and its range as text.

    The depth is enlarged (nearest neighbour) to at least ``min_height`` rows so the
    legend stays readable for the renderer's 128-pixel depth. The bar on the right
    runs from ``near`` (top) to ``far`` (bottom), labelled in world units.
    """
    rgb, (near, far) = colorize_depth(depth, opacity, threshold=threshold, near=near, far=far,
                                      background=background)
    scale = max(1, -(-min_height // rgb.shape[0]))
    picture = Image.fromarray(rgb).resize((rgb.shape[1] * scale, rgb.shape[0] * scale), Image.NEAREST)
    height = picture.height
    font_size = max(10, height // 22)
    font = _font(font_size)
    bar_width, margin = max(12, height // 20), font_size
    panel = bar_width + 7 * font_size
    canvas = Image.new("RGB", (picture.width + panel, height), background)
    canvas.paste(picture, (0, 0))
    top, bottom = 2 * font_size, height - 2 * font_size
    bar = colorize(np.linspace(near, far, bottom - top)[:, None].repeat(bar_width, 1), near, far)
    x0 = picture.width + margin // 2
    canvas.paste(Image.fromarray(bar), (x0, top))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([x0, top, x0 + bar_width - 1, bottom - 1], outline=(0, 0, 0))
    text_x = x0 + bar_width + 4
    draw.text((x0, 2), "depth", fill=(0, 0, 0), font=font)
    draw.text((text_x, top), f"{near:.3f}", fill=(0, 0, 0), font=font)
    draw.text((text_x, bottom - font_size), f"{far:.3f}", fill=(0, 0, 0), font=font)
    draw.text((x0, height - font_size - 2), "world units", fill=(0, 0, 0), font=font)
    return canvas


def save_depth_image(path: str | Path, depth, opacity=None, **kwargs) -> Path:
    """Write :func:`depth_image` (PNG or any format PIL infers from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    depth_image(depth, opacity, **kwargs).save(path)
    return path


def depth_at_crop(depth: np.ndarray, opacity: np.ndarray, size: int) -> tuple[np.ndarray, Image.Image]:
    """Depth at the photo's camera on the crop's pixel grid, and its colour-mapped picture.

    ``depth`` and ``opacity`` [r,r] are a render at the photo's camera. Returns the raw
    depth (world units along each ray; rays that miss the head stop at the far bound)
    resampled bilinearly to [size,size] float32, and the picture of the r x r depth
    with its legend.
    """
    resampled = F.interpolate(torch.from_numpy(depth)[None, None], size=(size, size), mode="bilinear",
                              align_corners=False)[0, 0]
    return resampled.numpy(), depth_image(depth, opacity)
