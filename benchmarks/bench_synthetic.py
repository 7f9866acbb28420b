"""CPU timings of the synthetic head renderer (``triplanenet.synthetic.render``, module ``renderer``).

Renders FFHQ-like heads and cameras (fixed seeds) and prints a table of the
median and best of ``--runs`` timed runs after one warm-up, per configuration:

    python benchmarks/bench_synthetic.py [--runs 5] [--threads 1]

``--threads`` is passed to ``render`` (its default is 1: rendering is many small
kernels, and parallel batches, e.g. ``DataLoader`` workers, use cores better).
Other processes on the machine slow the medians down; "best" is closer to what
an idle machine gives.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from triplanenet.synthetic import render, sample_cameras, sample_params

CONFIGS = (  # (batch, resolution, supersample, shadows)
    (8, 64, 1, True),
    (8, 128, 1, True),
    (8, 128, 1, False),
    (8, 128, 2, True),
    (1, 512, 1, True),
)


def time_config(batch: int, resolution: int, supersample: int, shadows: bool, runs: int,
                threads: int) -> list[float]:
    """Seconds per render of ``batch`` heads, for ``runs`` runs after a warm-up."""
    g = torch.Generator().manual_seed(0)
    params, camera = sample_params(batch, g), sample_cameras(batch, g)
    render(params, camera, resolution, supersample, shadows, threads)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render(params, camera, resolution, supersample, shadows, threads)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, render(threads={args.threads}), {args.runs} runs")
    print(f"{'batch':>5} {'res':>5} {'ss':>3} {'shadows':>8} {'median s':>9} {'best s':>8} {'ms/head':>8}")
    for batch, resolution, supersample, shadows in CONFIGS:
        times = time_config(batch, resolution, supersample, shadows, args.runs, args.threads)
        median = statistics.median(times)
        print(f"{batch:>5} {resolution:>5} {supersample:>3} {str(shadows):>8} {median:>9.3f} {min(times):>8.3f}"
              f" {1000 * median / batch:>8.1f}")


if __name__ == "__main__":
    main()
