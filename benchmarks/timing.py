"""Timing shared by the benchmark scripts."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch


def median_seconds(fn: Callable[[], object], runs: int, warm_up: bool = True) -> float:
    """Median wall time of ``runs`` calls of ``fn`` (after one untimed call if ``warm_up``)."""
    if warm_up:
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_wall_and_cpu(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds per thread (``process_time`` over torch's threads: what a call
    would take on otherwise idle cores) of ``runs`` calls of ``fn``, after one untimed call."""
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append((time.process_time() - start_cpu) / torch.get_num_threads())
    return statistics.median(wall), statistics.median(cpu)


def benchmark_arguments(description: str) -> argparse.Namespace:
    """``--runs`` (default 3) and ``--threads`` (default 2, applied to torch) of a benchmark script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args
