"""Pictures the app shows besides renders: the alignment preview."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..preprocess import AlignedFace

LANDMARK_COLOUR = (40, 230, 120)
ALIGNMENT_POINT_COLOUR = (255, 60, 60)


def _dots(draw: ImageDraw.ImageDraw, points: np.ndarray, radius: float, colour: tuple[int, int, int]) -> None:
    """Filled circles of ``radius`` pixels at ``points`` [K,2] (x, y pixel centres)."""
    for x, y in points.tolist():
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour, outline=(0, 0, 0))


def landmarks_preview(face: AlignedFace) -> Image.Image:
    """The 512 crop with the 68 landmarks (green) and the five alignment points (red) drawn on it."""
    picture = face.image.convert("RGB")
    draw = ImageDraw.Draw(picture)
    radius = picture.width / 256
    _dots(draw, face.landmarks_crop, radius, LANDMARK_COLOUR)
    _dots(draw, face.transform.to_crop(face.points5), 1.6 * radius, ALIGNMENT_POINT_COLOUR)
    return picture
