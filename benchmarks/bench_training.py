"""Steps per CPU-hour of the generator trainer, today's against the fast one, measured in one run.

    nice -n 19 python benchmarks/bench_training.py [--steps 5] [--batch 4] [--views 2]

Every row trains a freshly initialised generator for one untimed step and then
``--steps`` timed steps at the same batch (``--batch`` heads x ``--views`` views),
on one torch thread (``torch.set_num_threads(1)``: numbers are per core), and
reports the median CPU seconds per step (``time.process_time``, so other processes
on the machine do not count) and the steps per CPU-hour this gives. Rows:

* ``classic``: today's trainer (ground truth sphere-traced every step, tri-planes
  copied per view, super-resolution every step);
* ``fast``: cached ground truth, the views of a head rendered as one scene, with
  super-resolution (``sr``), without it (``raw``, the early phase) and on ``--rays``
  random pixels per view (``rays``).

The cache's own cost is printed below the table (CPU seconds per cached view),
since a cached view is reused over epochs.

    nice -n 19 python benchmarks/bench_training.py --fit-cpu 60

instead fits ONE cached head (4 views, 2 per step, raw render only, Adam 2e-3)
with each candidate variant for ``--fit-cpu`` CPU seconds of training and prints
the raw PSNR of its 4 views after every quarter of that time: the capacity and
optimisation check behind the config choice (the channels of the 256² backbone
block, the mapping network's learning-rate multiplier, ray batches).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch

from triplanenet import configs
from triplanenet.evaluation import psnr
from triplanenet.models.generator import TriPlaneGenerator
from triplanenet.training.generator_trainer import GeneratorTask, GeneratorTrainConfig, build_generator, param_statistics
from triplanenet.training.loop import Distributed, LoopConfig, make_optimizer, train_step

CACHE_HEADS = 16
"""Heads in the benchmark's ground-truth cache (steps draw from them; their number does not change the cost)."""


@dataclass(frozen=True)
class Row:
    """One trainer setting: the generator config, the trainer path, and the fast path's options."""

    name: str
    config: str
    fast: bool
    sr: bool = True
    rays: int = 0


def rows(ray_count: int) -> list[Row]:
    return [Row("classic", "bundled", fast=False),
            Row("fast sr", "bundled", fast=True),
            Row("fast raw", "bundled", fast=True, sr=False),
            Row("classic", "bundled64", fast=False),
            Row("fast sr", "bundled64", fast=True),
            Row("fast raw", "bundled64", fast=True, sr=False),
            Row(f"fast rays {ray_count}", "bundled64", fast=True, sr=False, rays=ray_count)]


def make_task(row: Row, batch: int, views: int, cache_dir: str, statistics_: tuple) -> GeneratorTask:
    torch.manual_seed(0)
    generator = build_generator(row.config)
    fast = {"cache_heads": CACHE_HEADS, "cache_views": max(4, views), "cache_dir": f"{cache_dir}/{row.config}",
            "one_scene": True, "sr_start": 0 if row.sr else 1 << 30, "rays": row.rays} if row.fast else {}
    task = GeneratorTask(generator, GeneratorTrainConfig(batch=batch, views=views, **fast), statistics=statistics_)
    task.prepare()
    return task


def cpu_seconds_per_step(task: GeneratorTask, steps: int) -> float:
    """Median CPU seconds of ``steps`` training steps after one untimed step."""
    params = [p for p in task.model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, LoopConfig(lr=2e-3, betas=(0.9, 0.99)))
    times = []
    for step in range(steps + 1):
        start = time.process_time()
        train_step(task, optimizer, params, step, Distributed())
        times.append(time.process_time() - start)
    return statistics.median(times[1:])


FIT_VARIANTS = {
    "bundled64": ({}, 0),
    "bundled64, 1024 rays/view": ({}, 1024),
    "16 channels at 256² (bundled's)": ({"channel_base": 4096}, 0),
    "mapping lr x1": ({"mapping_kwargs": {"num_layers": 2, "lr_multiplier": 1.0}}, 0),
}
"""Candidate variants for the fit check: overrides of bundled64's ``init_kwargs`` and rays per view (0: all)."""
FIT_CHECKS = 4


def fit_psnr(overrides: dict, rays: int, budget: float, cache_dir: str,
             statistics_: tuple) -> tuple[list[float], int]:
    """Raw PSNR of one head's 4 cached views after each quarter of ``budget`` CPU seconds, and the steps run."""
    init_kwargs, resolution = configs.get("bundled64")
    torch.manual_seed(0)
    generator = TriPlaneGenerator(**{**init_kwargs, **overrides})
    generator.neural_rendering_resolution = resolution
    config = GeneratorTrainConfig(batch=1, views=2, cache_heads=1, cache_views=4, cache_dir=cache_dir,
                                  one_scene=True, sr_start=1 << 30, rays=rays)
    task = GeneratorTask(generator, config, statistics=statistics_)
    task.prepare()
    params = [p for p in generator.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, LoopConfig(lr=2e-3, betas=(0.9, 0.99)))
    everything = task.cache.batch([0], torch.arange(4).view(1, 4))
    scores, spent, step = [], 0.0, 0
    while len(scores) < FIT_CHECKS:
        start = time.process_time()
        train_step(task, optimizer, params, step, Distributed())
        spent, step = spent + time.process_time() - start, step + 1
        if spent >= budget * (len(scores) + 1) / FIT_CHECKS:
            with torch.no_grad():
                out = task.forward_scene(everything["params"], everything["camera"], None, False)
            scores.append(float(psnr(out["image_raw"], everything["raw"]).mean()))
            task.prepare()
    return scores, step


def fit_table(budget: float) -> None:
    stats = param_statistics()
    with tempfile.TemporaryDirectory() as cache_dir:
        results = {name: fit_psnr(overrides, rays, budget, cache_dir, stats)
                   for name, (overrides, rays) in FIT_VARIANTS.items()}
    checks = [budget * (i + 1) / FIT_CHECKS for i in range(FIT_CHECKS)]
    print("one head fitted alone, raw 64 px render, PSNR (dB) of its 4 views after CPU seconds, 1 thread")
    print("| variant | " + " | ".join(f"{c:.0f} s" for c in checks) + " | steps |")
    print("| --- |" + " --- |" * (FIT_CHECKS + 1))
    for name, (scores, steps) in results.items():
        print(f"| {name} | " + " | ".join(f"{s:.2f}" for s in scores) + f" | {steps} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--rays", type=int, default=1024, help="rays per view of the ray-batch row")
    parser.add_argument("--fit-cpu", type=float, default=0, help="run the one-head fit check instead, for this "
                        "many CPU seconds per variant")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.fit_cpu:
        fit_table(args.fit_cpu)
        return 0
    stats = param_statistics()
    results: dict[Row, float] = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        cache_cost = {}
        for row in rows(args.rays):
            task = make_task(row, args.batch, args.views, cache_dir, stats)
            if row.fast and row.config not in cache_cost:
                cache_cost[row.config] = task.cache.cpu_hours * 3600 / (CACHE_HEADS * task.cache.spec.views)
            results[row] = cpu_seconds_per_step(task, args.steps)
    print(f"generator training, batch {args.batch} heads x {args.views} views, 1 thread, "
          f"median of {args.steps} steps (CPU seconds)")
    print(f"| config | trainer | CPU s/step | steps/CPU-hour | vs classic |")
    print("| --- | --- | --- | --- | --- |")
    for row, seconds in results.items():
        classic = results[Row("classic", row.config, fast=False)]
        print(f"| {row.config} | {row.name} | {seconds:.2f} | {3600 / seconds:.0f} | {classic / seconds:.2f}x |")
    for config, seconds in cache_cost.items():
        print(f"ground-truth cache ({config}): {seconds:.3f} CPU s per cached view")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
