"""Several photos of one person -> one head: the joint refinement, its records, and its bad input.

The API tests use the tiny EG3D snapshot of ../shared/parity (real architecture, small sizes); the
pipeline and command-line tests use the bundled model on real photos of one person from ../shared/faces.
"""
from __future__ import annotations

import pytest
import torch

import triplanenet
from triplanenet import Inversion, TriPlaneGenerator, cameras
from triplanenet.refinement import (MAX_PHOTOS, RefineSettings, joint_head, refine, refine_together,
                                    refinement_steps)

QUICK = RefineSettings(steps=3, resolution=32, density_points=512)
YAWS = (-0.4, 0.05, 0.3)
"""The person's photos, turned; the second is the most frontal."""


@pytest.fixture(scope="module")
def tiny_generator(parity_dir) -> TriPlaneGenerator:
    return triplanenet.load_generator(parity_dir / "eg3d_tiny_snapshot.pkl")


@pytest.fixture(scope="module")
def photos(tiny_generator) -> list[Inversion]:
    """Three 'photos' (random images, far from any head, so that the fit has work to do) from three sides,
    each with its own encoder head (a head of the tiny generator)."""
    torch.manual_seed(0)
    inversions = []
    for yaw in YAWS:
        c = cameras.camera(yaw, -0.1)
        ws = tiny_generator.mapping(torch.randn(1, tiny_generator.z_dim), c).detach()
        planes = tiny_generator.planes(ws).detach()
        photo = torch.rand(1, 3, 128, 128) * 2 - 1
        inversions.append(Inversion(ws, planes, planes.clone(), c, photo, "v2", generator=tiny_generator))
    return inversions


def test_one_head_is_fitted_to_every_photo_and_records_their_cameras(photos, tmp_path):
    start = joint_head(photos)
    assert torch.equal(start.ws, photos[1].ws) and torch.equal(start.camera, photos[1].camera)
    losses = [state.loss for state in refinement_steps(start, QUICK)]
    assert len(losses) == QUICK.steps and all(0 < loss < 2 for loss in losses)
    head = refine_together(photos, QUICK)
    assert not torch.equal(head.planes, refine(photos[1], settings=QUICK).planes), "the other photos count"
    assert len(head) == 1 and head.method == "v2+refined"
    assert torch.equal(head.photo_cameras[0], torch.cat([p.camera for p in photos]))
    assert torch.equal(head.photos[0], torch.cat([p.input_image for p in photos]))
    saved = Inversion.load(head.save(tmp_path / "head.safetensors"))
    assert torch.equal(saved.photo_cameras, head.photo_cameras) and torch.equal(saved.photos, head.photos)
    image, _ = head.render(head.photo_cameras[0])
    assert image.shape[0] == len(YAWS)


def test_one_photo_gives_exactly_the_single_photo_refinement(photos):
    alone, together = refine(photos[0], settings=QUICK), refine_together(photos[:1], QUICK)
    assert torch.equal(alone.ws, together.ws) and torch.equal(alone.planes, together.planes)


def test_files_without_photos_still_load(photos, tmp_path):
    loaded = Inversion.load(photos[0].save(tmp_path / "old.npz"))
    assert loaded.photos is None and loaded.photo_cameras is None


def test_too_many_photos_is_a_readable_error(photos):
    with pytest.raises(ValueError, match=f"1 to {MAX_PHOTOS} photos"):
        refine_together(photos * 3, QUICK)
