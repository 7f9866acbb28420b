"""Shared pieces of the docs/ figure scripts: the three cameras every row shows, labelled rows of equal-size
tiles, stacked into one sheet."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from triplanenet import cameras

LABEL_HEIGHT = 18
SIDE_YAW = 0.5
TRUTH_ORDER = (2, 0, 1)
"""Indices that put ``evaluation.ground_truth``'s views (input, yaw +0.5, yaw -0.5) in :func:`three_cameras`'
order."""


def three_cameras(camera: torch.Tensor) -> torch.Tensor:
    """Yaw -0.5 rad, the input ``camera`` [1,25] and yaw +0.5 rad, as [3,25]."""
    return torch.cat([cameras.camera(-SIDE_YAW, 0.0), camera, cameras.camera(SIDE_YAW, 0.0)])


def labelled_row(label: str, tiles: Sequence[np.ndarray]) -> Image.Image:
    """Tiles [R,R,3] uint8 side by side under a line of text."""
    size = tiles[0].shape[0]
    row = Image.new("RGB", (len(tiles) * size, size + LABEL_HEIGHT), "white")
    ImageDraw.Draw(row).text((4, 3), label, fill="black")
    for i, tile in enumerate(tiles):
        row.paste(Image.fromarray(tile), (i * size, LABEL_HEIGHT))
    return row


def stacked(rows: Sequence[Image.Image]) -> Image.Image:
    """Rows one under the other on white."""
    sheet = Image.new("RGB", (max(row.width for row in rows), sum(row.height for row in rows)), "white")
    top = 0
    for row in rows:
        sheet.paste(row, (0, top))
        top += row.height
    return sheet
