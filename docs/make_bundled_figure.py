"""Draw docs/bundled.png: the bundled model before and after a retraining, on held-out synthetic heads.

For each head (``evaluate``'s held-out stream): its truth, then the v2 inversion of each model, at
yaw -0.5, the input camera and yaw +0.5 rad, and the depth at the input camera (shared colour range
per head, near light; transparent pixels white; the model's depth at its neural rendering resolution,
enlarged without smoothing).

    python docs/make_bundled_figure.py BEFORE_DIR [AFTER_DIR] [--seeds 3 7] [--out docs/bundled.png]

``BEFORE_DIR`` is an earlier copy of ``assets/bundled`` (for example
``git archive COMMIT assets/bundled | tar -x -C /tmp/old``); ``AFTER_DIR`` defaults to ``assets/bundled``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from triplanenet.outputs.depth import colorize_depth, depth_range
from triplanenet.evaluation import GroundTruth, ground_truth
from triplanenet.loading.bundled import BUNDLED_DIR, load_versions
from triplanenet.models.triplanenet import TriPlaneNet
from triplanenet.outputs.views import to_uint8
from triplanenet import invert

from figures import TRUTH_ORDER, labelled_row, stacked, three_cameras  # docs/figures.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = (3, 7)


def enlarged(image: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST))


def model_tiles(inverter: TriPlaneNet, truth: GroundTruth, near_far: tuple[float, float]) -> list[np.ndarray]:
    """Three views and the depth of the v2 inversion of the truth's input view (images [R,R,3] uint8)."""
    inversion = invert(inverter, truth.image[:1], truth.cameras[:1])
    out = inversion.synthesis(three_cameras(truth.cameras[:1]))
    depth, _ = colorize_depth(out["image_depth"][1, 0], out["image_opacity"][1, 0], near=near_far[0],
                              far=near_far[1])
    size = out["image"].shape[-1]
    return [to_uint8(image) for image in out["image"]] + [enlarged(depth, size)]


def truth_tiles(truth: GroundTruth) -> tuple[list[np.ndarray], tuple[float, float]]:
    """The true views (same order as :func:`model_tiles`), the true depth, and its range."""
    near_far = depth_range(truth.depth[0, 0], truth.mask[0, 0])
    depth, _ = colorize_depth(truth.depth[0, 0], truth.mask[0, 0], near=near_far[0], far=near_far[1])
    return [to_uint8(truth.image[i]) for i in TRUTH_ORDER] + [depth], near_far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the earlier bundled model's folder")
    parser.add_argument("after", type=Path, nargs="?", default=BUNDLED_DIR, help="default: assets/bundled")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="held-out heads")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bundled.png")
    args = parser.parse_args()
    models = {"before": load_versions(directory=args.before)[2], "after": load_versions(directory=args.after)[2]}
    rows = []
    for seed in args.seeds:
        truth = ground_truth(seed, models["after"].decoder.img_resolution)
        tiles, near_far = truth_tiles(truth)
        rows.append(labelled_row(f"head {seed}: truth at yaw -0.5 | input camera | +0.5 | depth", tiles))
        for name, inverter in models.items():
            rows.append(labelled_row(f"head {seed}: v2, {name}", model_tiles(inverter, truth, near_far)))
    stacked(rows).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
