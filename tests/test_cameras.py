"""EG3D camera conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from triplanenet import cameras


def test_matches_official_look_at_sampler(parity_dir):
    ref = np.load(parity_dir / "eg3d_ffhq512.npz")
    ours = cameras.camera([0.0, 0.4], [0.0, -0.15])
    assert np.array_equal(ours.numpy(), ref["c_render"])


def test_frontal_camera_geometry():
    cam2world, K = cameras.split(cameras.camera())
    position = cam2world[0, :3, 3]
    assert torch.allclose(position, torch.tensor([0.0, 0.0, 2.7]), atol=1e-6)
    forward = cam2world[0, :3, 2]
    to_pivot = torch.tensor(cameras.PIVOT) - position
    assert torch.allclose(forward, to_pivot / to_pivot.norm(), atol=1e-6), "camera looks at the pivot"
    assert cam2world[0, 1, 1] < 0, "image y points down in the world (OpenCV)"
    assert torch.allclose(torch.det(cam2world[0, :3, :3]), torch.tensor(1.0), atol=1e-6)
    assert torch.equal(K[0], torch.tensor([[4.2647, 0, 0.5], [0, 4.2647, 0.5], [0, 0, 1]]))


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (0.5, -0.2), (-0.9, 0.3), (1.4, 0.0)])
def test_yaw_pitch_round_trip(yaw, pitch):
    y, p = cameras.yaw_pitch(cameras.camera(yaw, pitch))
    assert y.item() == pytest.approx(yaw, abs=1e-5)
    assert p.item() == pytest.approx(pitch, abs=1e-5)


def test_positive_yaw_moves_camera_to_plus_x_and_pitch_lowers_it():
    assert cameras.split(cameras.camera(0.3, 0.0))[0][0, 0, 3] > 0
    assert cameras.split(cameras.camera(0.0, 0.2))[0][0, 1, 3] < 0


def test_mirror_flips_yaw_and_is_an_involution():
    c = cameras.camera(0.35, -0.1)
    assert torch.allclose(cameras.mirror(c), cameras.camera(-0.35, -0.1), atol=1e-6)
    assert torch.equal(cameras.mirror(cameras.mirror(c)), c)


def test_batched_labels():
    c = cameras.camera(torch.linspace(-0.5, 0.5, 5), 0.1)
    assert c.shape == (5, 25)
    yaws, pitches = cameras.yaw_pitch(c)
    assert torch.allclose(yaws, torch.linspace(-0.5, 0.5, 5), atol=1e-5)
    assert torch.allclose(pitches, torch.full((5,), 0.1), atol=1e-5)
    assert torch.all(c[:, 16] == torch.tensor(4.2647)) and torch.all(c[:, 20] == torch.tensor(4.2647))


@pytest.mark.parametrize("yaw,pitch,turn", [(0.0, 0.0, 0.3), (0.4, -0.2, -0.5), (-0.3, 0.1, 0.5)])
def test_a_turned_camera_orbits_the_pivot_keeping_pitch_and_distance(yaw, pitch, turn):
    c = cameras.camera(yaw, pitch)
    moved = cameras.turned(c, turn)
    assert torch.equal(cameras.turned(c, 0.0), c)
    torch.testing.assert_close(cameras.turned(moved, -turn), c, atol=1e-6, rtol=0)
    pivot = torch.tensor([cameras.PIVOT])
    torch.testing.assert_close(cameras.project(pivot, moved), cameras.project(pivot, c), atol=1e-6, rtol=0)
    before, after = (cameras.split(x)[0][0, :3, 3] - pivot[0] for x in (c, moved))
    assert after.norm().item() == pytest.approx(before.norm().item(), abs=1e-6)
    assert after[1].item() == pytest.approx(before[1].item(), abs=1e-6), "height (pitch) is kept"
    angle = torch.atan2(after[0], after[2]) - torch.atan2(before[0], before[2])
    assert angle.item() == pytest.approx(turn, abs=1e-6), "positive turns move the camera toward +x"


def test_unproject_and_project_are_inverse_and_project_puts_the_pivot_at_the_principal_point():
    c = cameras.camera(0.3, -0.1)
    uv = torch.tensor([[0.5, 0.5], [0.2, 0.7], [0.9, 0.1]])
    points = cameras.unproject(uv, torch.tensor([2.0, 2.5, 3.0]), c)
    torch.testing.assert_close(cameras.project(points, c), uv, atol=1e-5, rtol=0)
    origin = cameras.split(c)[0][0, :3, 3]
    torch.testing.assert_close((points - origin).norm(dim=1), torch.tensor([2.0, 2.5, 3.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(cameras.project(torch.tensor([cameras.PIVOT]), c), torch.tensor([[0.5, 0.5]]),
                               atol=1e-5, rtol=0)
