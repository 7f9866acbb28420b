"""The app's Video tab: its job (triplanenet.app.clip_jobs) in a session of the workspace, and its endpoints."""
from __future__ import annotations

import pytest
from PIL import Image

from conftest import load_benchmark
from triplanenet.app import Workspace, clip_jobs
from triplanenet.app.turns import Turns
from triplanenet.pipeline import Pipeline

clips = load_benchmark("video_clips")


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
