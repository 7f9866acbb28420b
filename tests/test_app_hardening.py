"""The app under hostile and careless clients (issue 12).

Unit tests of the shared checks (cameras, crop sizes) and of the session workspace
(least-recently-used eviction, idle lifetime of sessions with no page, byte cap,
served copies, stale folders), then ``app.py`` on 127.0.0.1 driven by
``gradio_client``: every bad input comes back as our own readable message, a
client whose session was evicted is told to start again, and nothing is left on
disk after SIGTERM, or after ``kill -9`` once the next server starts.
"""
from __future__ import annotations

import io
import math
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from triplanenet import cameras
from app_server import wait_for
from triplanenet.app.workspace import OWNER_FILE, Workspace, sweep_stale_roots
from triplanenet.app.turns import Turns
from triplanenet.cameras import as_cameras
from triplanenet.image_tensors import MAX_CROP_SIDE, as_images
from triplanenet.inversion.result import Inversion
from triplanenet.outputs.views import View

CROP_RSS_LIMIT_MIB = 300
"""A refused 12000x12000 crop must not be decoded: the server's RSS grows by less than this."""


def rolled(c: torch.Tensor, degrees: float) -> torch.Tensor:
    """Labels [N,25] of ``c`` turned by ``degrees`` about each camera's viewing axis (a photo's head roll)."""
    cam2world, K = cameras.split(c)
    a = math.radians(degrees)
    roll = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    turned = cam2world.clone()
    turned[:, :3, :3] = cam2world[:, :3, :3] @ roll
    return cameras.label(turned, K)


def edited(index: int, value: float, c: torch.Tensor | None = None) -> list[float]:
    """EG3D's frontal camera (or ``c``) with number ``index`` of 25 set to ``value``."""
    values = (cameras.camera() if c is None else c)[0].tolist()
    values[index] = value
    return values


def turned_away() -> list[float]:
    """A camera at the right distance whose viewing axis points 90 degrees away from the head."""
    cam2world, K = cameras.split(cameras.camera())
    quarter = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    cam2world[:, :3, :3] = cam2world[:, :3, :3] @ quarter
    return cameras.label(cam2world, K)[0].tolist()


# Cameras and crops: one check shared by the app, the CLI and the Python API.

def test_eg3d_cameras_pass_the_check():
    c = torch.cat([cameras.camera(torch.linspace(-0.8, 0.8, 5), 0.3), rolled(cameras.camera(0.4, -0.2), 25.0)])
    assert torch.equal(as_cameras(c), c)
    assert as_cameras(cameras.camera(0.0, 0.0, radius=3.5, focal=6.0)[0].tolist(), 3).shape == (3, 25)


@pytest.mark.parametrize("camera, words", [
    ([0.0] * 25, "must end with the row 0, 0, 0, 1"),
    ([1e38] * 25, "must end with the row 0, 0, 0, 1"),
    ([float("nan")] * 25, "NaN"),
    (edited(0, 2.0), "does not hold a rotation"),
    (edited(0, -1.0), "does not hold a rotation"),  # a mirror: determinant -1
    (cameras.camera(0.0, 0.0, radius=40.0)[0].tolist(), "40 units from the head"),
    (cameras.camera(0.0, 0.0, radius=0.5)[0].tolist(), "0.5 units from the head"),
    (turned_away(), "looks 90 degrees away from the head"),
    (cameras.camera(0.0, 0.0, focal=50.0)[0].tolist(), "focal lengths (50, 50)"),
    (edited(20, 5.0), "focal lengths (4.265, 5)"),
    (edited(17, 0.3), "must be [[f, 0, p], [0, f, p], [0, 0, 1]]"),
    (edited(24, 2.0), "must be [[f, 0, p], [0, f, p], [0, 0, 1]]"),
    (edited(18, 0.9), "principal point (0.9, 0.5)"),
])
def test_cameras_that_cannot_see_the_head_are_refused_with_what_is_wrong(camera, words):
    with pytest.raises(ValueError) as error:
        as_cameras(camera, 1)
    assert words in str(error.value)


def test_a_second_bad_camera_is_named():
    with pytest.raises(ValueError, match="Camera 1 is 40 units"):
        as_cameras(torch.cat([cameras.camera(), cameras.camera(radius=40.0)]))


def test_crops_larger_than_the_bound_are_refused():
    side = MAX_CROP_SIDE + 2
    with pytest.raises(ValueError, match=f"at most {MAX_CROP_SIDE} px, got {side}x{side}"):
        as_images(Image.new("RGB", (side, side)), 128)
    with pytest.raises(ValueError, match=f"at most {MAX_CROP_SIDE} px"):
        as_images(np.zeros((side, side, 3), np.uint8), 128)


# Turns at the model.

def started_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_short_work_goes_between_the_units_of_a_long_job():
    turns, order = Turns(), []

    def render() -> None:
        with turns.turn():
            order.append("render")

    def refinement_steps():
        for step in range(3):
            order.append(f"step {step}")
            if step == 0:
                threads.append(started_thread(render))
                assert wait_for(lambda: turns.waiting() == 1, 10)
            yield step

    threads: list[threading.Thread] = []
    assert list(turns.each_in_a_turn(refinement_steps())) == [0, 1, 2]
    threads[0].join(10)
    assert order == ["step 0", "render", "step 1", "step 2"]


def test_a_unit_passes_its_turn_to_those_waiting_and_closing_refuses_every_turn():
    turns, order = Turns(), []

    def render() -> None:
        with turns.turn():
            order.append("render")

    with turns.turn():
        turns.pass_turn()  # no one waits: nothing happens
        order.append("mesh chunk 1")
        thread = started_thread(render)
        assert wait_for(lambda: turns.waiting() == 1, 10)
        turns.pass_turn()
        order.append("mesh chunk 2")
    thread.join(10)
    assert order == ["mesh chunk 1", "render", "mesh chunk 2"]

    refused: list[str] = []

    def refused_render() -> None:
        try:
            with turns.turn():
                order.append("rendered while closing")
        except ValueError as error:
            refused.append(str(error))

    with pytest.raises(ValueError, match="shutting down"):
        with turns.turn():
            thread = started_thread(refused_render)
            assert wait_for(lambda: turns.waiting() == 1, 10)
            turns.close("shutting down")
            turns.pass_turn()
    thread.join(10)
    assert refused == ["shutting down"] and order[-1] == "mesh chunk 2" and turns.wait_until_free(1)
    with pytest.raises(ValueError, match="shutting down"):
        with turns.turn():
            pass
    alone = Turns()
    with pytest.raises(ValueError, match="closed"):
        with alone.turn():
            alone.close("closed")
            alone.pass_turn()  # no one waits, but the job must stop at its next unit
    assert alone.wait_until_free(1)


def test_shutting_down_waits_for_an_errand_and_refuses_its_result():
    turns, started, release = Turns(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def alignment() -> None:
        try:
            with turns.errand():
                started.set()
                release.wait(10)
            outcome.append("result sent")
        except ValueError as error:
            outcome.append(str(error))

    thread = started_thread(alignment)
    assert started.wait(10)
    turns.close("shutting down")
    assert not turns.wait_until_free(0.2), "an errand in progress must keep the server up"
    release.set()
    assert turns.wait_until_free(10)
    thread.join(10)
    assert outcome == ["shutting down"]
    with pytest.raises(ValueError, match="shutting down"), turns.errand():
        outcome.append("started after closing")
    assert outcome == ["shutting down"]


# The session workspace.

class Clock:
    """Seconds that move only when told to (``advance``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tiny_result() -> tuple[Inversion, View]:
    """A small inversion and input view: enough to be a session's current result."""
    planes = torch.zeros(1, 3, 2, 4, 4)
    inversion = Inversion(torch.zeros(1, 2, 8), planes, planes, cameras.camera())
    view = View(cameras.camera()[0], np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2), np.float32),
                np.zeros((2, 2), np.float32))
    return inversion, view


def started(workspace: Workspace, key: str) -> object:
    session = workspace.session(key)
    session.start(*tiny_result())
    return session


def test_the_least_recently_used_session_is_evicted_and_its_owner_told_to_start_again(tmp_path):
    workspace = Workspace(tmp_path / "root", served=tmp_path / "served", max_sessions=2)
    a, b = started(workspace, "a"), started(workspace, "b")
    depth = a.save_depth(np.zeros((8, 8), np.float32))
    copy = tmp_path / "served" / "0123abcd" / depth.name  # where Gradio puts its served copy
    copy.parent.mkdir(parents=True)
    copy.write_bytes(depth.read_bytes())
    workspace.require(a)  # a is now more recently used than b
    started(workspace, "c")
    assert list(workspace.sessions) == ["a", "c"]
    with pytest.raises(ValueError, match="removed to make room: the server keeps the 2 most recently used heads. "
                                         "Press Reconstruct to start again"):
        workspace.require(b)
    workspace.session("d")
    assert list(workspace.sessions) == ["c", "d"] and a.inversion is None
    assert not depth.exists() and not copy.exists() and not copy.parent.exists() and not a.folder.exists()
    with pytest.raises(ValueError, match="start again"):
        a.save_depth(np.zeros((8, 8), np.float32))
    assert not a.folder.exists(), "an evicted session wrote a file"
    started(workspace, "a")  # its owner starts again
    assert list(workspace.sessions) == ["d", "a"]


def test_sessions_with_no_open_page_expire_sooner(tmp_path):
    clock = Clock()
    workspace = Workspace(tmp_path / "root", pageless_seconds=60, clock=clock)
    workspace.page_opened("page")
    page, script = started(workspace, "page"), started(workspace, "script")
    clock.advance(50)
    workspace.require(script)
    clock.advance(50)
    workspace.sweep()
    assert set(workspace.sessions) == {"page", "script"}
    clock.advance(11)
    workspace.sweep()
    assert list(workspace.sessions) == ["page"] and page.inversion is not None
    with pytest.raises(ValueError, match="after 1 minutes without use by a client with no open page"):
        workspace.require(script)


def test_session_files_stay_under_the_byte_cap(tmp_path):
    megabyte = np.zeros(2**18, np.float32)
    cap = 3.5 * 2**20
    workspace = Workspace(tmp_path / "root", max_bytes=cap)
    sessions = [started(workspace, key) for key in "abc"]
    sessions[0].save_depth(megabyte)
    sessions[1].save_depth(megabyte)
    sessions[2].save_depth(megabyte)
    assert set(workspace.sessions) == {"a", "b", "c"}
    sessions[2].save_depth(megabyte)  # a fourth megabyte: the least recently used session goes
    assert list(workspace.sessions) == ["b", "c"]
    with pytest.raises(ValueError, match="to make room on the server's disk"):
        workspace.require(sessions[0])
    assert sum(f.stat().st_size for f in workspace.root.rglob("*.npy")) <= cap


def test_a_session_with_a_request_in_flight_is_never_evicted(tmp_path):
    megabyte = np.zeros(2**18, np.float32)
    workspace = Workspace(tmp_path / "root", max_sessions=1, max_bytes=int(1.5 * 2**20))
    busy = started(workspace, "busy")
    with workspace.serving(busy):
        idle = started(workspace, "idle")  # over the count: only an idle session may go, and there is none
        assert list(workspace.sessions) == ["busy", "idle"]
        busy.save_depth(megabyte)
        idle.save_depth(megabyte)  # over the bytes: the busy session's file stays
        assert busy.inversion is not None and all(path.exists() for path in busy.written)
    started(workspace, "next")  # both idle now: the count holds again
    assert list(workspace.sessions) == ["next"]
    with pytest.raises(ValueError, match="to make room"):
        workspace.require(busy)


def test_a_session_without_a_head_is_not_evicted_while_busy(tmp_path):
    """A clip job's session has no head (no inversion) but has a request in flight."""
    workspace = Workspace(tmp_path / "root", max_sessions=1)
    clip = workspace.session("clip")
    with workspace.busy(clip):
        started(workspace, "photo")
        assert list(workspace.sessions) == ["clip", "photo"]
    started(workspace, "next")
    assert list(workspace.sessions) == ["next"]


def dead_pid() -> int:
    """The pid of a process that has exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_folders_of_dead_processes_are_swept_at_start_up(tmp_path):
    import os

    stale = tmp_path / f"triplanenet-app-{dead_pid()}"
    (stale / "abc").mkdir(parents=True)
    (stale / "abc" / "head-1.glb").write_bytes(b"x" * 100)
    live = tmp_path / f"triplanenet-app-{os.getpid()}"
    live.mkdir()
    assert sweep_stale_roots(tmp_path) == [stale]
    assert not stale.exists() and live.exists()

    fixed = tmp_path / "fixed"  # $TRIPLANENET_APP_OUTPUTS left by a process killed with -9
    (fixed / "session-1").mkdir(parents=True)
    (fixed / ("ab" * 32)).mkdir(parents=True)  # a folder of Gradio's cache
    (fixed / "session-1" / "inversion-1.safetensors").write_bytes(b"x")
    (fixed / OWNER_FILE).write_text(str(dead_pid()))
    workspace = Workspace(fixed)
    assert sorted(p.name for p in fixed.iterdir()) == [OWNER_FILE]
    assert (fixed / OWNER_FILE).read_text() == str(os.getpid())
    workspace.remove()
    assert not fixed.exists()

    foreign = tmp_path / "foreign"  # a folder that was never ours is not emptied
    (foreign / "photos").mkdir(parents=True)
    Workspace(foreign).remove()
    assert (foreign / "photos").is_dir()


# The served app.

gradio_client = pytest.importorskip("gradio_client", reason="gradio-client is not installed (make test installs requirements.txt)")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from app_server import AppServer, start_app  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> AppServer:
    running = start_app(tmp_path_factory.mktemp("app"), "--max-sessions", "2", own_temp=True)
    yield running
    running.stop()


def connect(server: AppServer) -> Client:
    return Client(server.url, verbose=False, download_files=False, analytics_enabled=False)


def reconstruct(app: Client, photo: Path) -> tuple[str, list[float]]:
    """Align and invert (w+, the quickest): the crop's server path and the camera."""
    _, _, crop, camera = app.predict(handle_file(photo), 0, api_name="/align")
    app.predict(handle_file(crop["path"]), camera, "w+", api_name="/invert")
    return crop["path"], camera


def refused(app: Client, *args, api_name: str) -> str:
    """The message of the error ``api_name`` answers ``args`` with (checked to be ours, not Gradio's)."""
    with pytest.raises(AppError) as error:
        app.predict(*args, api_name=api_name)
    message = str(error.value)
    assert "upstream" not in message and "Traceback" not in message, message
    return message


def bad_crops(folder: Path, astronaut: Path) -> dict[Path, str]:
    """Crop files that are not usable images, and the words our refusal of each holds."""
    files = {"notes.png": b"these bytes are not an image", "empty.png": b"",
             "truncated.png": astronaut.read_bytes()[:5000]}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    Image.new("1", (13_000, 13_000)).save(folder / "bomb.png")  # 20 kB that decode to 169 megapixels
    Image.new("1", (12_000, 12_000)).save(folder / "huge.png")  # 144 megapixels: fine for /align, not a crop
    return {folder / "notes.png": "not an image", folder / "empty.png": "empty",
            folder / "truncated.png": "could not be decoded", folder / "bomb.png": "decompression-bomb",
            folder / "huge.png": "The image is 12000x12000 pixels"}


@pytest.mark.server
def test_bad_crops_and_cameras_get_our_messages_without_decoding(server, astronaut, tmp_path):
    app = connect(server)
    crop, camera = reconstruct(app, astronaut)
    rss_before = server.rss_kib()
    for path, words in bad_crops(tmp_path, astronaut).items():
        assert words in refused(app, handle_file(path), camera, "w+", api_name="/invert"), path.name
    growth = (server.rss_kib() - rss_before) / 1024
    assert growth < CROP_RSS_LIMIT_MIB, f"RSS grew by {growth:.0f} MiB: a refused crop was decoded"
    for bad, words in [([0.0] * 25, "must end with the row 0, 0, 0, 1"), ([1e38] * 25, "must end with the row"),
                       (cameras.camera(radius=40.0)[0].tolist(), "40 units from the head"),
                       ("abc", "camera must be 25 numbers"), ([], "Align a photo first")]:
        assert words in refused(app, handle_file(crop), bad, "w+", api_name="/invert")
    assert "mode 'v9' is not available" in refused(app, handle_file(crop), camera, "v9", api_name="/invert")
    assert server.alive()
    app.close()


def raw_call(server: AppServer, api_name: str, data: list, session_hash: str) -> str:
    """Call ``api_name`` with raw JSON (NaN included, as Python writes it) in a session; the event stream's text."""
    import json
    import urllib.request

    url = f"{server.url}gradio_api/call/{api_name}"
    body = json.dumps({"data": data, "session_hash": session_hash}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}/{event_id}", timeout=120) as response:
        return response.read().decode()


@pytest.mark.parametrize("api_name, args, words", [
    ("views", ["abc"], "The number of views must be a number between 1 and 16, got 'abc'"),
    ("views", [None], "The number of views must be a number between 1 and 16, got None"),
    ("mesh", [float("nan")], "The mesh resolution must be a number between 64 and 512, got nan"),
    ("mesh", [[64]], "The mesh resolution must be a number between 64 and 512, got [64]"),
    ("video", [None], "The number of video frames must be a number between 8 and 240, got None"),
    ("render", [float("nan"), 0], "Yaw (degrees) must be a number between -45 and 45, got nan"),
    ("render", [0, "abc"], "Pitch (degrees) must be a number between -25 and 25, got 'abc'"),
    ("render", [float("inf"), 0], "Yaw (degrees) must be a number between -45 and 45, got inf"),
])
@pytest.mark.server
def test_bad_settings_get_our_messages(server, astronaut, api_name, args, words):
    app = connect(server)
    reconstruct(app, astronaut)
    answer = raw_call(server, api_name, args, app.session_hash)
    assert "event: error" in answer and words in answer, answer
    assert len(app.predict(1, api_name="/views")) == 1, "the session does not work after its error"
    app.close()


@pytest.mark.server
def test_an_evicted_client_is_told_to_start_again(server, astronaut):
    first, second, third = connect(server), connect(server), connect(server)
    reconstruct(first, astronaut)
    reconstruct(second, astronaut)
    reconstruct(third, astronaut)  # the server keeps 2: the first client's head goes
    assert "Press Reconstruct to start again" in refused(first, 2, api_name="/views")
    assert len(second.predict(2, api_name="/views")) == 2
    reconstruct(first, astronaut)
    assert len(first.predict(2, api_name="/views")) == 2
    for app in (first, second, third):
        app.close()


@pytest.mark.server
def test_session_files_are_served_where_they_are_and_go_with_the_session(server, astronaut):
    app = connect(server)
    reconstruct(app, astronaut)
    served = Path(app.predict(api_name="/inversion")["path"])
    assert served.parent.parent == server.sessions and served.parent.name.startswith("session-")
    assert list(server.sessions.rglob(served.name)) == [served], "Gradio copied the session's file"
    app.close()
    assert wait_for(lambda: not served.parent.exists()), "the session's files outlived the session"


def leftovers(folder: Path) -> list[str]:
    """Files and app roots under ``folder/tmp``, relative to it.

    (Gradio makes an empty ``gradio/vibe_edit_history`` folder in the temporary
    directory when it is imported, before the app can point it elsewhere.)
    """
    tmp = folder / "tmp"
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file() or p.name.startswith("triplanenet"))


@pytest.mark.server
def test_nothing_is_left_on_disk_after_sigterm_or_after_kill_9_and_a_restart(astronaut, tmp_path):
    first = start_app(tmp_path, own_temp=True)
    app = connect(first)
    reconstruct(app, astronaut)
    app.predict(api_name="/inversion")
    assert first.sessions.exists()
    first.stop()  # SIGTERM
    assert first.process.returncode == 0 and leftovers(tmp_path) == [], leftovers(tmp_path)

    killed = start_app(tmp_path, own_temp=True)
    app = connect(killed)
    reconstruct(app, astronaut)
    app.predict(api_name="/inversion")
    killed.process.kill()
    killed.process.wait()
    assert killed.sessions.exists(), "nothing to sweep: the test proves nothing"
    restarted = start_app(tmp_path, own_temp=True)
    assert not killed.sessions.exists(), "the dead server's folder was not swept at start-up"
    restarted.stop()
    assert leftovers(tmp_path) == [], leftovers(tmp_path)


EXIT_SECONDS = 10


@pytest.mark.parametrize("api_name, setting", [("/refine", 200), ("/mesh", 512), ("/video", 240), ("/align", None)])
@pytest.mark.server
def test_sigterm_during_long_work_exits_cleanly_and_tells_the_client(astronaut, tmp_path, api_name, setting):
    running = start_app(tmp_path, own_temp=True)
    app = connect(running)
    reconstruct(app, astronaut)
    if setting is None:  # an alignment reports no progress: it is in progress once the server is told of it
        job = app.submit(handle_file(astronaut), 0, api_name=api_name)
        assert wait_for(lambda: job.status().code.name == "PROCESSING", seconds=60), "the alignment never started"
    else:
        job = app.submit(setting, api_name=api_name)
        assert wait_for(lambda: job.status().progress_data, seconds=120), "the job reported no progress"
    start = time.monotonic()
    running.process.terminate()
    running.process.wait(timeout=60)
    seconds = time.monotonic() - start
    assert running.process.returncode == 0, running.log.read_text()[-2000:]
    assert seconds <= EXIT_SECONDS, f"the server took {seconds:.1f} s to exit"
    assert leftovers(tmp_path) == [], leftovers(tmp_path)
    with pytest.raises(AppError, match="The server is shutting down"):
        job.result()


@pytest.mark.server
def test_a_render_goes_through_while_another_client_refines_the_most_steps_allowed(server, astronaut):
    refiner, viewer = connect(server), connect(server)
    reconstruct(refiner, astronaut)
    reconstruct(viewer, astronaut)
    job = refiner.submit(200, api_name="/refine")  # minutes of work, one turn at the model per step
    assert wait_for(lambda: job.status().progress_data, seconds=120), "the refinement reported no progress"
    image, _ = viewer.predict(20, 0, api_name="/render")
    assert Image.open(image["path"]).size[0] > 0
    assert not job.done(), "the render waited for the whole refinement"
    job.cancel()
    refiner.close()
    viewer.close()


INLINE_RSS_LIMIT_MIB = 50
"""A refused inline image must not be decoded: the server's RSS grows by less than this."""


def refused_inline_growth(server, app) -> float:
    """MiB the server's RSS grows by while it refuses a 56 MiB ``data:`` URL (checking the refusal's message).

    The body-size limit in front of Gradio answers 413 before the body is parsed.
    """
    import urllib.error

    rss_before = server.rss_kib()
    huge = "data:image/png;base64," + "A" * (56 * 2**20)  # 42 MiB once decoded
    with pytest.raises(urllib.error.HTTPError) as refused:
        raw_call(server, "align", [{"url": huge, "meta": {"_type": "gradio.FileData"}}, 0], app.session_hash)
    message = refused.value.read().decode()
    assert refused.value.code == 413 and "uploads are limited to 40 MB" in message, message[:300]
    return (server.rss_kib() - rss_before) / 1024


@pytest.mark.server
def test_inline_images_go_through_the_upload_limits(server, astronaut):
    import base64

    app = connect(server)
    inline = "data:image/png;base64," + base64.b64encode(astronaut.read_bytes()).decode()
    answer = raw_call(server, "align", [{"url": inline, "meta": {"_type": "gradio.FileData"}}, 0], app.session_hash)
    assert "event: complete" in answer and "1 face found" in answer, answer[:300]
    refused_inline_growth(server, app)
    buffer = io.BytesIO()
    Image.new("1", (13_000, 13_000)).save(buffer, "PNG")
    inline = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    answer = raw_call(server, "align", [{"url": inline, "meta": {"_type": "gradio.FileData"}}, 0], app.session_hash)
    assert "event: error" in answer and "decompression-bomb" in answer, answer[:300]
    app.close()


@pytest.mark.server
def test_a_refused_inline_image_leaves_memory_as_it_was(server):
    growth = refused_inline_growth(server, connect(server))
    assert growth < INLINE_RSS_LIMIT_MIB, f"RSS grew by {growth:.0f} MiB: a refused inline image was kept"


CONFIG_RSS_LIMIT_MIB = 100
"""Page configs fetched at once may grow the server by less than this (a copy of the models is about 200 MiB)."""


@pytest.mark.server
def test_page_configs_fetched_at_once_do_not_copy_the_models(server):
    """Every page load and gradio_client connection fetches /config, which Gradio deep-copies."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    rss_before = server.rss_kib()
    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(lambda _: len(urllib.request.urlopen(f"{server.url}config", timeout=60).read()),
                              range(8)))
    growth = (server.rss_kib() - rss_before) / 1024
    assert min(sizes) > 0 and growth < CONFIG_RSS_LIMIT_MIB, f"8 configs grew the server by {growth:.0f} MiB"


@pytest.mark.server
def test_the_owner_file_is_not_served(server):
    import urllib.error
    import urllib.request

    owner = server.sessions / OWNER_FILE
    assert owner.exists()
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{server.url}gradio_api/file={owner}", timeout=30)
    assert error.value.code in (403, 404)


def test_a_live_sessions_files_are_kept_fresh_for_gradios_cache_sweep(tmp_path):
    session = started(Workspace(tmp_path / "root"), "a")
    path = session.save_depth(np.zeros((8, 8), np.float32))
    before = path.stat().st_ctime_ns
    time.sleep(0.05)
    session.keep_fresh()
    assert path.stat().st_ctime_ns > before


@pytest.mark.server
def test_files_that_are_not_uploads_get_our_message(server):
    app = connect(server)
    for path in ("/etc/passwd", "../../../etc/passwd", str(server.sessions / OWNER_FILE), "/no/such/photo.png"):
        answer = raw_call(server, "align", [{"path": path, "meta": {"_type": "gradio.FileData"}}, 0], app.session_hash)
        assert "event: error" in answer and "must be one of its uploads" in answer, answer[:300]
    answer = raw_call(server, "align", [{"path": ["not", "a", "path"]}, 0], app.session_hash)
    assert "event: error" in answer and "must be one of its uploads" in answer, answer[:300]
    assert "InvalidPathError" not in server.log.read_text()
    app.close()
