"""Seconds of one default refinement with and without the distortion term, alternating, same process:
python experiments/time_default.py [--runs 2] (threads: torch's default unless OMP_NUM_THREADS is set)."""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from triplanenet.evaluation import ground_truth
from triplanenet.loading import load_inverter
from triplanenet.refinement import RefineSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    inverter = load_inverter("bundled")
    truth = ground_truth(0, inverter.decoder.img_resolution)
    inversion = inverter.invert(truth.image[:1], truth.cameras[:1])
    inversion.refine(steps=1)
    settings = {"distortion 1 (default)": RefineSettings(), "distortion 0 (before)": replace(RefineSettings(),
                                                                                             distortion_weight=0.0)}
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.runs):
        for name, value in settings.items():
            start = time.perf_counter()
            inversion.refine(settings=value)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} s of {values} ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
