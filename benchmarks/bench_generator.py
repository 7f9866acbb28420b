"""CPU timings of the full-size FFHQ-512 generator (architecture of ``ffhq512-128.pkl``).

Weights are random (timing does not depend on their values). Prints a table
of medians over ``--runs`` runs after one warm-up, for the exact float32 mode
(the one that passes parity) and the fast mode (bfloat16 on CPU), plus the
fast mode's PSNR against float32 on the 512 image.

    python benchmarks/bench_generator.py [--runs 5] [--threads 2]
"""
from __future__ import annotations

import argparse

import torch

from timing import median_seconds
from triplanenet import cameras, configs
from triplanenet.models import TriPlaneGenerator


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1]."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


def build_generator() -> TriPlaneGenerator:
    torch.manual_seed(0)
    init_kwargs, resolution = configs.get("ffhq512-128")
    G = TriPlaneGenerator(**init_kwargs).eval().requires_grad_(False)
    G.neural_rendering_resolution = resolution
    with torch.no_grad():
        G.backbone.mapping.w_avg.normal_()
    return G


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    G = build_generator()
    z, c = torch.randn(1, 512), cameras.camera(0.0, 0.0)
    c_side = cameras.camera(0.5, -0.1)
    rows = []
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=0.7)
        planes = G.planes(ws)
        reference = G.synthesis(ws, c_side, planes=planes, deterministic=True)["image"]
        for fast in (False, True):
            mode = "bfloat16 (fast)" if fast else "float32 (exact)"
            rows.append((mode, "mapping + planes",
                         median_seconds(lambda: G.planes(G.mapping(z, c, truncation_psi=0.7), fast=fast), args.runs)))
            rows.append((mode, "512 render from cached planes (r=128)",
                         median_seconds(lambda: G.synthesis(ws, c_side, planes=planes, fast=fast), args.runs)))
            for r in (128, 64):
                rows.append((mode, f"G(z, c), neural rendering {r}",
                             median_seconds(lambda: G(z, c, neural_rendering_resolution=r, fast=fast), args.runs)))
        fast_image = G.synthesis(ws, c_side, planes=planes, deterministic=True, fast=True)["image"]
    print(f"\nFFHQ-512 generator on CPU, {args.threads} threads, median of {args.runs} runs, batch 1\n")
    print(f"| {'mode':<16} | {'step':<40} | {'seconds':>7} |")
    print(f"|{'-' * 18}|{'-' * 42}|{'-' * 9}|")
    for mode, step, seconds in rows:
        print(f"| {mode:<16} | {step:<40} | {seconds:7.3f} |")
    print(f"\nfast mode vs float32, 512 image PSNR: {psnr(fast_image, reference):.1f} dB")


if __name__ == "__main__":
    main()
