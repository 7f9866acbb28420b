"""Draw docs/refinement.png: what per-photo refinement changes, seen from three sides.

Two heads, inverted by the bundled v2 and then refined with the default settings:
a held-out synthetic head (its true renders are the first row) and the astronaut
photo of examples/ (public domain). Each row shows yaw -0.5, the photo's own camera
and yaw +0.5 rad; the input is at the left.

    python docs/make_refine_figure.py [--out docs/refinement.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from triplanenet import Inversion
from triplanenet.evaluation import ground_truth
from triplanenet.loading import load_inverter
from triplanenet.preprocess import align_face
from triplanenet.outputs.views import to_uint8
from triplanenet import invert, refine

from figures import TRUTH_ORDER, labelled_row, stacked, three_cameras  # docs/figures.py, beside this script

ROOT = Path(__file__).resolve().parents[1]


def three_views(inversion: Inversion) -> list[np.ndarray]:
    """The head at yaw -0.5, at its photo's camera and at yaw +0.5 (images [R,R,3] uint8)."""
    images, _ = inversion.render(three_cameras(inversion.camera))
    return [to_uint8(image) for image in images]


def blank(like: np.ndarray) -> np.ndarray:
    return np.full_like(like, 255)


def head_rows(name: str, inversion: Inversion, truth: list[np.ndarray] | None) -> list[Image.Image]:
    photo = to_uint8(inversion.input_image[0])
    refined = refine(inversion)
    truth_row = f"{name}: truth at yaw -0.5 | photo camera | +0.5"
    rows = [labelled_row(truth_row, [blank(truth[0]), *truth])] if truth else []
    return rows + [
        labelled_row(f"{name}: input | v2 at yaw -0.5 | photo camera | +0.5", [photo, *three_views(inversion)]),
        labelled_row(f"{name}: input | v2 + refinement ({refined.method})", [photo, *three_views(refined)])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "refinement.png")
    args = parser.parse_args()
    inverter = load_inverter("bundled")
    truth = ground_truth(3, inverter.decoder.img_resolution)
    true_views = [to_uint8(truth.image[i]) for i in TRUTH_ORDER]
    synthetic = invert(inverter, truth.image[:1], truth.cameras[:1])
    face = align_face(ROOT / "examples" / "astronaut.png")
    photo = invert(inverter, face.image, face.camera)
    rows = head_rows("held-out synthetic head", synthetic, true_views) + head_rows("astronaut photo", photo, None)
    stacked(rows).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
