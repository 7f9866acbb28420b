"""Turntable orbit and video files read back with imageio."""
from __future__ import annotations

import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from triplanenet import cameras
from triplanenet.outputs import video


def test_orbit_follows_eg3d():
    labels = video.orbit_cameras(8)
    assert labels.shape == (8, 25)
    yaw, pitch = cameras.yaw_pitch(labels)
    t = torch.arange(8) / 8
    np.testing.assert_allclose(yaw, 0.35 * torch.sin(2 * math.pi * t), atol=1e-4)
    np.testing.assert_allclose(pitch, -0.05 + 0.25 * torch.cos(2 * math.pi * t), atol=1e-4)
    np.testing.assert_allclose(labels[:, :16].reshape(-1, 4, 4)[:, :3, 3].norm(dim=1), cameras.RADIUS, atol=1e-5)


def colour_by_yaw(c: torch.Tensor) -> np.ndarray:
    """A fake renderer: a 30x42 image whose red channel encodes the camera's yaw."""
    yaw, _ = cameras.yaw_pitch(c)
    image = np.zeros((30, 42, 3), np.uint8)
    image[..., 0] = int(127 + 300 * yaw.item())
    image[..., 2] = 90
    return image


def orbit_video(path, frames: int, fps: float = 30.0):
    """The fake renderer's frames along EG3D's orbit, written as a video."""
    return video.write_video([colour_by_yaw(c[None]) for c in video.orbit_cameras(frames)], path, fps)


def test_turntable_mp4_reads_back(tmp_path):
    path = orbit_video(tmp_path / "turn.mp4", 12, fps=12)
    assert path.suffix == ".mp4"
    frames = imageio.mimread(path, format="FFMPEG")
    assert len(frames) == 12
    assert frames[0].shape == (30, 42, 3)
    reds = [int(frame[..., 0].mean()) for frame in frames]
    assert abs(reds[3] - (127 + 300 * 0.35)) < 8  # frame 3 of 12: largest yaw


def test_gif_fallback_when_ffmpeg_is_missing(tmp_path, monkeypatch):
    def no_ffmpeg(*args):
        raise RuntimeError("no ffmpeg")

    monkeypatch.setattr(video, "_write_mp4", no_ffmpeg)
    path = orbit_video(tmp_path / "turn.mp4", 5)
    assert path == tmp_path / "turn.gif" and not (tmp_path / "turn.mp4").exists()
    frames = imageio.mimread(path)
    assert len(frames) == 5 and frames[0].shape[:2] == (30, 42)


def test_write_video_rejects_no_frames(tmp_path):
    with pytest.raises(ValueError):
        video.write_video([], tmp_path / "empty.mp4")
