"""Camera accuracy against EG3D's own labels, and the pose-consistency table.

EG3D labels its photos with MTCNN + Deep3DFaceRecon; ``../shared/faces/calibration_cameras.json``
holds those labels for 10 of the 19 labelled EG3D crops. For each of them this
prints the label's yaw and pitch (camera centre, degrees; see
``pose.label_angles``) and our signed errors (ours - label): uncalibrated (the
rigid landmark fit alone), calibrated with the shipped ``FRAME_TILT_DEG`` and
``YAW_GAIN`` (fitted on these 10, so a training error), and leave-one-out (the
two numbers refitted on the other 9 and applied to the one left out).
Then it prints the mirror / shrink / rotate / shift table of
``bench_preprocess.py`` (all 19 crops) and, with ``--speed``, its timings.

``--calibrate`` prints the least-squares ``FRAME_TILT_DEG`` and ``YAW_GAIN`` on the 10.

Run: ``python benchmarks/bench_pose.py [--calibrate] [--speed] [--runs 5]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from triplanenet.preprocess import align_face, detect_faces, fit_five_points, load_image  # noqa: E402
from triplanenet.preprocess.points import alignment_points, landmarks_reliable  # noqa: E402
from triplanenet.preprocess.pose import (  # noqa: E402
    FRAME_TILT_DEG,
    YAW_GAIN,
    calibrate,
    eg3d_label,
    label_angles,
    landmark_pose,
    rotation_zyx,
    to_pose_crop,
)

FACES = ROOT.parent / "shared" / "faces"
CALIBRATION = FACES / "calibration_cameras.json"
GAUSS_NEWTON_STEPS = 10
STEP = 1e-4


class Sample(NamedTuple):
    """One calibration crop: its uncalibrated landmark pose ``raw`` [6] and the label's ``(yaw, pitch)`` degrees."""

    name: str
    raw: np.ndarray
    label: np.ndarray


def load_labels(path: Path = CALIBRATION) -> dict[str, np.ndarray]:
    """The 25-number EG3D labels by crop file name."""
    return {name: np.asarray(label) for name, label in json.loads(path.read_text())["labels"].items()}


def calibration_samples(faces: Path = FACES) -> list[Sample]:
    """Detect each calibration crop's landmarks as ``align_face`` does and fit the uncalibrated pose.

    Raises ValueError when a crop's 68 landmarks are not trusted (the pose
    would come from the five-point fallback, which is not calibrated).
    """
    samples = []
    for name, label in load_labels(faces / CALIBRATION.name).items():
        photo = load_image(faces / name)
        face = detect_faces(photo)[0][0]
        if not landmarks_reliable(face.landmarks, list(face.mtcnn_points)):
            raise ValueError(f"{name}: its 68 landmarks are not trusted, so it cannot calibrate the landmark pose")
        fit = fit_five_points(alignment_points(face.landmarks, list(face.mtcnn_points)), photo.height)
        raw, _ = landmark_pose(to_pose_crop(face.landmarks, fit, photo.width, photo.height))
        samples.append(Sample(name, raw, np.array(label_angles(label))))
    return samples


def angles_of(raw: np.ndarray, tilt_deg: float, yaw_gain: float) -> np.ndarray:
    """``(yaw, pitch)`` degrees of the label built from ``raw`` [6] calibrated by ``(tilt_deg, yaw_gain)``."""
    params = calibrate(raw, tilt_deg, yaw_gain)
    return np.array(label_angles(eg3d_label(rotation_zyx(params[:3]), params[3:])))


def errors(samples: list[Sample], tilt_deg: float, yaw_gain: float) -> np.ndarray:
    """Signed ``(yaw, pitch)`` errors [N,2] in degrees, ours - label."""
    return np.array([angles_of(s.raw, tilt_deg, yaw_gain) - s.label for s in samples])


def fit_calibration(samples: list[Sample]) -> tuple[float, float]:
    """Least-squares ``(tilt_deg, yaw_gain)`` over the yaw and pitch errors of ``samples`` (Gauss-Newton)."""
    x = np.array([0.0, 1.0])
    for _ in range(GAUSS_NEWTON_STEPS):
        residual = errors(samples, *x).ravel()
        jacobian = np.stack([(errors(samples, *(x + STEP * np.eye(2)[j])).ravel() - residual) / STEP
                             for j in range(2)], axis=1)
        x = x - np.linalg.lstsq(jacobian, residual, rcond=None)[0]
    return float(x[0]), float(x[1])


def leave_one_out(samples: list[Sample]) -> np.ndarray:
    """Signed errors [N,2] of each sample under the calibration fitted on all the others."""
    return np.concatenate([errors([s], *fit_calibration(samples[:i] + samples[i + 1:]))
                           for i, s in enumerate(samples)])


def pipeline_angles(name: str) -> np.ndarray:
    """``(yaw, pitch)`` degrees that ``align_face`` gives a crop of ``../shared/faces``."""
    face = align_face(FACES / name)
    return np.array([face.yaw_deg, face.pitch_deg])


def summary(name: str, errs: np.ndarray) -> str:
    """One table row: mean signed, mean absolute and max absolute yaw and pitch errors."""
    signed, mean_abs, max_abs = errs.mean(axis=0), np.abs(errs).mean(axis=0), np.abs(errs).max(axis=0)
    return (f"| {name:34} | {signed[0]:+.2f} | {mean_abs[0]:.2f} | {max_abs[0]:.2f} "
            f"| {signed[1]:+.2f} | {mean_abs[1]:.2f} | {max_abs[1]:.2f} |")


def pose_table() -> None:
    """Per-crop signed errors against EG3D's labels, then their summary."""
    samples = calibration_samples()
    rolls = json.loads(CALIBRATION.read_text())["angles"]
    uncalibrated = errors(samples, 0.0, 1.0)
    loo = leave_one_out(samples)
    shipped = np.array([pipeline_angles(s.name) - s.label for s in samples])
    print(f"\nCamera vs EG3D's labels on the {len(samples)} calibration crops (degrees; errors are ours - label)")
    print("| crop | label yaw | label pitch | label roll | uncal. dyaw | uncal. dpitch "
          "| dyaw | dpitch | LOO dyaw | LOO dpitch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, s in enumerate(samples):
        print(f"| {s.name} | {s.label[0]:+.2f} | {s.label[1]:+.2f} | {rolls[s.name]['roll_deg']:+.2f} "
              f"| {uncalibrated[i, 0]:+.2f} | {uncalibrated[i, 1]:+.2f} | {shipped[i, 0]:+.2f} | {shipped[i, 1]:+.2f} "
              f"| {loo[i, 0]:+.2f} | {loo[i, 1]:+.2f} |")
    print("\n| errors | yaw signed | yaw mean abs | yaw max abs | pitch signed | pitch mean abs | pitch max abs |")
    print(f"|{'-' * 36}|---|---|---|---|---|---|")
    print(summary("uncalibrated landmark fit", uncalibrated))
    print(summary(f"shipped (tilt {FRAME_TILT_DEG:+.2f}°, gain {YAW_GAIN:.3f})", shipped))
    print(summary("leave-one-out", loo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not CALIBRATION.exists():
        sys.exit(f"needs the calibration labels in {CALIBRATION}")
    if args.calibrate:
        tilt, gain = fit_calibration(calibration_samples())
        print(f"FRAME_TILT_DEG = {tilt:.2f}\nYAW_GAIN = {gain:.3f}")
        return
    import bench_preprocess

    pose_table()
    if args.speed:
        bench_preprocess.speed(args.runs)
    bench_preprocess.accuracy()


if __name__ == "__main__":
    main()
