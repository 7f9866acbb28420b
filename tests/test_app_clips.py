"""The app's Video tab: its job (triplanenet.app.clip_jobs) in a session of the workspace, its turns at the model,
and its endpoints through a real server (gradio_client)."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from conftest import load_benchmark
from triplanenet.app import Workspace, clip_jobs
from triplanenet.app.turns import Turns
from triplanenet.clips.writing import SIDE_BY_SIDE
from triplanenet.pipeline import Pipeline

clips = load_benchmark("video_clips")
FACE_BOX = (100, 20, 356, 276)


def test_settings_and_uploads_are_checked():
    settings = clip_jobs.check_settings("orbit", 0, 15, 10)
    assert (settings.refine_steps, settings.fps, settings.max_seconds) == (0, 15.0, 10.0)
    for bad in (("input", -1, 15, 10), ("input", 0, 0, 10), ("input", 0, 15, 1000), ("input", "abc", 15, 10),
                ("input", 2.5, 15, 10), ("sideways", 0, 15, 10)):
        with pytest.raises(ValueError, match="must be"):  # "... must be a number between", "must be one of"
            clip_jobs.check_settings(*bad)
    assert str(clip_jobs.video_path({"video": {"path": "/tmp/a.mp4"}, "subtitles": None})) == "/tmp/a.mp4"
    with pytest.raises(ValueError, match="Upload or record a video"):
        clip_jobs.video_path(None)


def test_the_page_has_the_video_endpoints(tmp_path):
    import app

    workspace = Workspace(root=tmp_path / "outputs")
    demo = app.build_app(Pipeline.from_pretrained(), workspace, Turns())
    names = {dependency.get("api_name") for dependency in demo.config["dependencies"]}
    assert {"clip", "stop_clip"} <= names


@pytest.mark.slow
def test_stop_keeps_the_frames_made_and_the_session_owns_the_files(astronaut, tmp_path):
    photo = Image.open(astronaut).convert("RGB")
    motion = clips.smooth_motion(6, (100, 20), (60, 40), (1.0, 1.3))
    video = clips.moving_clip(photo, tmp_path / "moving.mp4", motion, 15.0)
    workspace = Workspace(root=tmp_path / "outputs")
    session = workspace.session("page-1")
    messages = []

    def report(fraction: float, message: str) -> None:
        messages.append((fraction, message))
        if message.startswith("inverting"):
            clip_jobs.STOPS.request("page-1")

    result = clip_jobs.run(Pipeline.from_pretrained(), session, video, clip_jobs.check_settings("frontal", 0, 15, 10),
                           report)
    assert result.stopped and result.frames == 4 and "Stopped: 4 of 6 frames" in result.notes[0]
    assert messages[-1] == (pytest.approx(0.25 + 0.75 * 4 / 6), "inverting: frame 4 of 6")
    assert all(path.parent.parent == session.folder for path in result.files)
    assert session.bytes_on_disk() == sum(path.stat().st_size for path in result.files)
    workspace.end("page-1")
    assert not any(path.exists() for path in result.files)


@pytest.mark.slow
def test_a_clip_job_lets_waiting_requests_use_the_model_between_batches(astronaut, tmp_path):
    """While another request holds the model, the clip job waits after its batch instead of going on."""
    import app

    video = clips.still_clip(face_frame(astronaut), tmp_path / "still.mp4", 8, 15.0)
    turns = Turns()
    handlers = app.Handlers(Pipeline.from_pretrained(), Workspace(root=tmp_path / "outputs"), turns)
    reports, first_batch = [], threading.Event()

    def progress(fraction: float, desc: str) -> None:
        reports.append(desc)
        if desc == "inverting: frame 4 of 8":
            first_batch.set()

    job = threading.Thread(target=lambda: reports.append(handlers.clip(
        str(video), "frontal", 0, 15, 10, None, SimpleNamespace(session_hash="page-1"), progress)))
    job.start()
    assert first_batch.wait(300), reports
    with turns.turn():  # granted between two batches: the job waits for it
        seen = len(reports)
        time.sleep(1.0)
        assert len(reports) == seen and turns.waiting() == 1
    job.join(300)
    assert reports[-2] == "inverting: frame 8 of 8" and "**8 frames**" in reports[-1][2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from app_server import start_app

    running = start_app(tmp_path_factory.mktemp("app"))
    yield running
    running.stop()


def face_frame(astronaut) -> Image.Image:
    """The astronaut's face and shoulders, 256 x 256."""
    return Image.open(astronaut).convert("RGB").crop(FACE_BOX)


@pytest.mark.server
def test_the_video_tab_through_the_server(server, astronaut, tmp_path):
    from app_server import wait_for
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    photo = face_frame(astronaut)
    short = clips.still_clip(photo, tmp_path / "short.mp4", 3, 5.0)
    page = Client(server.url, verbose=False, download_files=tmp_path / "downloads", analytics_enabled=False)
    side, files, info = page.predict(handle_file(short), "frontal", 0, 5, 10, api_name="/clip")
    assert "**3 frames**" in info and Path(side["video"] if isinstance(side, dict) else side).name == SIDE_BY_SIDE
    assert sorted(Path(f).name for f in files) == ["frames.json", "rendered.mp4", "side_by_side.mp4"]
    [table] = [f for f in files if f.endswith(".json")]
    assert len(json.loads(Path(table).read_text())["frames"]) == 3
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(AppError, match="notes.mp4 is not a video this program can read"):
        page.predict(handle_file(tmp_path / "notes.mp4"), "input", 0, 15, 10, api_name="/clip")

    other = Client(server.url, verbose=False, download_files=False, analytics_enabled=False)
    _, _, crop, camera = other.predict(handle_file(astronaut), 0, api_name="/align")
    other.predict(handle_file(crop["path"]), camera, "v2", api_name="/invert")
    long = clips.still_clip(photo, tmp_path / "long.mp4", 60, 15.0)
    job = page.submit(handle_file(long), "input", 0, 15, 10, api_name="/clip")
    inverting = lambda: any("inverting" in (p.desc or "") for p in job.status().progress_data or [])  # noqa: E731
    assert wait_for(inverting, seconds=600), "the clip job reported no inverted batch"
    other.predict(10, 0, api_name="/render")  # waits for one batch of the clip job, not for all of it
    assert not job.done(), "the clip job ended before the render: make the clip longer"
    page.predict(api_name="/stop_clip")
    side, files, info = job.result(timeout=300)
    summary = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert summary["stopped"] and 4 <= len(summary["frames"]) < 60 and "Stopped:" in info
    page.close(), other.close()
