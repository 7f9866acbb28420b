"""EG3D's five alignment points, estimated as well as we can from what the detectors give.

EG3D's crop is a least-squares fit to MTCNN's five points, and that fit turns a
pixel or two of point noise into several percent of crop scale. We therefore
average independent estimates of "the points MTCNN would give on this face":

1. MTCNN's own points on the photo (exactly EG3D's pipeline);
2. MTCNN's O-Net re-run on upright, slightly tilted and rescaled views of the
   same face, averaged (:meth:`Mtcnn.upright_points`), which changes much
   less than (1) when the photo is rotated;
3. the points derived from the 68 landmarks (eye-corner midpoints, nose tip,
   mouth corners), moved by the mean offset between those and MTCNN's points.

Each has a few percent of scatter of its own in the crop scale it implies.
Mean absolute crop-scale error on the 19 EG3D crops in ../shared/faces as they
are / over those and four shrunk, rotated, shifted copies of each
(``benchmarks/bench_preprocess.py``): MTCNN alone 1.55 % / 1.99 % (2.78 % on
the copies rotated by 15 degrees), upright MTCNN 1.61 % / 1.67 %, corrected
landmark points 1.63 % / 1.68 % (plain landmark points: 2.56 % / 2.55 %),
all three combined 1.36 % / 1.48 %.
"""
from __future__ import annotations

import math

import numpy as np

from .template import FIVE_POINTS_3D, five_points

TEMPLATE_2D = FIVE_POINTS_3D[:, :2] * np.array([1.0, -1.0])
"""The five template points seen frontally, y down (template units)."""

LANDMARK_OFFSETS = np.array([
    [-0.0025, -0.0287],
    [0.0135, -0.0269],
    [0.0061, 0.0138],
    [-0.0043, 0.0006],
    [-0.0003, -0.0007],
])
"""Mean of (MTCNN point - landmark-derived point) in the face's frontal frame (template units, y down).

Measured with dlib's 68 landmarks on the 48 faces of the photos in
``../shared/faces`` that are *not* labelled EG3D crops (the ``d3dfr_``,
``e3dge_`` and ``3ddfa_`` photos), so the accuracy figures on the labelled crops
are not fitted to; ``benchmarks/bench_preprocess.py --calibrate`` recomputes
them. MTCNN's eye points sit about 0.027 units (1 % of the crop) higher than
the eye-corner midpoints, its nose point slightly lower.
"""


MAX_DISAGREEMENT = 0.12
RAW_MAX_ROLL_DEG = 15.0


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[complex, complex]:
    """Least-squares similarity ``z * p + t`` (as complex numbers) taking ``source`` points onto ``target``."""
    a = source[:, 0] + 1j * source[:, 1]
    b = target[:, 0] + 1j * target[:, 1]
    a_mean, b_mean = a.mean(), b.mean()
    z = np.vdot(a - a_mean, b - b_mean) / np.vdot(a - a_mean, a - a_mean)
    return complex(z), complex(b_mean - z * a_mean)


def _apply(z: complex, t: complex, points: np.ndarray) -> np.ndarray:
    """Points [N,2] mapped by the similarity ``z * p + t``."""
    q = z * (points[:, 0] + 1j * points[:, 1]) + t
    return np.stack([q.real, q.imag], axis=1)


def corrected_landmark_points(landmarks: np.ndarray) -> np.ndarray:
    """Five points from 68 landmarks [68,2], moved by :data:`LANDMARK_OFFSETS` to where MTCNN puts them."""
    derived = five_points(landmarks)
    z, t = _similarity(derived, TEMPLATE_2D)
    return _apply(1 / z, -t / z, _apply(z, t, derived) + LANDMARK_OFFSETS)


def disagreement(landmarks: np.ndarray, mtcnn_points: np.ndarray) -> float:
    """Mean distance between MTCNN's points and the corrected landmark points, in eye-to-mouth distances."""
    derived = five_points(landmarks)
    span = np.linalg.norm((derived[3] + derived[4] - derived[0] - derived[1]) / 2)
    return float(np.linalg.norm(corrected_landmark_points(landmarks) - mtcnn_points, axis=1).mean() / span)


def landmarks_reliable(landmarks: np.ndarray, mtcnn_points: list[np.ndarray]) -> bool:
    """False when MTCNN and the 68 landmarks clearly disagree about where the face's points are.

    That happens on strong profiles, where dlib's 68-point model draws a
    plausible frontal face beside the real one. On the 19 EG3D crops, their
    mirror images and rotated copies the disagreement stays below 0.11
    eye-to-mouth distances except for a 60-degree profile (0.13-0.18), so
    :data:`MAX_DISAGREEMENT` sits between.
    """
    return not mtcnn_points or disagreement(landmarks, mtcnn_points[0]) <= MAX_DISAGREEMENT


def alignment_points(landmarks: np.ndarray | None, mtcnn_points: list[np.ndarray]) -> np.ndarray:
    """The weighted mean of the estimates, [5,2] in photo pixels.

    ``mtcnn_points`` is ``[]`` or ``[raw, upright]`` (MTCNN's own points and the
    upright re-measurement); ``landmarks`` is None when they are not trusted.
    MTCNN's own points count fully for an upright face and fade out as the head
    tilts toward :data:`RAW_MAX_ROLL_DEG` (O-Net was trained on upright faces
    and its points drift on tilted ones); the other two always count fully.
    """
    estimates: list[tuple[np.ndarray, float]] = []
    if mtcnn_points:
        raw, upright = (np.asarray(p, dtype=np.float64) for p in mtcnn_points)
        eyes = raw[1] - raw[0]
        roll = abs(math.degrees(math.atan2(eyes[1], eyes[0])))
        estimates += [(raw, max(0.0, 1.0 - roll / RAW_MAX_ROLL_DEG)), (upright, 1.0)]
    if landmarks is not None:
        estimates.append((corrected_landmark_points(landmarks), 1.0))
    total = sum(weight for _, weight in estimates)
    return sum(points * weight for points, weight in estimates) / total
