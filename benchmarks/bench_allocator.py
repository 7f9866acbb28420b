"""Refine in the library and through the app's server, under each allocator setting (bundled model).

    python benchmarks/bench_allocator.py [--runs 3] [--in-process glibc pinned-1mib tuned] [--app pinned-1mib tuned]

For the settings of :mod:`triplanenet.app.allocator` given, in one run:

* in-process: a fresh process applies the setting, aligns and inverts (v2) the
  astronaut photo, refines it once untimed, then ``--runs`` times
  (``Inversion.refine``, the default steps);
* through the app: ``app.py`` started with ``$TRIPLANENET_ALLOCATOR`` set, one
  client aligns and inverts the same photo, then ``/refine`` with the default steps,
  once untimed and ``--runs`` times.

The table gives medians of wall seconds, CPU seconds (user + system: on a shared
machine they move less than wall time), system CPU seconds and minor page faults per
refinement (from ``getrusage`` in-process, ``/proc/PID/stat`` for the server), and the
server's ratios to the library (the ``glibc`` in-process row: what
``Inversion.refine`` gets in a plain Python process).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from app_server import AppServer, start_app  # noqa: E402

from triplanenet.app.allocator import ALLOCATOR_ENV, SETTINGS  # noqa: E402
from triplanenet.refinement import DEFAULT_STEPS  # noqa: E402

LIBRARY = "glibc"
"""The setting of a plain Python process: the library's reference (always measured in-process)."""


def astronaut(folder: Path) -> Path:
    """scikit-image's astronaut as a PNG in ``folder``."""
    from PIL import Image
    from skimage import data

    path = folder / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def in_process(setting: str, photo: Path, runs: int) -> dict[str, float]:
    """Child process: apply ``setting``, refine ``runs`` times after one untimed; medians."""
    from triplanenet.app import allocator, steps
    from triplanenet.pipeline import Pipeline
    from triplanenet.refinement import refine

    allocator.configure(setting)
    pipeline = Pipeline.from_pretrained("bundled")
    alignment = steps.align(pipeline, str(photo))
    inversion, _ = steps.invert(pipeline, alignment.crop, alignment.camera, "v2")
    refine(inversion)
    samples = []
    for _ in range(runs):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        refine(inversion)
        after = resource.getrusage(resource.RUSAGE_SELF)
        samples.append({"seconds": time.perf_counter() - start, "system": after.ru_stime - before.ru_stime,
                        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                        "faults": after.ru_minflt - before.ru_minflt})
    return medians(samples)


def server_counters(server: AppServer) -> dict[str, float]:
    """Minor faults and system CPU seconds of the server so far."""
    return {"faults": float(server.minor_faults()), "system": server.cpu_seconds(user=False),
            "cpu": server.cpu_seconds()}


def through_app(setting: str, photo: Path, folder: Path, runs: int) -> dict[str, float]:
    """``/refine`` (default steps) on a server run with ``setting``, ``runs`` times after one untimed; medians."""
    from gradio_client import Client, handle_file

    server = start_app(folder, own_temp=True, environment={ALLOCATOR_ENV: setting})
    try:
        app = Client(server.url, verbose=False, download_files=False, analytics_enabled=False)
        _, _, crop, camera = app.predict(handle_file(photo), 0, api_name="/align")
        app.predict(handle_file(crop["path"]), camera, "v2", api_name="/invert")
        app.predict(DEFAULT_STEPS, api_name="/refine")
        samples = []
        for _ in range(runs):
            before, start = server_counters(server), time.perf_counter()
            app.predict(DEFAULT_STEPS, api_name="/refine")
            after = server_counters(server)
            samples.append({"seconds": time.perf_counter() - start, **{k: after[k] - before[k] for k in after}})
        app.close()
        return medians(samples)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-process", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--app", nargs="+", default=[s for s in SETTINGS if s != LIBRARY], choices=list(SETTINGS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(in_process(args.child, args.photo, args.runs)))
        return 0
    with TemporaryDirectory() as tmp:
        photo = astronaut(Path(tmp))
        rows = {}
        for setting in dict.fromkeys([LIBRARY, *args.in_process]):
            child = subprocess.run([sys.executable, __file__, "--child", setting, "--photo", str(photo),
                                    "--runs", str(args.runs)], check=True, capture_output=True, text=True)
            rows[setting, "in-process"] = json.loads(child.stdout.strip().splitlines()[-1])
            print(setting, "in-process", rows[setting, "in-process"], flush=True)
        for setting in args.app:
            rows[setting, "app /refine"] = through_app(setting, photo, Path(tmp), args.runs)
            print(setting, "app /refine", rows[setting, "app /refine"], flush=True)
    library = rows[LIBRARY, "in-process"]
    print(f"\nrefine, {DEFAULT_STEPS} steps, bundled model, median of {args.runs}")
    print("| allocator | where | wall (s) | x library | CPU (s) | x library | system CPU (s) | minor faults |")
    print("|---|---|---|---|---|---|---|---|")
    for (setting, where), row in rows.items():
        print(f"| {setting} | {where} | {row['seconds']:.1f} | {row['seconds'] / library['seconds']:.2f} "
              f"| {row['cpu']:.1f} | {row['cpu'] / library['cpu']:.2f} | {row['system']:.1f} "
              f"| {row['faults'] / 1e6:.2f} M |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
