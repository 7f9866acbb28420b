"""Soak: many users' whole flows on the app at once, with bad requests mixed in (bundled model, 127.0.0.1).

    python benchmarks/bench_app_soak.py [--flows 40] [--parallel 4] [--steps 20] [--mesh 512] [--mesh-every 1]
                                        [--frames 60] [--malloc-check]

Each flow is one client: align -> invert (v2) -> refine ``--steps`` -> mesh at
``--mesh``^3 (every ``--mesh-every``-th flow; the others at the app's default
resolution) -> video of ``--frames`` frames, every download fetched over HTTP,
then close; a line per finished flow shows progress. ``--parallel`` flows run at a time (the probe of issue 23 ran two to
four). Before each flow a careless client sends the bad requests that once went
wrong: an ``/align`` of a path that is not an upload, ``True`` and 1000 refinement
steps, a mesh at 1000^3. Reports: whether the server survived, errors by kind
(expected refusals apart), p50/p95 per endpoint, peak RSS and disk (session folders
and the rest of the root), broken download links, and RSS and disk ``--settle``
seconds after the last client closed, against the idle server and against the server
after one warm-up flow (which loads what is loaded on first use: the alignment's
models, torch's thread pools). ``--malloc-check`` runs the
server under glibc's checking allocator (``libc_malloc_debug.so`` with ``MALLOC_CHECK_=3``:
a heap corruption aborts at once, with ``faulthandler``'s stacks in the server log).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from app_server import AppServer, start_app  # noqa: E402
from bench_app_load import MIB, Monitor, photos  # noqa: E402
from triplanenet.outputs.surface import MESH_RESOLUTION  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

CLIENT_TIMEOUT = 1800
BAD_REQUESTS = [("align", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, 0]),
                ("refine", [True]), ("refine", [1000]), ("mesh", [1000])]
"""Requests a careless client sends (endpoint, raw JSON data); each must be refused with a message."""
MALLOC_CHECK = {"LD_PRELOAD": "libc_malloc_debug.so.0", "MALLOC_CHECK_": "3"}
"""glibc 2.34+: MALLOC_CHECK_ works only with its debugging library preloaded."""
KINDS = {"removed": "evicted", "shutting down": "shutdown", "queue is full": "queue full",
         "server failed": "server error"}
"""Words of an error message -> its kind (anything else: "other")."""


class Stats:
    """Latencies per endpoint, errors by kind and broken downloads, from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.downloads = Counter()
        self.largest: Counter[str] = Counter()
        """Largest download of each kind (its name after the first dot), bytes."""

    def error(self, message: str) -> None:
        kind = next((kind for words, kind in KINDS.items() if words in message), "other")
        with self.lock:
            self.errors[kind] += 1
        print(f"  {kind}: {message[:200]}", file=sys.stderr)


def call(app: Client, stats: Stats, api_name: str, *args):
    """``app.predict(*args)``, timed under ``api_name``."""
    start = time.perf_counter()
    result = app.predict(*args, api_name=f"/{api_name}")
    with stats.lock:
        stats.latencies[api_name].append(time.perf_counter() - start)
    return result


def fetch(stats: Stats, file: dict) -> None:
    """GET a download the app returned; count it as good or broken."""
    size = 0
    try:
        with urllib.request.urlopen(file["url"], timeout=CLIENT_TIMEOUT) as response:
            while chunk := response.read(2**20):
                size += len(chunk)
        good = response.status == 200
    except urllib.error.URLError:
        good = False
    kind = Path(file["path"]).name.split(".", 1)[-1]
    with stats.lock:
        stats.downloads["good" if good else "broken"] += 1
        stats.largest[kind] = max(stats.largest[kind], size)


def careless(server: AppServer, stats: Stats) -> None:
    """The bad requests, each of which must come back as an error event with a message."""
    for api_name, data in BAD_REQUESTS:
        request = urllib.request.Request(f"{server.url}gradio_api/call/{api_name}", json.dumps({"data": data}).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            event_id = json.load(response)["event_id"]
        with urllib.request.urlopen(f"{server.url}gradio_api/call/{api_name}/{event_id}", timeout=600) as response:
            answer = response.read().decode()
        with stats.lock:
            stats.errors["bad request refused" if "event: error" in answer else "bad request accepted"] += 1


def flow(server: AppServer, photo: Path, stats: Stats, args: argparse.Namespace, index: int = 0) -> None:
    """User ``index``'s whole flow; failures are counted by kind."""
    began = time.perf_counter()
    careless(server, stats)
    app = Client(server.url, verbose=False, download_files=False, analytics_enabled=False,
                 httpx_kwargs={"timeout": CLIENT_TIMEOUT})
    try:
        _, _, crop, camera = call(app, stats, "align", handle_file(photo), 0)
        call(app, stats, "invert", handle_file(crop["path"]), camera, "v2")
        call(app, stats, "refine", args.steps)
        call(app, stats, "render", 20, 0)
        resolution = args.mesh if index % args.mesh_every == 0 else MESH_RESOLUTION
        glb, _, files, _ = call(app, stats, "mesh", resolution)
        for file in files:
            fetch(stats, file)
        fetch(stats, call(app, stats, "video", args.frames))
    except Exception as exc:  # counted by kind, not fatal
        stats.error(str(exc))
    finally:
        app.close()
        print(f"flow {index} done in {time.perf_counter() - began:.0f} s; errors so far: {dict(stats.errors)}",
              flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mesh", type=int, default=512)
    parser.add_argument("--mesh-every", type=int, default=1)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--settle", type=float, default=60.0)
    parser.add_argument("--malloc-check", action="store_true")
    args = parser.parse_args()
    stats = Stats()
    with TemporaryDirectory() as tmp:
        users = photos(Path(tmp), args.flows)
        server = start_app(Path(tmp), own_temp=True, environment=MALLOC_CHECK if args.malloc_check else None)
        try:
            with Monitor(server) as monitor:
                idle = monitor.sample()
                flow(server, users[0], Stats(), args, index=-1)  # the warm-up flow
                time.sleep(args.settle)
                start = monitor.sample()
                began = time.perf_counter()
                with ThreadPoolExecutor(args.parallel) as pool:
                    list(pool.map(lambda job: flow(server, job[1], stats, args, job[0]), enumerate(users)))
                seconds = time.perf_counter() - began
                time.sleep(args.settle)
                end = monitor.sample()
            survived = server.alive()
        finally:
            server.stop()
            log = server.log.read_text(errors="replace")
    for words in ("Fatal Python error", "double free", "corrupted", "terminate called"):
        if words in log:
            print(f"server log: {words!r} found", file=sys.stderr)
    print(f"{'MALLOC_CHECK_=3; ' if args.malloc_check else ''}{args.flows} flows, {args.parallel} at a time "
          f"(refine {args.steps}, mesh {args.mesh}^3 every {args.mesh_every}, video "
          f"{args.frames} frames) in {seconds / 60:.1f} min; server {'survived' if survived else 'DIED'}, "
          f"exit status {server.process.returncode}")
    print(f"errors by kind: {dict(stats.errors)}; downloads: {dict(stats.downloads)}; largest (MiB): "
          + ", ".join(f"{kind} {size / MIB:.0f}" for kind, size in stats.largest.items()))
    print(f"peak RSS {monitor.peak['rss'] / MIB:.0f} MiB, session files {monitor.peak['workspace'] / MIB:.0f} MiB, "
          f"rest of the root {monitor.peak['cache'] / MIB:.0f} MiB")
    for name, before in (("the idle server", idle), ("after the warm-up flow", start)):
        print(f"{args.settle:.0f} s after the last close: RSS {(end['rss'] - before['rss']) / MIB:+.0f} MiB, disk "
              f"{(end['workspace'] + end['cache'] - before['workspace'] - before['cache']) / MIB:+.0f} MiB "
              f"from {name}")
    print("| endpoint | calls | p50 (s) | p95 (s) |\n|---|---|---|---|")
    for name, values in stats.latencies.items():
        p50, p95 = np.percentile(values, [50, 95])
        print(f"| /{name} | {len(values)} | {p50:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
