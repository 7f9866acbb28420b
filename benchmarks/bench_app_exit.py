"""SIGTERM in the middle of each kind of job: exit status, seconds to exit, what the client heard, what was left.

    python benchmarks/bench_app_exit.py [--runs 5] [--jobs refine,mesh,video,align]

For each job and run: start the app (bundled model) in a fresh temporary folder,
reconstruct the astronaut in one client, start the job (``/refine`` 200 steps,
``/mesh`` 512^3, ``/video`` 240 frames, or ``/align`` of the photo), send SIGTERM
once the job has reported progress (``/align`` reports none: once it runs), and wait
for the process. Prints one row per job: exit statuses, seconds (max), whether
the client was told "The server is shutting down" (a job that finished first
counts as told), and files left in the folder. Issue 23's target: status 0 in at
most 10 s, 5 of 5 runs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from app_server import start_app, wait_for  # noqa: E402
from bench_allocator import astronaut  # noqa: E402
from bench_app_wait import connect, reconstruct  # noqa: E402
from gradio_client import handle_file  # noqa: E402

JOBS = {"refine": ("/refine", 200), "mesh": ("/mesh", 512), "video": ("/video", 240), "align": ("/align", None)}
"""Job -> (endpoint, setting); ``/align`` takes the photo and a face index."""
PROGRESS_SECONDS = 300
SHUTTING_DOWN = "shutting down"


def one_run(job: str, photo: Path) -> tuple[int, float, bool, int]:
    """SIGTERM during ``job``: (exit status, seconds to exit, client told or job done, files left)."""
    api_name, setting = JOBS[job]
    with TemporaryDirectory() as tmp:
        server = start_app(Path(tmp), own_temp=True)
        app = connect(server.url)
        reconstruct(app, photo)
        args = (handle_file(photo), 0) if setting is None else (setting,)
        submitted = app.submit(*args, api_name=api_name)
        if setting is None:
            wait_for(lambda: submitted.status().code.name == "PROCESSING", seconds=PROGRESS_SECONDS)
        else:
            wait_for(lambda: bool(submitted.status().progress_data), seconds=PROGRESS_SECONDS)
        start = time.monotonic()
        server.process.terminate()
        server.process.wait(timeout=120)
        seconds = time.monotonic() - start
        try:
            submitted.result()
            told = True
        except Exception as exc:  # what the client saw
            told = SHUTTING_DOWN in str(exc)
        left = sum(1 for path in (Path(tmp) / "tmp").rglob("*") if path.is_file())
        return server.process.returncode, seconds, told, left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", default=",".join(JOBS))
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        photo = astronaut(Path(tmp))
        print("| job | exit statuses | seconds to exit (max) | client told | files left |\n|---|---|---|---|---|")
        for job in args.jobs.split(","):
            results = [one_run(job, photo) for _ in range(args.runs)]
            statuses, seconds, told, left = zip(*results)
            print(f"| {job} | {' '.join(map(str, statuses))} | {max(seconds):.1f} | {sum(told)} of {len(told)} | "
                  f"{sum(left)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
