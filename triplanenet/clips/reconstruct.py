"""``invert_video``: a face video -> a 3D head per frame, re-rendered, as files (the one entry point).

Two streamed passes over the video, never holding it: the first tracks the face in every sampled
frame (:mod:`.tracking`), then the track is filled and smoothed (:mod:`.smoothing`); the second decodes
again, crops each frame at the smoothed points, inverts the frames in batches, smooths the heads over time
and renders them (:mod:`.frame_heads`, through the :class:`~triplanenet.pipeline.Pipeline`;
:mod:`.head_smoothing`) and writes them (:mod:`.writing`).
``progress`` hears about both passes and may stop the job: stopped while inverting, the frames done so far
are written as a shorter video; stopped while tracking, nothing is written.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..outputs.views import View
from ..pipeline import Pipeline
from ..preprocess import AlignedFace
from ..preprocess.landmarks import AUTO
from ..refinement import check_steps
from .decode import DEFAULT_FPS, DEFAULT_MAX_SECONDS, ClipError, ClipInfo, open_clip
from .frame_heads import INVERT_BATCH, FrameHeads, check_camera
from .head_smoothing import CODE_SECONDS, HeadSmoother
from .smoothing import SMOOTH_SECONDS, FaceTrack, face_track
from .tracking import track_faces
from .writing import ClipWriter, FrameRow, input_panel


@dataclass(frozen=True)
class ClipProgress:
    """Where a job is: ``stage`` (``"tracking"`` or ``"inverting"``), frames ``done`` of ``total`` (tracking's
    total is estimated from the clip's duration)."""

    stage: str
    done: int
    total: int


Progress = Callable[[ClipProgress], bool | None]
"""Called after every frame tracked and every batch inverted; returning ``False`` stops the job."""


@dataclass(frozen=True)
class ClipResult:
    """What :func:`invert_video` wrote (``files``: side_by_side.mp4, rendered.mp4, frames.json), how many
    frames of the sampled clip (``frames`` of ``total``), whether it was ``stopped``, and the clip's ``info``."""

    files: list[Path]
    frames: int
    total: int
    stopped: bool
    info: ClipInfo

    @property
    def notes(self) -> list[str]:
        """What a person should know about the result (cut by the duration limit, stopped early)."""
        notes = []
        if self.info.truncated:
            notes.append(f"The video is {self.info.duration:.1f} s long; the first {self.info.max_seconds:g} s "
                         "were processed.")
        if self.stopped:
            notes.append(f"Stopped: {self.frames} of {self.total} frames were made.")
        return notes


def _tracked(source: Path, fps: float, max_seconds: float, smooth_seconds: float, backend: str,
             progress: Progress | None) -> tuple[ClipInfo, FaceTrack]:
    """The first pass: the clip's info and its smoothed face track."""
    info, frames = open_clip(source, fps, max_seconds)
    estimate = max(1, math.ceil(min(info.duration or max_seconds, max_seconds) * fps))
    report = None if progress is None else (lambda done: progress(ClipProgress("tracking", done, estimate)))
    tracked = track_faces(frames, backend, report)
    if tracked.stopped:
        raise ClipError("Stopped before the first frame was made; nothing was written.")
    return info, face_track(tracked, info.size, info.fps, smooth_seconds)


def _cropped(frame: np.ndarray, t: int, fps: float, track: FaceTrack) -> tuple[AlignedFace, FrameRow, Image.Image]:
    """Frame ``t`` [H,W,3] cropped at the track: its aligned face, its ``frames.json`` row, its input panel."""
    face, found = track.aligned(t, frame), bool(track.found[t])
    row = FrameRow(t, t / fps, found, face.box, face.yaw_deg, face.pitch_deg, face.roll_deg)
    return face, row, input_panel(frame, face, found)


def _write_frames(source: Path, info: ClipInfo, track: FaceTrack, heads: FrameHeads, writer: ClipWriter,
                  progress: Progress | None) -> bool:
    """The second pass: crop, invert, render and write every tracked frame; returns whether it was stopped.

    A frame is written once its smoothed head is ready (a few frames later); until then only its row and
    input panel are held.
    """
    _, frames = open_clip(source, info.fps, info.max_seconds)
    total, waiting, stopped = len(track), {}, False
    try:
        for first in range(0, total, INVERT_BATCH):
            batch = [_cropped(frame, t, info.fps, track)
                     for t, frame in zip(range(first, min(first + INVERT_BATCH, total)), frames)]
            if not batch:
                break
            waiting.update((first + i, (row, panel)) for i, (_, row, panel) in enumerate(batch))
            _write_ready(heads.views([face for face, _, _ in batch], first), waiting, writer)
            done = first + len(batch)
            if progress is not None and progress(ClipProgress("inverting", done, total)) is False:
                stopped = done < total
                break
    finally:
        frames.close()
    _write_ready(heads.finish(), waiting, writer)
    return stopped


def _write_ready(views: list[tuple[int, View]], waiting: dict[int, tuple[FrameRow, Image.Image]],
                 writer: ClipWriter) -> None:
    """Write the frames whose views are ready (their rows and panels leave ``waiting``)."""
    for t, view in views:
        row, panel = waiting.pop(t)
        writer.add(row, panel, view)


def invert_video(source: str | Path, out: str | Path, camera: str = "input", fps: float = DEFAULT_FPS,
                 max_seconds: float = DEFAULT_MAX_SECONDS, refine_steps: int = 0,
                 pipeline: Pipeline | None = None, progress: Progress | None = None,
                 smooth_seconds: float = SMOOTH_SECONDS, code_seconds: float = CODE_SECONDS,
                 backend: str = AUTO) -> ClipResult:
    """Invert the face of every frame of video ``source`` (sampled at ``fps``, at most ``max_seconds``) and
    write ``out/side_by_side.mp4``, ``out/rendered.mp4`` and ``out/frames.json``.

    ``camera`` is ``"input"`` (each frame's own), ``"frontal"`` or ``"orbit"``; ``refine_steps`` > 0 refines
    every frame, warm-started from the previous one; ``pipeline`` defaults to
    :meth:`Pipeline.from_pretrained() <triplanenet.pipeline.Pipeline.from_pretrained>`; ``smooth_seconds`` 0
    turns the smoothing of the crops and cameras off, ``code_seconds`` 0 that of the heads
    (:mod:`.head_smoothing`). Raises :class:`ClipError` (a ``ValueError``) for bad input.
    """
    source, out = Path(source), Path(out)
    camera, refine_steps = check_camera(camera), refine_steps and check_steps(refine_steps)
    pipeline = pipeline or Pipeline.from_pretrained()
    info, track = _tracked(source, fps, max_seconds, smooth_seconds, backend, progress)
    smoother = HeadSmoother(len(track), code_seconds * info.fps)
    heads = FrameHeads(pipeline, len(track), smoother, camera, refine_steps)
    writer = ClipWriter(out, source, info, camera)
    try:
        stopped = _write_frames(source, info, track, heads, writer, progress)
    except BaseException:
        writer.abort()
        raise
    files = writer.finish(stopped)
    return ClipResult(files, len(writer.rows), len(track), stopped, info)

