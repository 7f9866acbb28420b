"""The app's video jobs (the **Video** tab): an uploaded clip -> :func:`~triplanenet.clips.invert_video` into the
session's folder, with progress and a Stop that keeps what is done.

The files go in a ``clip-<id>`` folder inside the session's folder, are counted in the session's bytes (the
workspace's disk bound) and are deleted with the session, like every other download. Stop is a flag per
session key (:data:`STOPS`): the job sees it after its current batch and writes the frames made so far.
"""
from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..clips import ClipProgress, ClipResult, invert_video
from ..clips.decode import FPS_LIMITS, SECONDS_LIMITS
from ..clips.frame_heads import check_camera
from ..pipeline import Pipeline
from ..refinement import STEP_LIMITS
from .session import EVICTED, Session
from .steps import check_number

REFINE_STEPS = (0, 20)
"""Range of the tab's refinement slider (each step costs about half a second per frame)."""
TRACKING_SHARE = 0.25
"""Share of the progress bar the tracking pass fills (it costs about a quarter of a frame's time)."""


class StopFlags:
    """Stop requests by session key, taken by the job that runs for that key."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def request(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def take(self, key: str) -> bool:
        """Whether a stop was requested for ``key`` (and forget it)."""
        with self._lock:
            requested = key in self._keys
            self._keys.discard(key)
            return requested


STOPS = StopFlags()


@dataclass(frozen=True)
class ClipSettings:
    """A job's checked settings."""

    camera: str
    refine_steps: int
    fps: float
    max_seconds: float


def check_settings(camera: object, refine_steps: object, fps: object, max_seconds: object) -> ClipSettings:
    """The tab's settings checked (ValueError with the allowed range otherwise)."""
    steps = check_number("The refinement steps", refine_steps, (REFINE_STEPS[0], STEP_LIMITS[1]))
    if not steps.is_integer():
        raise ValueError(f"The refinement steps must be a whole number, got {refine_steps!r:.40}")
    return ClipSettings(check_camera(str(camera)), int(steps), check_number("The frames per second", fps, FPS_LIMITS),
                        check_number("The maximum seconds", max_seconds, SECONDS_LIMITS))


def video_path(video: str | dict | None) -> Path:
    """The uploaded video's path from what the page sends (a path, or Gradio's ``{"video": {"path": ...}}``)."""
    if isinstance(video, dict):
        video = video.get("video", video)
        video = video.get("path") if isinstance(video, dict) else video
    if not video or not isinstance(video, str):
        raise ValueError("Upload or record a video with a face first.")
    return Path(video)


def run(pipeline: Pipeline, session: Session, video: Path, settings: ClipSettings,
        report: Callable[[float, str], None]) -> ClipResult:
    """Invert ``video`` into a new folder of ``session``; ``report(fraction, message)`` hears of every frame.

    The files join the session's files (its byte count, and its deletion: a new photo result replaces them
    too); a session evicted while the job ran gets no files and the eviction's message.
    """
    STOPS.take(session.key)
    folder = session.folder / f"clip-{uuid.uuid4().hex[:8]}"

    def progress(state: ClipProgress) -> bool:
        done = state.done / state.total
        report(TRACKING_SHARE * done if state.stage == "tracking" else TRACKING_SHARE + (1 - TRACKING_SHARE) * done,
               f"{state.stage}: frame {state.done} of {state.total}")
        return not STOPS.take(session.key)

    try:
        result = invert_video(video, folder, settings.camera, settings.fps, settings.max_seconds,
                              settings.refine_steps, pipeline, progress)
    finally:
        with session.lock:
            session.written.extend(sorted(folder.glob("*")))
    if session.ended:
        shutil.rmtree(folder, ignore_errors=True)
        raise ValueError(EVICTED.format(why=session.ended))
    session.after_write()
    return result
