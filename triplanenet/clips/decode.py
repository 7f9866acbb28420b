"""Reading a video, streamed: ffmpeg (imageio's bundled binary) decodes, rotates, resamples and shrinks.

One ffmpeg process per pass turns any container it knows (mp4, mov, webm, mkv, gif, ...) into raw RGB
frames on a pipe, one at a time, so a clip is never held in memory. ffmpeg itself

* applies a phone video's rotation (its display matrix, or the older ``rotate`` tag): frames come out upright;
* resamples to the target rate with its ``fps`` filter, which follows each frame's time stamp, so a
  variable-frame-rate clip gives evenly spaced frames (frame ``i`` shows time ``i / fps``);
* stops at the duration limit (``-t``);
* shrinks frames whose longer side exceeds :data:`MAX_SIDE` (above 4K) before anything else sees them.

Every failure a person can cause raises :class:`ClipError` with a message that says what to do.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..preprocess.errors import FaceError
from ..preprocess.images import check_file

DEFAULT_FPS = 15.0
DEFAULT_MAX_SECONDS = 10.0
FPS_LIMITS = (1.0, 30.0)
SECONDS_LIMITS = (0.5, 60.0)
MAX_SIDE = 3840
"""Longer side of the frames handed on (4K UHD); larger videos are downscaled by ffmpeg while decoding."""
FORMATS = "mp4, mov, webm, mkv or gif"


class ClipError(FaceError):
    """A video could not be read or has no usable face; ``str(err)`` says why and what to do."""


@dataclass(frozen=True)
class ClipInfo:
    """What a pass over a video yields first: ``size`` (width, height) of the frames it yields (upright,
    at most :data:`MAX_SIDE`), the ``fps`` they are sampled at, the source's ``duration`` (seconds, 0 when
    unknown), whether the ``max_seconds`` limit cuts it (``truncated``) and whether it has ``audio``."""

    size: tuple[int, int]
    fps: float
    duration: float
    max_seconds: float
    audio: bool

    @property
    def truncated(self) -> bool:
        return self.duration > self.max_seconds


def check_rate(fps: float, max_seconds: float) -> tuple[float, float]:
    """``(fps, max_seconds)`` if both are inside :data:`FPS_LIMITS` and :data:`SECONDS_LIMITS`, else ValueError."""
    if not FPS_LIMITS[0] <= fps <= FPS_LIMITS[1]:
        raise ValueError(f"fps must be between {FPS_LIMITS[0]:g} and {FPS_LIMITS[1]:g}, got {fps:g}")
    if not SECONDS_LIMITS[0] <= max_seconds <= SECONDS_LIMITS[1]:
        raise ValueError(f"max seconds must be between {SECONDS_LIMITS[0]:g} and {SECONDS_LIMITS[1]:g}, "
                         f"got {max_seconds:g}")
    return float(fps), float(max_seconds)


@contextmanager
def _quiet_size_warning() -> Iterator[None]:
    """imageio-ffmpeg warns whenever the frames differ in size from the stream (a rotation, a downscale):
    both are intended here."""
    logger = logging.getLogger("imageio_ffmpeg")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _ffmpeg_frames(path: Path, fps: float, max_seconds: float) -> tuple[dict, Iterator[bytes]]:
    """ffmpeg's header (imageio-ffmpeg's metadata dict) and a generator of raw RGB frames."""
    import imageio_ffmpeg

    scale = f"scale='min(iw,{MAX_SIDE})':'min(ih,{MAX_SIDE})':force_original_aspect_ratio=decrease"
    sample = f"fps={fps:g}:eof_action=pass"  # a clip shorter than one interval still gives its first frame
    frames = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", f"{sample},{scale}",
                                                                  "-t", f"{max_seconds:g}", "-an"])
    try:
        with _quiet_size_warning():
            return next(frames), frames
    except (OSError, RuntimeError, IndexError, ValueError, StopIteration):
        frames.close()
        raise ClipError(f"{path.name} is not a video this program can read. Use a video file ({FORMATS}).") from None


def open_clip(path: str | Path, fps: float = DEFAULT_FPS, max_seconds: float = DEFAULT_MAX_SECONDS
              ) -> tuple[ClipInfo, Iterator[np.ndarray]]:
    """The :class:`ClipInfo` of ``path`` and a generator of its frames [H,W,3] uint8, sampled at ``fps`` for at
    most ``max_seconds``, decoded one at a time. Raises :class:`ClipError` for a missing, empty, unreadable
    or corrupt file; the generator raises it when not a single frame decodes."""
    path = Path(path)
    fps, max_seconds = check_rate(fps, max_seconds)
    check_file(path, "video", FORMATS, ClipError)
    meta, raw_frames = _ffmpeg_frames(path, fps, max_seconds)
    info = ClipInfo(tuple(meta["size"]), fps, float(meta.get("duration") or 0.0), max_seconds,
                    "audio_codec" in meta)
    return info, _frames(path.name, raw_frames, info.size)


def _frames(name: str, raw_frames: Iterator[bytes], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Raw RGB frames -> arrays [H,W,3]; a clip whose data ends early keeps the frames decoded so far."""
    width, height = size
    count = 0
    try:
        for raw in raw_frames:
            count += 1
            yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    except RuntimeError:
        pass
    finally:
        raw_frames.close()
    if not count:
        raise ClipError(f"{name} has no video frames that can be decoded; the file looks corrupt or "
                        "truncated. Export or download the video again.")
