"""Turntable videos along EG3D's camera orbit.

EG3D's ``gen_videos.py`` moves the camera, for frame ``i`` of ``n`` (``t = i / n``), to
``LookAtPoseSampler.sample(pi/2 + 0.35 sin(2 pi t), pi/2 - 0.05 + 0.25 cos(2 pi t))``
around the pivot (0, 0, 0.2) at radius 2.7: a loop that swings the yaw by +-0.35 rad
while the pitch swings by +-0.25 rad around 0.05 rad above the frontal view. Its
script writes ``3.14`` for pi; we use pi so the loop closes seamlessly (the
difference is below 0.002 rad). The yaw/pitch offsets here are those of
:func:`triplanenet.cameras.camera`.

Videos are ``.mp4`` (H.264 through imageio and the ffmpeg binary bundled with the
``imageio-ffmpeg`` wheel) or, when that is unavailable or the path ends in ``.gif``,
an animated GIF.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import cameras

YAW_RANGE = 0.35
PITCH_RANGE = 0.25
PITCH_OFFSET = -0.05


def orbit_angles(num_frames: int = 120, yaw_range: float = YAW_RANGE, pitch_range: float = PITCH_RANGE,
                 pitch_offset: float = PITCH_OFFSET) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaw and pitch offsets [num_frames] (radians) of EG3D's orbit, frame ``i`` at ``t = i / num_frames``."""
    t = torch.arange(num_frames, dtype=torch.float64) / num_frames
    yaw = yaw_range * torch.sin(2 * math.pi * t)
    pitch = pitch_offset + pitch_range * torch.cos(2 * math.pi * t)
    return yaw.float(), pitch.float()


def orbit_cameras(num_frames: int = 120, *, yaw_range: float = YAW_RANGE, pitch_range: float = PITCH_RANGE,
                  pitch_offset: float = PITCH_OFFSET, radius: float = cameras.RADIUS,
                  pivot: Sequence[float] = cameras.PIVOT, focal: float = cameras.FOCAL) -> torch.Tensor:
    """Camera labels [num_frames,25] along EG3D's turntable orbit (see module doc)."""
    yaw, pitch = orbit_angles(num_frames, yaw_range, pitch_range, pitch_offset)
    return cameras.camera(yaw, pitch, radius=radius, pivot=pivot, focal=focal)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad the last row/column (edge copy) so both sides are even, as H.264 in yuv420p needs."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


@contextmanager
def mp4_writer(path: str | Path, fps: float, quality: float = 8.0) -> Iterator[Callable[[np.ndarray], None]]:
    """Stream frames into an H.264 ``.mp4``: yields ``append(frame)`` for frames [H,W,3] uint8, all the same
    size (odd sides are padded by one edge row/column). Raises ``ImportError``/``RuntimeError``/``OSError``
    when ffmpeg is unavailable or fails."""
    import imageio.v2 as imageio
    import imageio_ffmpeg

    imageio_ffmpeg.get_ffmpeg_exe()
    with imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=quality,
                            pixelformat="yuv420p", macro_block_size=1) as writer:
        yield lambda frame: writer.append_data(_even(frame))


def _write_mp4(frames: Sequence[np.ndarray], path: Path, fps: float, quality: float) -> None:
    with mp4_writer(path, fps, quality) as append:
        for frame in frames:
            append(frame)


def _write_gif(frames: Sequence[np.ndarray], path: Path, fps: float) -> None:
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float = 30.0, quality: float = 8.0) -> Path:
    """Write frames ([H,W,3] uint8, all the same size) as ``.mp4``, or ``.gif``; returns the path written.

    An ``.mp4`` path falls back to a GIF beside it (same stem) when ffmpeg is not
    available. ``quality`` is imageio's 0..10 scale for H.264.
    """
    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        _write_gif(frames, path, fps)
        return path
    try:
        _write_mp4(frames, path, fps, quality)
        return path
    except (ImportError, RuntimeError, OSError):
        path.unlink(missing_ok=True)
        gif = path.with_suffix(".gif")
        _write_gif(frames, gif, fps)
        return gif
