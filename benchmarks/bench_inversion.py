"""CPU timings of a full-size TriPlaneNet v2 inversion (FFHQ-512 generator, published encoder sizes).

Weights are random (timing does not depend on their values). Everything runs in
the exact float32 mode with deterministic rendering, batch 1. Prints a table of
medians over ``--runs`` runs after one warm-up, for the trained depth samples
(48 + 48 per ray) and the official inference setting (96 + 96, the default of
``load_inverter``): wall-clock seconds, and the process's CPU seconds divided by
the thread count (the wall time the step would take on otherwise idle cores,
which the wall clock does not show when other jobs share the machine).

    python benchmarks/bench_inversion.py [--runs 3] [--threads 2]
"""
from __future__ import annotations

import torch

from timing import benchmark_arguments, median_wall_and_cpu
from triplanenet import TriPlaneNet, cameras
from triplanenet.inversion.result import Inversion
from triplanenet import invert

DEPTH_SETTINGS = {"48+48 (trained)": 48, "96+96 (official)": 96}


Row = tuple[str, str, float, float]


def build_model(use_pixelshuffle: bool) -> TriPlaneNet:
    torch.manual_seed(0)
    model = TriPlaneNet(version=2, use_pixelshuffle=use_pixelshuffle)
    with torch.no_grad():
        model.decoder.backbone.mapping.w_avg.normal_()
    return model


def set_depth_samples(model: TriPlaneNet, samples: int) -> None:
    model.decoder.rendering_kwargs["depth_resolution"] = samples
    model.decoder.rendering_kwargs["depth_resolution_importance"] = samples


def invert_and_render(model: TriPlaneNet, image: torch.Tensor, camera: torch.Tensor) -> Inversion:
    """What the app does first: invert, then show the result at the input camera (the first 512 render)."""
    inversion = invert(model, image, camera)
    inversion.render()
    return inversion


def encoder_rows(model: TriPlaneNet, runs: int) -> list[Row]:
    x, planes = torch.rand(1, 3, 256, 256) * 2 - 1, torch.randn(1, 96, 256, 256)
    ws = torch.randn(1, 14, 512)
    other = build_model(not model.use_pixelshuffle).triplanenet_encoder
    rows = [("pSp encoder (3x256x256 -> 14x512)", "-", *median_wall_and_cpu(lambda: model.encode(x), runs))]
    for encoder in (model.triplanenet_encoder, other):
        step = f"v2 tri-plane network (use_pixelshuffle={encoder.use_pixelshuffle})"
        rows.append((step, "-", *median_wall_and_cpu(lambda: encoder(torch.cat([x, x, x], 1), planes), runs)))
    rows.append(("generator planes (backbone)", "-", *median_wall_and_cpu(lambda: model.decoder.planes(ws), runs)))
    return rows


def inversion_rows(model: TriPlaneNet, runs: int) -> list[Row]:
    image, camera = torch.rand(1, 3, 512, 512) * 2 - 1, cameras.camera(0.3, -0.1)
    side = cameras.camera(-0.4, 0.0)
    rows = []
    for depth, samples in DEPTH_SETTINGS.items():
        set_depth_samples(model, samples)
        inversion = invert_and_render(model, image, camera)
        rows += [
            ("full v2 inversion incl. first 512 render", depth,
             *median_wall_and_cpu(lambda: invert_and_render(model, image, camera), runs)),
            ("re-render from Inversion (512, new camera)", depth,
             *median_wall_and_cpu(lambda: inversion.render(side), runs)),
            ("w+ only inversion incl. first 512 render", depth,
             *median_wall_and_cpu(lambda: invert(model, image, camera, branch=False).render(), runs)),
        ]
    return rows


def main() -> None:
    args = benchmark_arguments(__doc__.splitlines()[0])
    model = build_model(use_pixelshuffle=False)
    with torch.no_grad():
        rows = encoder_rows(model, args.runs) + inversion_rows(model, args.runs)
    print(f"\nTriPlaneNet v2 (FFHQ-512) on CPU, float32, {args.threads} threads, "
          f"median of {args.runs} runs, batch 1\n")
    print(f"| {'step':<48} | {'depth samples':<16} | {'wall s':>7} | {'CPU s / thread':>14} |")
    print(f"|{'-' * 50}|{'-' * 18}|{'-' * 9}|{'-' * 16}|")
    for step, depth, wall, cpu in rows:
        print(f"| {step:<48} | {depth:<16} | {wall:7.3f} | {cpu:14.3f} |")


if __name__ == "__main__":
    main()
