"""Test clips with known motion, made from one photo: the tests and ``bench_clips.py`` share them.

* :func:`moving_clip`: a window that slides and zooms smoothly over the photo; the face's true position in
  every frame follows from the window (:class:`Motion`);
* :func:`still_clip`: the photo repeated, with fresh camera-like noise in every frame (a still head: its
  camera must stay still);
* :func:`rotate_tag`: the same video stored sideways with a 90 degree display rotation, as phones write it.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from triplanenet.outputs.video import write_video

FRAME_SIZE = (256, 256)
NOISE_STD = 4.0
"""Per-frame Gaussian noise of a still clip, in 8-bit levels (a phone camera in indoor light)."""


@dataclass(frozen=True)
class Motion:
    """Frame ``t`` shows the photo's points ``p`` at ``(p - origin[t]) * scale[t]`` (origin [T,2], scale [T])."""

    origin: np.ndarray
    scale: np.ndarray

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Photo points [N,2] -> their positions [T,N,2] in every frame."""
        return (points[None] - self.origin[:, None]) * self.scale[:, None, None]


def smooth_motion(frames: int, start: tuple[float, float], shift: tuple[float, float],
                  zoom: tuple[float, float]) -> Motion:
    """A window whose origin moves from ``start`` by ``shift`` photo pixels and whose scale goes from
    ``zoom[0]`` to ``zoom[1]``, eased (half a cosine) over the clip."""
    ease = (1 - np.cos(np.linspace(0, np.pi, frames))) / 2
    origin = np.asarray(start)[None] + ease[:, None] * np.asarray(shift)[None]
    return Motion(origin, zoom[0] + ease * (zoom[1] - zoom[0]))


def render_window(photo: Image.Image, origin: np.ndarray, scale: float, size: tuple[int, int] = FRAME_SIZE
                  ) -> np.ndarray:
    """The frame [H,W,3] that shows ``photo`` from ``origin`` at ``scale`` frame pixels per photo pixel."""
    coefficients = (1 / scale, 0.0, float(origin[0]), 0.0, 1 / scale, float(origin[1]))
    return np.asarray(photo.transform(size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR))


def moving_clip(photo: Image.Image, path: Path, motion: Motion, fps: float) -> Path:
    """``photo`` seen through the moving window ``motion``, written as a video at ``fps``."""
    frames = [render_window(photo, o, s) for o, s in zip(motion.origin, motion.scale)]
    return write_video(frames, path, fps)


def still_clip(photo: Image.Image, path: Path, frames: int, fps: float, noise: float = NOISE_STD,
               seed: int = 0) -> Path:
    """``photo`` repeated ``frames`` times with independent Gaussian noise of ``noise`` levels per frame."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(photo, dtype=np.float32)
    noisy = [np.clip(pixels + rng.normal(0, noise, pixels.shape), 0, 255).astype(np.uint8) for _ in range(frames)]
    return write_video(noisy, path, fps)


def rotate_tag(source: Path, path: Path, degrees: int = 90) -> Path:
    """``source`` copied (no re-encoding) with a display rotation of ``degrees`` anticlockwise."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation:v:0",
                    str(degrees), "-i", str(source), "-c", "copy", str(path)], check=True)
    return path


def sideways_clip(photo: Image.Image, path: Path, frames: int, fps: float) -> Path:
    """A phone-style clip: ``photo`` stored turned 90 degrees clockwise, tagged to be shown upright."""
    stored = Image.fromarray(np.rot90(np.asarray(photo), k=-1))
    plain = still_clip(stored, path.with_name(f"{path.stem}_stored.mp4"), frames, fps, noise=0.0)
    return rotate_tag(plain, path)
