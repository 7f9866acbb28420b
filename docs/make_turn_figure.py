"""Draw docs/turned_views.png: real photos refined as before issue 19 and as now, turned.

Each photo gets two rows: its crop, then the refined head at the photo's camera
turned by yaw -0.5, -0.3, 0, +0.3 and +0.5 rad (pitch kept), refined with the
settings of before (no distortion term) and with today's defaults. Bundled model,
TriPlaneNet v2, default steps.

    python docs/make_turn_figure.py [PHOTO ...] [--out docs/turned_views.png]

The committed figure uses the public-domain astronaut of examples/. The photos of
``../shared/faces`` are for internal evaluation only: pass them here to look at
them, and write the sheet outside the repository.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from triplanenet import Inversion, Pipeline, cameras
from triplanenet.outputs.views import to_uint8
from triplanenet.refinement import RefineSettings, refine

from figures import labelled_row, stacked  # docs/figures.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
YAWS = (-0.5, -0.3, 0.0, 0.3, 0.5)
BEFORE = RefineSettings(distortion_weight=0.0)
"""Refinement as it was when issue 19 was filed: no distortion term."""


def turned_views(inversion: Inversion) -> list[np.ndarray]:
    """The head at its photo's camera turned by each of :data:`YAWS` (images [R,R,3] uint8)."""
    images, _ = inversion.render(torch.cat([cameras.turned(inversion.camera.cpu(), yaw) for yaw in YAWS]))
    return [to_uint8(image) for image in images]


def photo_rows(pipeline: Pipeline, photo: Path) -> list:
    face = pipeline.align(photo)
    head = pipeline.invert(face.image, face.camera)
    crop = to_uint8(head.input_image[0])
    yaws = " | ".join(f"{yaw:+.1f}" for yaw in YAWS)
    return [labelled_row(f"{photo.stem}: crop | {name} refinement at yaw {yaws} rad",
                         [crop, *turned_views(refine(head, settings=settings))])
            for name, settings in (("before", BEFORE), ("today's", RefineSettings()))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, default=[ROOT / "examples" / "astronaut.png"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "turned_views.png")
    args = parser.parse_args()
    pipeline = Pipeline.from_pretrained("bundled")
    stacked([row for photo in args.photos for row in photo_rows(pipeline, photo)]).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
