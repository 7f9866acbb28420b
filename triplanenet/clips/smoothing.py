"""A steady crop and camera per frame: lost frames filled from their neighbours, points smoothed over time.

Per-frame detection jitters by a pixel or two, which moves the crop and turns the camera by a fraction
of a degree from one frame to the next even when the head is still. The whole clip is known before any
frame is inverted, so the points (68 landmarks and EG3D's five alignment points, frame pixels) are
smoothed with a *centred* filter: a local linear fit under a Gaussian window of :data:`SMOOTH_SECONDS`
(a Gaussian-weighted least-squares line through the neighbours, read at the frame). Unlike a plain
Gaussian blur it follows steady motion without lag and keeps its value at the clip's ends. The crop box
and the camera are then rebuilt from the smoothed points exactly as for a photo
(:func:`~triplanenet.preprocess.aligned_from_points`), so both are smooth together.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..preprocess import MIN_FACE_PX, AlignedFace, HeadPose, aligned_from_points, estimate_pose, fit_five_points
from .decode import ClipError
from .tracking import Tracked

SMOOTH_SECONDS = 0.2
"""Standard deviation of the Gaussian window, in seconds of video (3 frames at 15 fps)."""
MIN_SIGMA = 0.25
"""Narrowest window, in frames, that smooths at all (a neighbour's weight is then e^-8; narrower ones would
divide by weights that underflow to zero)."""


def fill_lost(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """``values`` [T,...] with the rows where ``found`` [T] is False interpolated linearly in time between
    the nearest found rows (held constant before the first and after the last)."""
    times = np.arange(len(values))
    flat = values.reshape(len(values), -1)
    filled = np.stack([np.interp(times, times[found], column[found]) for column in flat.T], axis=1)
    return filled.reshape(values.shape)


def smoothing_matrix(count: int, sigma: float, radius: int | None = None) -> np.ndarray:
    """[T,T] weights of the centred local linear fit: ``smoothed = M @ values``.

    Row ``t`` fits ``a + b (s - t)`` to the frames ``s`` with weights ``exp(-(s - t)^2 / 2 sigma^2)`` and
    keeps ``a``; with ``radius``, only frames ``|s - t| <= radius`` count (a banded ``M``). ``sigma`` below
    :data:`MIN_SIGMA` returns the identity.
    """
    if sigma < MIN_SIGMA or count < 3:
        return np.eye(count)
    offsets = np.arange(count)[None, :] - np.arange(count)[:, None]
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    if radius is not None:
        weights *= np.abs(offsets) <= radius
    s0, s1, s2 = (np.sum(weights * offsets ** k, axis=1, keepdims=True) for k in range(3))
    return weights * (s2 - s1 * offsets) / (s0 * s2 - s1 ** 2)


def _nearest_found(found: np.ndarray) -> np.ndarray:
    """[T] index of the nearest frame where the face was found (itself when found)."""
    seen = np.flatnonzero(found)
    return seen[np.abs(np.arange(len(found))[:, None] - seen[None, :]).argmin(axis=1)]


@dataclass
class FaceTrack:
    """The followed face over a clip, ready to crop: points [T,68,2] / [T,5,2] (frame pixels, lost frames
    filled, smoothed unless built with ``smooth_seconds=0``), ``found`` [T] (False: filled from the
    neighbours), per-frame ``reliable`` / ``source`` / ``faces_found`` (a filled frame takes its nearest
    sighting's), the landmark ``backend`` and the frames' ``size`` (width, height)."""

    landmarks: np.ndarray
    points5: np.ndarray
    found: np.ndarray
    reliable: np.ndarray
    source: list[str]
    faces_found: np.ndarray
    backend: str
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.found)

    def pose(self, t: int) -> HeadPose:
        """The head pose and EG3D camera of frame ``t`` (no pixels needed)."""
        width, height = self.size
        fit = fit_five_points(self.points5[t], height)
        points = self.landmarks[t] if self.reliable[t] else self.points5[t]
        return estimate_pose(points, fit, width, height)

    def aligned(self, t: int, frame: np.ndarray) -> AlignedFace:
        """Frame ``t`` [H,W,3] cropped and posed at the track's points."""
        return aligned_from_points(Image.fromarray(frame), self.landmarks[t], self.points5[t],
                                   bool(self.reliable[t]), backend=self.backend, source=self.source[t],
                                   faces_found=int(self.faces_found[t]), face_index=0)


def face_track(tracked: Tracked, size: tuple[int, int], fps: float, smooth_seconds: float = SMOOTH_SECONDS
               ) -> FaceTrack:
    """The :class:`FaceTrack` of a tracking pass over frames of ``size`` sampled at ``fps``.

    Raises :class:`ClipError` when no frame has a face.
    """
    found = tracked.found
    if not found.any():
        raise ClipError("No face found in any frame of the video. Use a clip where the face is clearly "
                        f"visible, roughly frontal and at least {MIN_FACE_PX} pixels wide.")
    nearest = [tracked.sightings[i] for i in _nearest_found(found)]
    matrix = smoothing_matrix(len(found), smooth_seconds * fps)
    points = np.stack([np.concatenate([s.landmarks, s.points5]) for s in nearest])
    points = np.einsum("ts,s...->t...", matrix, fill_lost(points, found))
    return FaceTrack(points[:, :68], points[:, 68:], found, np.array([s.reliable for s in nearest]),
                     [s.source for s in nearest], np.array([s.faces_found for s in nearest]),
                     tracked.backend, size)
