"""Head pose from 68 landmarks, and the EG3D camera label built from it.

EG3D's FFHQ labels come from Deep3DFaceRecon: a network looks at a 224x224
crop (the same five-point fit as the EG3D crop, at 102 px per template unit),
predicts the head rotation ``Q = Rz Ry Rx`` and translation ``T`` of the Basel
face in a pinhole camera (focal 1015 px, principal point 112, camera 10 units
from the origin looking down -z), and EG3D turns that into a cam2world matrix.

We estimate the same ``Q`` and ``T`` without the network: we place the detected
landmarks in that same virtual 224 crop and solve the perspective-n-point
problem against the mean face's 3D landmarks (Levenberg-Marquardt on the six
pose parameters), weighting the 68 points as Deep3DFaceRecon's landmark loss
does (see :data:`POSE_WEIGHTS`). The jaw line needs care: detectors put those
points on the visible outline of the cheek, which on the far side of a turned
head is not where the template's fixed jaw vertices project, so using them
pulls the yaw toward zero; leaving the jaw line out entirely, however, made the
pitch of smiling faces swing by up to 10 degrees between a photo and its
mirror image. So a first fit without the jaw line gives the yaw, and the second
keeps the near half of the jaw line at full weight and fades the far half out
as the yaw grows (:data:`JAW_FADE_DEG`). On real EG3D crops, their mirror
images and rotated copies, the pose of a mirrored photo then mirrors the
original's within 0.7 degrees of yaw and 0.6 of pitch on average
(``benchmarks/bench_pose.py``).

A rigid fit of the mean face to dlib's points is not what Deep3DFaceRecon
computes (it fits identity and expression as well, from the whole image), and
against EG3D's own labels it was biased: pitch 2.9 degrees too low on average
and yaw about 15 % too small on turned heads. Landmark groups explain part
of it. The eyebrows (dlib traces the brow hair, which expressions and people
move; the template's brow vertices sit on the brow ridge) scatter the pitch, so
they are left out (:data:`POSE_WEIGHTS`). The nose ridge and inner lips, at
weight 20, sit systematically higher in dlib's points than where the template
puts them at the true pose (3-4 px and 1-5 px in the 224 crop), which tilts
the fit chin-up. The net effect acts like a fixed tilt between the frame the
template's points are expressed in and the frame of Deep3DFaceRecon's poses,
corrected by :data:`FRAME_TILT_DEG`. What remains of the yaw shrinkage (the rigid template
turns less than a fitted face would) is corrected by :data:`YAW_GAIN`. The two
numbers are fitted on the 10 crops of ``../shared/faces/calibration_cameras.json``
(``benchmarks/bench_pose.py --calibrate``) and checked by leaving each crop out
in turn. The five-point fallback (profiles) keeps its raw angles: no labelled
crop goes through it. The label is then
built exactly as EG3D builds it from Deep3DFaceRecon's output, roll included:
the camera centre in face coordinates ``C = Q^T ((0, 0, 10) - T)``, moved into
EG3D's world by ``0.27 C + (0, 0.006, 0.161)``, pushed to radius 2.7, and the
rotation ``Q^T diag(1, -1, -1)`` (OpenGL camera axes to OpenCV's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .align import FivePointFit, canvas_window
from .template import FIVE_POINTS_3D, LANDMARKS_3D

POSE_RESCALE_FACTOR = 102.0
POSE_CROP_SIZE = 224
FOCAL_PX = 1015.0
CAMERA_DISTANCE = 10.0
WORLD_SCALE = 0.27
WORLD_OFFSET = np.array([0.0, 0.006, 0.161])
RADIUS = 2.7
FOCAL_NORMALISED = 4.2647

POSE_WEIGHTS = np.ones(68)
POSE_WEIGHTS[28:31] = 20.0
POSE_WEIGHTS[60:68] = 20.0
POSE_WEIGHTS[17:27] = 0.0
"""Per-landmark weights of the pose fit: Deep3DFaceRecon's landmark-loss weights, 20 on the nose ridge
(1-based #29-#31) and the inner lips (#61-#68), 1 elsewhere, except the eyebrows (#18-#27), left out:
with them the pitch error on the calibration crops scatters more (standard deviation 1.7 against 1.4 degrees)."""

FRAME_TILT_DEG = 2.63
"""Added to the fitted rotation about the face's x axis (Deep3DFaceRecon's first Euler angle): the template
frame is tilted chin-up against the frame of EG3D's labels. Fitted on the 10 calibration crops."""

YAW_GAIN = 1.19
"""The fitted rotation about the face's vertical axis (the second Euler angle) is multiplied by this.
Fitted on the 10 calibration crops together with :data:`FRAME_TILT_DEG`."""

JAW_IMAGE_LEFT = np.arange(0, 8)
JAW_IMAGE_RIGHT = np.arange(9, 17)
JAW_FADE_DEG = 20.0
"""The far half of the jaw line counts fully for a frontal face and not at all from this yaw on."""


@dataclass(frozen=True)
class HeadPose:
    """A head pose in Deep3DFaceRecon's camera and the EG3D label it gives.

    ``rotation`` (``Q``, 3x3) and ``translation`` (``T``) map the mean face into
    the virtual 224-pixel camera; ``euler_deg`` are Deep3DFaceRecon's angles
    ``(x, y, z)`` with ``Q = Rz(z) Ry(y) Rx(x)``. ``camera`` is the 25-number
    EG3D label. ``yaw_deg`` and ``pitch_deg`` are read off the label's camera
    centre ``c`` in EG3D's world (see :func:`label_angles`); ``roll_deg`` is the
    in-plane tilt of the head, positive when it is turned counter-clockwise in
    the photo. ``rms_px`` is the landmark reprojection error in the 224 crop.
    """

    rotation: np.ndarray
    translation: np.ndarray
    euler_deg: tuple[float, float, float]
    camera: np.ndarray
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    rms_px: float


def rotation_zyx(angles: np.ndarray) -> np.ndarray:
    """``Rz(z) @ Ry(y) @ Rx(x)`` for angles ``(x, y, z)`` in radians, Deep3DFaceRecon's order."""
    ax, ay, az = angles
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def project(params: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Pixels (x right, y up) in the 224 crop of 3D ``points`` [N,3] posed by ``params = (angles, T)``."""
    posed = points @ rotation_zyx(params[:3]).T + params[3:]
    depth = CAMERA_DISTANCE - posed[:, 2]
    return FOCAL_PX * posed[:, :2] / depth[:, None] + POSE_CROP_SIZE / 2


def to_pose_crop(landmarks: np.ndarray, fit: FivePointFit, width: int, height: int) -> np.ndarray:
    """Photo landmarks [N,2] (pixels, y down) -> Deep3DFaceRecon's 224 crop (pixels, y up)."""
    w, h, left, up = canvas_window(fit, width, height, POSE_RESCALE_FACTOR, POSE_CROP_SIZE)
    pts = np.asarray(landmarks, dtype=np.float64)
    u = (pts[:, 0] + 0.5) * (w / width) - 0.5 - left
    v = (pts[:, 1] + 0.5) * (h / height) - 0.5 - up
    return np.stack([u, POSE_CROP_SIZE - 1 - v], axis=1)


def solve_pnp(observed: np.ndarray, points: np.ndarray, weights: np.ndarray | None = None,
              iterations: int = 60) -> tuple[np.ndarray, float]:
    """Levenberg-Marquardt fit of ``(angles, T)`` so that ``project`` matches ``observed`` (weighted least squares).

    Starts from the frontal pose at the origin, which the 224 crop makes close
    (the crop is centred and scaled on the face). Returns the parameters and
    the weighted RMS residual in pixels.
    """
    scale = np.sqrt(np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64))
    scale = np.repeat(scale / np.sqrt(np.mean(scale ** 2)), 2)

    def residuals(params: np.ndarray) -> np.ndarray:
        """Weighted reprojection residuals [2N] at ``params``."""
        return (project(params, points) - observed).ravel() * scale

    params = np.zeros(6)
    residual = residuals(params)
    cost = float(residual @ residual)
    damping = 1e-3
    steps = np.array([1e-5, 1e-5, 1e-5, 1e-6, 1e-6, 1e-5])
    for _ in range(iterations):
        jacobian = np.empty((residual.size, 6))
        for j in range(6):
            shifted = params.copy()
            shifted[j] += steps[j]
            jacobian[:, j] = (residuals(shifted) - residual) / steps[j]
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ residual
        while True:
            delta = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-9), -gradient)
            trial = params + delta
            trial_residual = residuals(trial)
            trial_cost = float(trial_residual @ trial_residual)
            if trial_cost < cost:
                params, residual, cost = trial, trial_residual, trial_cost
                damping = max(damping / 3, 1e-9)
                break
            damping *= 4
            if damping > 1e6:
                break
        if damping > 1e6 or np.abs(delta).max() < 1e-7:
            break
    return params, math.sqrt(cost / len(observed))


def eg3d_label(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 25-number EG3D label for Deep3DFaceRecon's pose ``(Q, T)``, built as EG3D's scripts build it."""
    centre = rotation.T @ (np.array([0.0, 0.0, CAMERA_DISTANCE]) - translation)
    centre = WORLD_SCALE * centre + WORLD_OFFSET
    centre = RADIUS * centre / np.linalg.norm(centre)
    cam2world = np.eye(4)
    cam2world[:3, :3] = rotation.T @ np.diag([1.0, -1.0, -1.0])
    cam2world[:3, 3] = centre
    intrinsics = np.array([[FOCAL_NORMALISED, 0.0, 0.5], [0.0, FOCAL_NORMALISED, 0.5], [0.0, 0.0, 1.0]])
    return np.concatenate([cam2world.ravel(), intrinsics.ravel()])


def label_angles(camera: np.ndarray) -> tuple[float, float]:
    """``(yaw_deg, pitch_deg)`` of a label's camera centre ``c`` in EG3D's world (y up, face toward +z).

    ``yaw = atan2(c_x, c_z)``: 0 for a frontal photo, positive when the camera
    is toward the subject's left, i.e. the face is turned toward image-left and
    we see more of the subject's left cheek. ``pitch = asin(c_y / |c|)``, the
    true elevation (not EG3D's sampler parameter): positive when the camera is
    above the face looking down at it (chin lowered, more forehead visible).
    """
    c = np.asarray(camera, dtype=np.float64).reshape(25)[[3, 7, 11]]
    yaw = math.degrees(math.atan2(c[0], c[2]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, c[1] / np.linalg.norm(c)))))
    return yaw, pitch


def landmark_pose(observed: np.ndarray) -> tuple[np.ndarray, float]:
    """Uncalibrated pose ``(angles, T)`` [6] and RMS pixels of 68 landmarks [68,2] in the 224 crop (y up).

    Two fits: without the jaw line to learn the yaw, then with the near half of
    the jaw line and the far half faded out by :data:`JAW_FADE_DEG`.
    """
    weights = POSE_WEIGHTS.copy()
    weights[:17] = 0.0
    first, _ = solve_pnp(observed, LANDMARKS_3D, weights)
    yaw, _ = label_angles(eg3d_label(rotation_zyx(first[:3]), first[3:]))
    weights = POSE_WEIGHTS.copy()
    far = JAW_IMAGE_LEFT if yaw > 0 else JAW_IMAGE_RIGHT  # yaw > 0: the face turns toward image-left
    weights[far] = max(0.0, 1.0 - abs(yaw) / JAW_FADE_DEG)
    return solve_pnp(observed, LANDMARKS_3D, weights)


def calibrate(params: np.ndarray, tilt_deg: float = FRAME_TILT_DEG, yaw_gain: float = YAW_GAIN) -> np.ndarray:
    """Pose parameters ``(angles, T)`` [6] moved into the frame of EG3D's labels.

    Adds ``tilt_deg`` to the rotation about the face's x axis (``Q Rx(tilt)``:
    the camera rises above the face) and multiplies the rotation about its
    vertical axis by ``yaw_gain``; the roll and the translation are kept.
    """
    corrected = np.array(params, dtype=np.float64)
    corrected[0] += math.radians(tilt_deg)
    corrected[1] *= yaw_gain
    return corrected


def estimate_pose(points: np.ndarray, fit: FivePointFit, width: int, height: int) -> HeadPose:
    """Head pose and EG3D label from photo points of a face and the five-point fit of the same face.

    ``points`` are the 68 iBUG landmarks [68,2] (:func:`landmark_pose`, then
    :func:`calibrate`) or, when those cannot be trusted, the five alignment
    points [5,2] (a weaker fit, but one that still follows a strongly turned
    head; not calibrated).
    """
    points = np.asarray(points, dtype=np.float64)
    observed = to_pose_crop(points, fit, width, height)
    if len(points) == 68:
        raw, rms = landmark_pose(observed)
        params = calibrate(raw)
    else:
        params, rms = solve_pnp(observed, FIVE_POINTS_3D)
    rotation = rotation_zyx(params[:3])
    camera = eg3d_label(rotation, params[3:])
    yaw, pitch = label_angles(camera)
    euler = tuple(math.degrees(a) for a in params[:3])
    return HeadPose(rotation=rotation, translation=params[3:].copy(), euler_deg=euler, camera=camera,
                    yaw_deg=yaw, pitch_deg=pitch, roll_deg=euler[2], rms_px=rms)
