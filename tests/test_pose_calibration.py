"""The camera estimate against EG3D's own labels (../shared/faces/calibration_cameras.json).

EG3D labels photos with MTCNN + Deep3DFaceRecon; the 10 labelled crops are what
``pose.FRAME_TILT_DEG`` and ``pose.YAW_GAIN`` were fitted on, so besides the
shipped estimate's error the tests check the leave-one-out error (the two
numbers refitted without the crop they are tested on).
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import load_benchmark
from triplanenet.preprocess import align_face
from triplanenet.preprocess.pose import FRAME_TILT_DEG, YAW_GAIN

MEAN_ABS_DEG = 1.5
MAX_ABS_DEG = 4.0


@pytest.fixture(scope="module")
def bench(faces_dir):
    if not (faces_dir / "calibration_cameras.json").exists():
        pytest.skip(f"no calibration_cameras.json in {faces_dir}")
    return load_benchmark("bench_pose")


@pytest.fixture(scope="module")
def samples(bench, faces_dir):
    return bench.calibration_samples(faces_dir)


def test_camera_agrees_with_eg3d_labels(bench, samples, faces_dir):
    """align_face's yaw and pitch on the calibration crops: no pitch bias, no yaw shrinkage on turned heads."""
    errors = np.array([[face.yaw_deg, face.pitch_deg] - s.label
                       for s in samples for face in [align_face(faces_dir / s.name)]])
    assert len(errors) == 10
    assert np.all(np.abs(errors).mean(axis=0) <= MEAN_ABS_DEG), errors
    assert np.all(np.abs(errors).max(axis=0) <= MAX_ABS_DEG), errors
    assert abs(errors[:, 1].mean()) < 0.5, errors  # the old estimator's pitch was 2.9 degrees low on average
    turned = np.abs([s.label[0] for s in samples]) > 20
    assert np.all(np.abs(errors[turned, 0]) < 2.5), errors


def test_leave_one_out_error_meets_the_targets(bench, samples):
    """Calibrated on 9 crops and tested on the 10th, in turn: the error is not just a training error."""
    errors = bench.leave_one_out(samples)
    assert np.all(np.abs(errors).mean(axis=0) <= MEAN_ABS_DEG), errors
    assert np.all(np.abs(errors).max(axis=0) <= MAX_ABS_DEG), errors


def test_shipped_constants_are_the_least_squares_fit(bench, samples):
    tilt, gain = bench.fit_calibration(samples)
    assert tilt == pytest.approx(FRAME_TILT_DEG, abs=0.1)
    assert gain == pytest.approx(YAW_GAIN, abs=0.01)


def test_uncalibrated_fit_shows_the_bias_the_calibration_removes(bench, samples):
    """Without the correction the rigid fit reads the pitch low and the turned heads' yaw small."""
    errors = bench.errors(samples, 0.0, 1.0)
    assert errors[:, 1].mean() < -1.5
    turned = np.array([s.label[0] for s in samples])
    assert np.all(errors[turned > 20, 0] < -3.0)
