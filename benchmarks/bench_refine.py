"""CPU timings of per-photo refinement (:mod:`triplanenet.refinement`): seconds per step and for the default.

Two models: the bundled one (its v2 inversion of a held-out synthetic head) and the
published full-size architecture (FFHQ-512 generator, TriPlaneNet v2 sizes, random
weights: timing does not depend on their values), each in float32 and in the
generator's fast mode. A step is timed between two progress reports of
:func:`~triplanenet.refinement.refinement_steps` (after one warm-up step); wall
seconds and CPU seconds per thread (what the step would take on otherwise idle
cores) are medians. The bundled default is timed whole; the full-size default is
``DEFAULT_STEPS`` times its step (a full run takes minutes on a CPU).

    python benchmarks/bench_refine.py [--runs 3] [--threads 2] [--skip-full-size] [--checkpoints bundled OLD_DIR]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench_inversion import build_model
from triplanenet import Inversion, cameras
from triplanenet.evaluation import ground_truth
from triplanenet.loading import load_inverter
from triplanenet.refinement.fit import DEFAULT_STEPS, RefineSettings, refinement_steps
from triplanenet import invert, refine

Row = tuple[str, str, float, float, float, str]


def timed_steps(inversion: Inversion, settings: RefineSettings) -> tuple[float, float]:
    """Median wall and CPU-per-thread seconds of the steps of one refinement, the first left out."""
    wall, cpu = [], []
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in refinement_steps(inversion, settings):
        wall.append(time.perf_counter() - start)
        cpu.append((time.process_time() - start_cpu) / torch.get_num_threads())
        start, start_cpu = time.perf_counter(), time.process_time()
    return statistics.median(wall[1:]), statistics.median(cpu[1:])


def whole_refinement(inversion: Inversion, settings: RefineSettings, runs: int) -> float:
    """Median wall seconds of ``runs`` complete default refinements."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        refine(inversion, settings=settings)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bundled_rows(checkpoint: str, runs: int) -> list[Row]:
    inverter = load_inverter(checkpoint)
    truth = ground_truth(0, inverter.decoder.img_resolution)
    inversion = invert(inverter, truth.image[:1], truth.cameras[:1])
    rows = []
    for fast in (False, True):
        settings = RefineSettings(fast=fast)
        step, step_cpu = timed_steps(inversion, RefineSettings(steps=runs + 1, fast=fast))
        rows.append((f"{checkpoint} (128 px, fit at 64)", "fast" if fast else "float32", step, step_cpu,
                     whole_refinement(inversion, settings, runs), "measured"))
    return rows


def full_size_rows() -> list[Row]:
    model = build_model(use_pixelshuffle=False)
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 512, 512, generator=generator) * 2 - 1
    inversion = invert(model, image, cameras.camera(0.2, -0.05))
    rows = []
    for fast in (False, True):
        step, step_cpu = timed_steps(inversion, RefineSettings(steps=2, fast=fast))
        rows.append(("full size (512 px, fit at 128)", "fast" if fast else "float32", step, step_cpu,
                     DEFAULT_STEPS * step, f"{DEFAULT_STEPS} x step"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed steps, and complete bundled refinements")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-full-size", action="store_true")
    parser.add_argument("--checkpoints", nargs="+", default=["bundled"],
                        help="bundled-size models to time, in one run (e.g. bundled and a copy of an older one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [row for checkpoint in args.checkpoints for row in bundled_rows(checkpoint, args.runs)]
    rows += [] if args.skip_full_size else full_size_rows()
    print(f"refinement, {args.threads} threads, default {DEFAULT_STEPS} steps (photo + mirror view per step)")
    print("| model | mode | s/step | CPU s/step per thread | default refinement (s) | how |")
    print("|---|---|---|---|---|---|")
    for model, mode, step, step_cpu, total, how in rows:
        print(f"| {model} | {mode} | {step:.2f} | {step_cpu:.2f} | {total:.1f} | {how} |")


if __name__ == "__main__":
    main()
