"""The app under load on 127.0.0.1 (bundled model): careless clients first, then well-behaved ones.

    python benchmarks/bench_app_load.py [--careless 40] [--concurrent 16] [--settle 30] [--allocator tuned]

0. a warm-up session refines its head (20 steps): glibc then serves later tensors
   from its arenas, where the memory growth that the allocator settings are about shows;
1. ``--careless`` sessions that never disconnect (their clients stay open and idle),
   each align + invert + mesh at the app's default 256^3, ``WORKERS`` at a time;
2. ``FOLLOWERS`` well-behaved sessions after them (the whole flow, then close);
3. ``--concurrent`` well-behaved sessions at once (align, invert, views, depth,
   mesh 64^3, render), closed together; the server's RSS ``--settle`` seconds later.

The server (run with ``$TRIPLANENET_ALLOCATOR`` = ``--allocator``) has its RSS, and
the size of its session folders and of the rest of its root (Gradio's cache), sampled every ``SAMPLE_SECONDS`` throughout; the table gives their
maxima, the p95 latency of requests and of whole flows, and completion counts.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from app_server import AppServer, start_app  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from triplanenet.app.allocator import ALLOCATOR_ENV, SETTINGS, TUNED  # noqa: E402
from triplanenet.app.workspace import SESSION_PREFIX  # noqa: E402

WORKERS = 4
"""Careless sessions that run at once."""
FOLLOWERS = 4
WARM_UP_STEPS = 20
SAMPLE_SECONDS = 0.5
MIB = 2**20


def folder_bytes(folder: Path, sessions: bool) -> int:
    """Bytes of the files under ``folder``'s session folders (``sessions``) or under the rest of it.

    Files deleted meanwhile count 0.
    """
    total = 0
    for parent, children, files in os.walk(folder):
        if Path(parent) == folder:
            children[:] = [c for c in children if c.startswith(SESSION_PREFIX) == sessions]
            files = [] if sessions else files
        for name in files:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except OSError:
                pass
    return total


class Monitor:
    """Samples the server's RSS, workspace and Gradio cache sizes in a thread; keeps the maxima."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.peak = {"rss": 0, "workspace": 0, "cache": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, int]:
        root = self.server.sessions
        now = {"rss": self.server.rss_kib() * 1024, "workspace": folder_bytes(root, sessions=True),
               "cache": folder_bytes(root, sessions=False)}
        self.peak = {key: max(self.peak[key], value) for key, value in now.items()}
        return now

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> "Monitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Timed:
    """A gradio_client whose calls are timed (seconds, in ``latencies``)."""

    def __init__(self, server: AppServer, latencies: list[float]) -> None:
        self.client = Client(server.url, verbose=False, download_files=False, analytics_enabled=False)
        self.latencies = latencies

    def __call__(self, *args, api_name: str):
        start = time.perf_counter()
        result = self.client.predict(*args, api_name=api_name)
        self.latencies.append(time.perf_counter() - start)
        return result


def careless(server: AppServer, photo: Path, latencies: list[float]) -> Timed:
    """Align + invert + mesh, and never disconnect (the client is returned, still open)."""
    app = Timed(server, latencies)
    _, _, crop, camera = app(handle_file(photo), 0, api_name="/align")
    app(handle_file(crop["path"]), camera, "v2", api_name="/invert")
    app(256, api_name="/mesh")
    return app


def well_behaved(server: AppServer, photo: Path, latencies: list[float], refine: int = 0) -> float:
    """The whole flow (with ``refine`` refinement steps after the inversion), then close; its seconds."""
    start = time.perf_counter()
    app = Timed(server, latencies)
    try:
        _, _, crop, camera = app(handle_file(photo), 0, api_name="/align")
        app(handle_file(crop["path"]), camera, "v2", api_name="/invert")
        if refine:
            app(refine, api_name="/refine")
        app(2, api_name="/views")
        app(api_name="/depth")
        app(64, api_name="/mesh")
        app(10, 0, api_name="/render")
    finally:
        app.client.close()
    return time.perf_counter() - start


def attempt(fn, *args) -> object | None:
    """``fn(*args)``, or None if it failed (the failure is printed)."""
    try:
        return fn(*args)
    except Exception as exc:  # a failed session is counted, not fatal
        print(f"  failed: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        return None


def photos(folder: Path, count: int) -> list[Path]:
    """``count`` copies of the astronaut, each a little brighter (no two uploads alike)."""
    from skimage import data

    base = data.astronaut().astype(int)
    paths = []
    for i in range(count):
        paths.append(folder / f"user{i}.png")
        Image.fromarray(np.clip(base + i % 50, 0, 255).astype(np.uint8)).save(paths[-1])
    return paths


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--careless", type=int, default=40)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after the last close")
    parser.add_argument("--allocator", default=TUNED, choices=list(SETTINGS))
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        folder = Path(tmp)
        users = photos(folder, max(args.careless, args.concurrent))
        server = start_app(folder, own_temp=True, environment={ALLOCATOR_ENV: args.allocator})
        try:
            return run(server, users, args)
        finally:
            server.stop()


def run(server: AppServer, users: list[Path], args: argparse.Namespace) -> int:
    rows = []
    well_behaved(server, users[0], [], refine=WARM_UP_STEPS)  # warm-up: models, thread pools, caches, arenas
    with Monitor(server) as monitor:
        start_rss = monitor.sample()["rss"]
        latencies: list[float] = []
        with ThreadPoolExecutor(WORKERS) as pool:
            left_open = list(pool.map(lambda p: attempt(careless, server, p, latencies), users[:args.careless]))
        followers = [attempt(well_behaved, server, p, []) for p in users[:FOLLOWERS]]
        rows.append((f"{args.careless} careless (never disconnect) + {FOLLOWERS} after",
                     monitor.peak.copy(), p95(latencies), "-",
                     f"{sum(a is not None for a in left_open)}/{args.careless} + "
                     f"{sum(f is not None for f in followers)}/{FOLLOWERS}"))
        for app in left_open:
            if app is not None:
                app.client.close()
        monitor.peak = {key: 0 for key in monitor.peak}
        before = monitor.sample()["rss"]
        latencies = []
        with ThreadPoolExecutor(args.concurrent) as pool:
            flows = list(pool.map(lambda p: attempt(well_behaved, server, p, latencies), users[:args.concurrent]))
        done = [f for f in flows if f is not None]
        rows.append((f"{args.concurrent} concurrent well-behaved", monitor.peak.copy(), p95(latencies),
                     f"{p95(done):.1f}", f"{len(done)}/{args.concurrent}"))
        time.sleep(args.settle)
        after = monitor.sample()["rss"]
    print(f"allocator {args.allocator}; server RSS: {start_rss / MIB:.0f} MiB after warm-up, {before / MIB:.0f} MiB before the concurrent "
          f"sessions, {after / MIB:.0f} MiB {args.settle:.0f} s after they closed "
          f"({(after - before) / MIB:+.0f} MiB)")
    print("| phase | RSS max (MiB) | workspace max (MiB) | Gradio cache max (MiB) | p95 request (s) "
          "| p95 flow (s) | completed |")
    print("|---|---|---|---|---|---|---|")
    for name, peak, request, flow, completed in rows:
        print(f"| {name} | {peak['rss'] / MIB:.0f} | {peak['workspace'] / MIB:.0f} | {peak['cache'] / MIB:.0f} "
              f"| {request:.1f} | {flow} | {completed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
