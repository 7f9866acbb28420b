"""CPU timings of semantic edits (:mod:`triplanenet.editing`).

* bundled model, v2 inversion of held-out head 0: a slider release (the edit from an :class:`Editor` whose
  tri-plane correction exists, then the app's novel view at yaw 20 degrees in fast mode), the first release
  (which also computes the correction), and applying an edit the way the app does (edit, 5-view gallery,
  depth at the photo's camera, 256^3 mesh);
* the app (``app.py`` served on 127.0.0.1 with ``--threads`` threads, driven by ``gradio_client``; the astronaut
  inverted with v2): a slider release (``/edit_view``: the edit and the view at yaw 20 degrees, as the page asks
  for it), and Apply edit with what the page chains after it (``/edit``, then ``/views`` of 5, ``/depth`` and
  ``/mesh`` at the page's 256^3), each run with other amounts;
* full-size FFHQ-512 architecture (random weights: timing does not depend on their values): the principal
  component directions (:func:`~triplanenet.editing.directions.component_directions`, 20,000 samples).

Medians of ``--runs`` after one warm-up: wall seconds, and CPU seconds per thread (what a call takes on
otherwise idle cores; the CPU here is shared; for the app, the server process's CPU time).

    python benchmarks/bench_edit.py [--runs 3] [--threads 2]
"""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from timing import benchmark_arguments, median_wall_and_cpu
from triplanenet import invert, load_inverter
from triplanenet.app import steps
from triplanenet.configs import get as get_config
from triplanenet.editing import Editor, directions_for
from triplanenet.editing.directions import component_directions
from triplanenet.evaluation import ground_truth
from triplanenet.models.generator import TriPlaneGenerator
from triplanenet.outputs.views import input_view

AMOUNTS = {"smile": 1.5, "glasses": 2.0}
SLIDER_YAW = 20.0
APP_VIEWS = 5
APP_MESH = 256


def bundled_rows(runs: int) -> list[tuple[str, tuple[float, float]]]:
    """Slider release, first release and apply, on the bundled model."""
    inverter = load_inverter("bundled")
    truth = ground_truth(0, inverter.decoder.img_resolution)
    inversion = invert(inverter, truth.image[:1], truth.cameras[:1])
    directions = directions_for("bundled", inverter.decoder)
    editor = Editor(inversion, directions)

    def release() -> None:
        steps.novel_view(editor(AMOUNTS), SLIDER_YAW, 0.0)

    def first_release() -> None:
        steps.novel_view(Editor(inversion, directions)(AMOUNTS), SLIDER_YAW, 0.0)

    def apply() -> None:
        edited = editor(AMOUNTS)
        steps.views(edited, APP_VIEWS)
        steps.depth(input_view(edited))
        steps.mesh(edited, 256)

    return [("bundled: slider release (edit + view)", median_wall_and_cpu(release, runs)),
            ("bundled: first release (+ correction)", median_wall_and_cpu(first_release, runs)),
            ("bundled: apply (edit, 5 views, depth, 256^3 mesh)", median_wall_and_cpu(apply, runs))]


def app_rows(runs: int, threads: int) -> list[tuple[str, tuple[float, float]]]:
    """Slider release and Apply edit (with the views, depth and mesh the page chains) through ``app.py``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from app_server import AppServer, start_app
    from bench_allocator import astronaut
    from gradio_client import Client, handle_file

    def timed(server: AppServer, calls: Callable[[float], object]) -> tuple[float, float]:
        """Median wall and server CPU seconds per thread of ``calls(amount)``, a new amount each run."""
        calls(0.5)
        wall, cpu = [], []
        for run in range(runs):
            start, start_cpu = time.perf_counter(), server.cpu_seconds()
            calls(1.0 + run * 0.1)
            wall.append(time.perf_counter() - start)
            cpu.append((server.cpu_seconds() - start_cpu) / threads)
        return statistics.median(wall), statistics.median(cpu)

    with TemporaryDirectory() as tmp:
        server = start_app(Path(tmp), own_temp=True, environment={"OMP_NUM_THREADS": str(threads)})
        try:
            app = Client(server.url, verbose=False, download_files=False, analytics_enabled=False)
            _, _, crop, camera = app.predict(handle_file(astronaut(Path(tmp))), 0, api_name="/align")
            app.predict(handle_file(crop["path"]), camera, "v2", api_name="/invert")

            def release(amount: float) -> None:
                app.predict(SLIDER_YAW, 0, {"smile": amount, "glasses": 2.0}, api_name="/edit_view")

            def apply(amount: float) -> None:
                app.predict({"smile": amount, "glasses": 2.0}, api_name="/edit")
                app.predict(APP_VIEWS, api_name="/views")
                app.predict(api_name="/depth")
                app.predict(APP_MESH, api_name="/mesh")

            return [("app: slider release (/edit_view)", timed(server, release)),
                    (f"app: apply (/edit, then {APP_VIEWS} views, depth, {APP_MESH}^3 mesh)", timed(server, apply))]
        finally:
            server.stop()


def full_size_row(runs: int) -> tuple[str, tuple[float, float]]:
    """Principal components of the full-size FFHQ-512 mapping network (random weights)."""
    torch.manual_seed(0)
    kwargs, _ = get_config("ffhq512-128")
    generator = TriPlaneGenerator(**kwargs).eval()
    return "FFHQ-512 architecture: 10 components", median_wall_and_cpu(lambda: component_directions(generator), runs)


def main() -> None:
    args = benchmark_arguments(__doc__.splitlines()[0])
    print(f"| what ({args.threads} threads, median of {args.runs}) | wall s | CPU s per thread |\n| --- | --- | --- |")
    for name, (wall, cpu) in [*bundled_rows(args.runs), *app_rows(args.runs, args.threads), full_size_row(args.runs)]:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
