"""Test clips with known motion, made from one photo: the tests and ``bench_clips.py`` share them.

* :func:`moving_clip`: a window that slides and zooms smoothly over the photo; the face's true position in
  every frame follows from the window (:class:`Motion`);
* :func:`still_clip`: the photo repeated, with fresh camera-like noise in every frame (a still head: its
  camera must stay still);
* :func:`sideways_clip`: a video stored sideways with a 90 degree display rotation, as phones write it;
* :func:`convert` (other containers) and :func:`with_tone` (an audio track);
* :func:`synthetic_clip`: a held-out synthetic head (``triplanenet.synthetic``) rendered along a known camera
  path while it smiles, ground truth for every frame: its camera and its picture.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from triplanenet import cameras
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


def moving_clip(photo: Image.Image, path: Path, motion: Motion, fps: float, size: tuple[int, int] = FRAME_SIZE
                ) -> Path:
    """``photo`` seen through the moving window ``motion`` in frames of ``size``, written as a video at ``fps``."""
    frames = [render_window(photo, o, s, size) for o, s in zip(motion.origin, motion.scale)]
    return write_video(frames, path, fps)


def still_clip(photo: Image.Image, path: Path, frames: int, fps: float, noise: float = NOISE_STD,
               seed: int = 0) -> Path:
    """``photo`` repeated ``frames`` times with independent Gaussian noise of ``noise`` levels per frame."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(photo, dtype=np.float32)
    noisy = [np.clip(pixels + rng.normal(0, noise, pixels.shape), 0, 255).astype(np.uint8) for _ in range(frames)]
    return write_video(noisy, path, fps)


def ffmpeg(*args: str) -> None:
    """Run imageio's ffmpeg with ``args`` (quiet, overwriting); raises if it fails."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def rotate_tag(source: Path, path: Path, degrees: int = 90) -> Path:
    """``source`` copied (no re-encoding) with a display rotation of ``degrees`` anticlockwise."""
    ffmpeg("-display_rotation:v:0", str(degrees), "-i", str(source), "-c", "copy", str(path))
    return path


def convert(source: Path, path: Path) -> Path:
    """``source`` in the container of ``path``'s suffix (``.webm``: re-encoded as VP8; else stream-copied)."""
    codec = ["-c:v", "libvpx", "-b:v", "300k"] if path.suffix == ".webm" else ["-c", "copy"]
    ffmpeg("-i", str(source), *codec, str(path))
    return path


def with_tone(source: Path, path: Path) -> Path:
    """``source`` with a 440 Hz tone as its audio track (AAC), as long as the video."""
    ffmpeg("-i", str(source), "-f", "lavfi", "-i", "sine=frequency=440:duration=60", "-c:v", "copy", "-c:a",
           "aac", "-shortest", str(path))
    return path


def sideways_clip(photo: Image.Image, path: Path, frames: int, fps: float) -> Path:
    """A phone-style clip: ``photo`` stored turned 90 degrees clockwise, tagged to be shown upright."""
    stored = Image.fromarray(np.rot90(np.asarray(photo), k=-1))
    plain = still_clip(stored, path.with_name(f"{path.stem}_stored.mp4"), frames, fps, noise=0.0)
    return rotate_tag(plain, path)


def synthetic_clip(seed: int, path: Path, yaws: np.ndarray, pitches: np.ndarray, fps: float,
                   smiles: np.ndarray | None = None, resolution: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Held-out synthetic head ``seed`` rendered at EG3D cameras with yaw/pitch offsets ``yaws``/``pitches`` [T]
    (radians) on black, its ``smile`` parameter set to ``smiles`` [T] when given (else the head's own), written
    as a video at ``fps``; returns the true cameras [T,25] and the true frames [T,R,R,3] uint8."""
    import torch

    from triplanenet.evaluation.heads import evaluation_head
    from triplanenet.image_tensors import with_background
    from triplanenet.outputs.views import to_uint8
    from triplanenet.synthetic.imaging import render
    from triplanenet.synthetic.params import HeadParams, field_columns

    params, _ = evaluation_head(seed)
    flat = params.to_tensor().repeat(len(yaws), 1)
    if smiles is not None:
        flat[:, field_columns("smile")] = torch.as_tensor(smiles, dtype=torch.float32)[:, None]
    truth = cameras.camera(torch.as_tensor(yaws, dtype=torch.float32), torch.as_tensor(pitches, dtype=torch.float32))
    frames = []
    for head, camera in zip(flat, truth):
        out = render(HeadParams.from_tensor(head[None]), camera[None], resolution)
        frames.append(to_uint8(with_background(out["image"], out["mask"], -1.0)[0]))
    write_video(frames, path, fps)
    return truth.numpy(), np.stack(frames)
