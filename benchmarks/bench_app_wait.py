"""How long a ``/render`` waits while another client refines (bundled model, app on 127.0.0.1).

    python benchmarks/bench_app_wait.py [--steps 200] [--renders 20] [--tree DIR]

One client aligns, inverts (v2) and refines the astronaut with ``--steps`` steps
(default: the most the API allows); meanwhile a second client, with a head of its
own, asks for a ``/render`` every ``PAUSE`` seconds, ``--renders`` times (or until
the refinement ends), and the refinement is then cancelled. Prints the render
latencies (p50, p95, max) and a render's time alone before. ``--tree`` runs the
``app.py`` of another checkout of this project (e.g. an older commit, unpacked with
``git archive``), to compare in one run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from app_server import start_app  # noqa: E402
from bench_allocator import astronaut  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

PAUSE = 1.0
"""Seconds between the end of one render and the next request."""
REFINE_TIMEOUT = 1800


def connect(url: str) -> Client:
    return Client(url, verbose=False, download_files=False, analytics_enabled=False,
                  httpx_kwargs={"timeout": REFINE_TIMEOUT})


def reconstruct(app: Client, photo: Path) -> None:
    _, _, crop, camera = app.predict(handle_file(photo), 0, api_name="/align")
    app.predict(handle_file(crop["path"]), camera, "v2", api_name="/invert")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--tree", type=Path, default=None, help="another checkout whose app.py to run")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        photo = astronaut(Path(tmp))
        environment = {"PYTHONPATH": str(args.tree)} if args.tree else {}
        server = start_app(Path(tmp), own_temp=True, environment=environment,
                           app=(args.tree / "app.py") if args.tree else None)
        try:
            refiner, viewer = connect(server.url), connect(server.url)
            reconstruct(refiner, photo)
            reconstruct(viewer, photo)
            start = time.perf_counter()
            viewer.predict(10, 0, api_name="/render")
            alone = time.perf_counter() - start
            job = refiner.submit(args.steps, api_name="/refine")
            while not job.status().progress_data:
                time.sleep(PAUSE)  # the refinement is under way
            waits = []
            while not job.done() and len(waits) < args.renders:
                start = time.perf_counter()
                viewer.predict(10 + len(waits) % 20, 0, api_name="/render")
                waits.append(time.perf_counter() - start)
                time.sleep(PAUSE)
            job.cancel()
        finally:
            server.stop()
    p50, p95 = np.percentile(waits, [50, 95])
    print(f"app: {args.tree or 'this tree'}; a render alone {alone:.2f} s; renders during a refinement of "
          f"{args.steps} steps:")
    print(f"| renders during it | p50 (s) | p95 (s) | max (s) |\n|---|---|---|---|\n"
          f"| {len(waits)} | {p50:.2f} | {p95:.2f} | {max(waits):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
