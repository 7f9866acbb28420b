"""The EG3D crop: five points -> least-squares fit -> square box -> 512x512 image.

EG3D's FFHQ pipeline (``crop_images_in_the_wild.py`` calling Deep3DFaceRecon's
``align_img``) fits an affine camera to five facial points against the mean 3D
face, rescales the whole photo so that the face measures 300 px per template
unit on a 1024 canvas centred on the projected template origin, keeps the
centred 700x700 window and resizes it to 512. We reproduce that arithmetic
exactly (including its integer truncations) to find the square box in the
original photo, then render the box straight from the photo in one resampling
step, which gives the same pixels without ever building the (possibly huge)
intermediate canvas.

Unlike EG3D, which leaves black where the box runs past the photo, we fill those
pixels FFHQ-style (mirror the photo, blur it and fade it toward its median colour
with distance), so the generator is not asked to explain a black bar.
:class:`CropTransform` keeps the box so results can be mapped and pasted back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

from .template import FIVE_POINTS_3D

OUTPUT_SIZE = 512
TARGET_SIZE = 1024
RESCALE_FACTOR = 300.0
CENTER_CROP_SIZE = 700

Fill = Literal["reflect", "black"]


@dataclass(frozen=True)
class FivePointFit:
    """Result of the least-squares affine fit of five image points to the 3D template.

    ``scale`` is in photo pixels per template unit, ``(tx, ty_up)`` is where the
    template origin projects, in pixels with y measured upward from the bottom
    row (``y_up = H - 1 - y``), as EG3D's cropper uses them.
    """

    scale: float
    tx: float
    ty_up: float


def fit_five_points(points: np.ndarray, image_height: int) -> FivePointFit:
    """Fit ``x = a.X + tx``, ``y_up = b.X + ty`` over the five points (pixels, y down) by least squares.

    This is Deep3DFaceRecon's ``POS`` step: eight unknowns, ten equations, and
    the scale is the mean norm of the two rows ``(|a| + |b|) / 2``.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(5, 2)
    x = pts[:, 0]
    y_up = image_height - 1 - pts[:, 1]
    system = np.zeros((10, 8))
    system[0::2, 0:3] = FIVE_POINTS_3D
    system[0::2, 3] = 1.0
    system[1::2, 4:7] = FIVE_POINTS_3D
    system[1::2, 7] = 1.0
    rhs = np.empty(10)
    rhs[0::2] = x
    rhs[1::2] = y_up
    solution, *_ = np.linalg.lstsq(system, rhs, rcond=None)
    scale = (np.linalg.norm(solution[0:3]) + np.linalg.norm(solution[4:7])) / 2
    return FivePointFit(scale=float(scale), tx=float(solution[3]), ty_up=float(solution[7]))


def canvas_window(fit: FivePointFit, width: int, height: int, rescale_factor: float,
                  target_size: int) -> tuple[int, int, int, int]:
    """EG3D's resize-and-window arithmetic: ``(w, h, left, up)`` of the rescaled canvas.

    The photo is resized to ``w x h`` (so that the face measures
    ``rescale_factor`` pixels per template unit) and the ``target_size`` square
    window at ``(left, up)`` is cut from it. Python's ``int`` truncates toward zero
    exactly like the reference's.
    """
    k = rescale_factor / fit.scale
    w = int(width * k)
    h = int(height * k)
    left = int(w / 2 - target_size / 2 + (fit.tx - width / 2) * k)
    up = int(h / 2 - target_size / 2 + (height / 2 - fit.ty_up) * k)
    return w, h, left, up


def eg3d_box(fit: FivePointFit, width: int, height: int) -> tuple[float, float, float, float]:
    """The EG3D crop as a box ``(x0, y0, x1, y1)`` in photo pixel edges (x right, y down).

    The centred 700x700 window of the 1024 canvas, mapped back through the
    canvas resize: about ``(7/3) * scale`` pixels square, centred on the
    projected template origin.
    """
    if not (fit.scale > 0 and math.isfinite(fit.scale)):
        raise ValueError(f"degenerate five-point fit (scale {fit.scale})")
    w, h, left, up = canvas_window(fit, width, height, RESCALE_FACTOR, TARGET_SIZE)
    offset = int(TARGET_SIZE / 2 - CENTER_CROP_SIZE / 2)
    sx, sy = width / w, height / h
    x0 = (left + offset) * sx
    y0 = (up + offset) * sy
    return (x0, y0, x0 + CENTER_CROP_SIZE * sx, y0 + CENTER_CROP_SIZE * sy)


@dataclass(frozen=True)
class CropTransform:
    """Maps between photo pixels and crop pixels, and pastes a crop back into the photo.

    ``box`` is ``(x0, y0, x1, y1)`` in the photo's pixel-edge coordinates (it may
    extend past the photo); the crop is ``size x size``. Points use pixel-centre
    coordinates in both images (pixel ``i`` has its centre at ``i``), as the
    landmark detectors report them.
    """

    box: tuple[float, float, float, float]
    size: int = OUTPUT_SIZE

    @property
    def pixels_per_photo_pixel(self) -> tuple[float, float]:
        """Crop pixels per photo pixel along x and y."""
        x0, y0, x1, y1 = self.box
        return self.size / (x1 - x0), self.size / (y1 - y0)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo points [N,2] -> crop points [N,2]."""
        pts = np.asarray(points, dtype=np.float64)
        fx, fy = self.pixels_per_photo_pixel
        origin = np.array(self.box[:2])
        return (pts + 0.5 - origin) * np.array([fx, fy]) - 0.5

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop points [N,2] -> photo points [N,2]."""
        pts = np.asarray(points, dtype=np.float64)
        fx, fy = self.pixels_per_photo_pixel
        origin = np.array(self.box[:2])
        return (pts + 0.5) / np.array([fx, fy]) + origin - 0.5

    def paste(self, crop: Image.Image, photo: Image.Image, feather: float = 0.04) -> Image.Image:
        """A copy of ``photo`` with ``crop`` (e.g. a re-rendered face) resized into the box.

        ``feather`` is the width of a soft edge as a fraction of the box side, so
        the seam does not show; 0 pastes a hard square. Parts of the box outside
        the photo are dropped.
        """
        x0, y0, x1, y1 = self.box
        left, top = round(x0), round(y0)
        width, height = max(1, round(x1 - x0)), max(1, round(y1 - y0))
        patch = crop.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        mask = Image.new("L", (width, height), 255)
        edge = int(round(feather * min(width, height)))
        if edge > 0:
            mask = Image.new("L", (width, height), 0)
            mask.paste(255, (edge, edge, max(edge + 1, width - edge), max(edge + 1, height - edge)))
            mask = mask.filter(ImageFilter.GaussianBlur(edge / 2))
        result = photo.convert("RGB").copy()
        result.paste(patch, (left, top), mask)
        return result


def render_crop(photo: Image.Image, box: tuple[float, float, float, float], size: int = OUTPUT_SIZE,
                fill: Fill = "reflect") -> Image.Image:
    """Resample ``box`` of ``photo`` to a ``size x size`` RGB image (Lanczos, antialiased).

    Parts of the box outside the photo are filled by ``fill``: ``"reflect"``
    (FFHQ-style mirrored, blurred, fading to the median colour) or ``"black"``
    (what EG3D's own cropper leaves). Very large boxes are first reduced to about
    twice the output size, so the cost does not grow with the photo.
    """
    x0, y0, x1, y1 = box
    region = (max(0, math.floor(x0) - 1), max(0, math.floor(y0) - 1),
              min(photo.width, math.ceil(x1) + 1), min(photo.height, math.ceil(y1) + 1))
    if region[2] <= region[0] or region[3] <= region[1]:
        raise ValueError(f"crop box {box} does not overlap the {photo.width}x{photo.height} photo")
    sub = photo.crop(region)
    shrink = (x1 - x0) / (2 * size)
    sx = sy = 1.0
    if shrink > 1:
        reduced = (max(1, round(sub.width / shrink)), max(1, round(sub.height / shrink)))
        sx, sy = reduced[0] / sub.width, reduced[1] / sub.height
        sub = sub.resize(reduced, Image.Resampling.LANCZOS, reducing_gap=3.0)
    bx0, by0 = (x0 - region[0]) * sx, (y0 - region[1]) * sy
    bx1, by1 = (x1 - region[0]) * sx, (y1 - region[1]) * sy
    pads = (max(0, math.ceil(-bx0)), max(0, math.ceil(-by0)),
            max(0, math.ceil(bx1 - sub.width)), max(0, math.ceil(by1 - sub.height)))
    if any(pads):
        sub = _pad(sub, pads, fill, blur=0.02 * (bx1 - bx0))
    source_box = (bx0 + pads[0], by0 + pads[1], bx1 + pads[0], by1 + pads[1])
    return sub.resize((size, size), Image.Resampling.LANCZOS, box=source_box)


def _pad(image: Image.Image, pads: tuple[int, int, int, int], fill: Fill, blur: float) -> Image.Image:
    """Extend ``image`` by ``(left, top, right, bottom)`` pixels, filled as :func:`render_crop` describes."""
    left, top, right, bottom = pads
    pixels = np.asarray(image, dtype=np.float32)
    if fill == "black":
        return Image.fromarray(np.pad(pixels, ((top, bottom), (left, right), (0, 0))).astype(np.uint8))
    mode = "reflect" if min(pixels.shape[:2]) > 1 else "edge"
    padded = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode=mode)
    height, width = padded.shape[:2]
    # Normalised distance outside the original pixels: 0 inside, 1 at the outer edge of each pad.
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    dist_x = np.maximum(np.maximum(left - xs, 0) / max(left, 1),
                        np.maximum(xs - (width - 1 - right), 0) / max(right, 1))
    dist_y = np.maximum(np.maximum(top - ys, 0) / max(top, 1),
                        np.maximum(ys - (height - 1 - bottom), 0) / max(bottom, 1))
    mask = np.maximum(dist_x[None, :], dist_y[:, None])[:, :, None]
    padded += (_blurred(padded, blur) - padded) * np.clip(mask * 3.0, 0.0, 1.0)
    padded += (np.median(pixels[::4, ::4].reshape(-1, 3), axis=0) - padded) * np.clip(mask, 0.0, 1.0)
    return Image.fromarray(np.clip(np.rint(padded), 0, 255).astype(np.uint8))


def _blurred(pixels: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of ``pixels`` [H,W,3] with ``radius``; computed at reduced size when the radius allows."""
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    reduce = max(1, min(4, int(radius / 2)))
    small = image.reduce(reduce) if reduce > 1 else image
    small = small.filter(ImageFilter.GaussianBlur(max(1.0, radius / reduce)))
    if reduce > 1:
        small = small.resize(image.size, Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32)
