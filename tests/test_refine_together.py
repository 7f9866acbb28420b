"""Several photos of one person -> one head: the joint refinement, its records, and its bad input.

The API tests use the tiny EG3D snapshot of ../shared/parity (real architecture, small sizes); the
pipeline and command-line tests use the bundled model on real photos of one person from ../shared/faces.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import triplanenet
from triplanenet import Inversion, TriPlaneGenerator, cameras, cli
from triplanenet.app import people
from triplanenet.loading import bundled
from triplanenet.pipeline import Pipeline, crop_and_landmarks, identity_warnings
from triplanenet.preprocess import align_face
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


needs_bundled = pytest.mark.skipif(not (bundled.BUNDLED_DIR / "model.safetensors").is_file(),
                                   reason="the bundled model is not in assets/bundled")
SAME_PERSON_PHOTOS = ("e3dge_372.jpg", "e3dge_443.jpg")
"""Two photos of one actress (dlib distance 0.28, see benchmarks/people_dataset.py)."""
STRANGER = "goae_1.jpg"


@pytest.fixture(scope="module")
def no_face(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(path)
    return path


def test_the_photo_of_someone_else_is_named(faces_dir):
    names = [*SAME_PERSON_PHOTOS, STRANGER]
    warnings = identity_warnings([crop_and_landmarks(align_face(faces_dir / name)) for name in names], names)
    assert len(warnings) == 1 and warnings[0].startswith(f"{STRANGER} may show someone else")


def test_more_than_eight_photos_is_a_readable_error(capsys, faces_dir):
    photos = [str(faces_dir / SAME_PERSON_PHOTOS[0])] * (MAX_PHOTOS + 1)
    assert cli.main(["invert", *photos, "--same-person", "--out", "unused"]) == 2
    assert f"1 to {MAX_PHOTOS} photos of one person, got {MAX_PHOTOS + 1}" in capsys.readouterr().err


def test_several_photos_need_same_person(capsys, faces_dir):
    photos = [str(faces_dir / name) for name in SAME_PERSON_PHOTOS]
    assert cli.main(["invert", *photos, "--out", "unused"]) == 2
    assert "--same-person" in capsys.readouterr().err


@needs_bundled
@pytest.mark.slow
def test_the_command_line_fits_one_head_to_two_photos_and_leaves_out_the_one_without_a_face(
        capsys, faces_dir, no_face, tmp_path):
    photos = [str(faces_dir / name) for name in SAME_PERSON_PHOTOS]
    code = cli.main(["invert", photos[0], str(no_face), photos[1], "--same-person", "--refine-steps", "2",
                     "--out", str(tmp_path), "--views", "2", "--mesh-resolution", "32"])
    err = capsys.readouterr().err
    assert code == 0 and "warning: wall.png was left out: No face found" in err
    assert "someone else" not in err
    head = Inversion.load(tmp_path / "inversion.safetensors")
    assert len(head) == 1 and head.method == "v2+refined" and head.photo_cameras.shape == (1, 2, 25)
    for i, name in enumerate(SAME_PERSON_PHOTOS):
        folder = tmp_path / "photos" / f"{i:02d}_{Path(name).stem}"
        camera = json.loads((folder / "alignment.json").read_text())["camera"]
        torch.testing.assert_close(head.photo_cameras[0, i], torch.tensor(camera, dtype=torch.float32))
        assert Image.open(folder / "crop.png").size == (512, 512)
    for name in ("crop.png", "alignment.json", "input_vs_reconstruction.png", "views/view_01.png"):
        assert (tmp_path / name).is_file(), name


@needs_bundled
@pytest.mark.slow
def test_the_app_records_more_photos_on_the_sessions_head_for_refine(faces_dir, no_face):
    pipeline = Pipeline.from_pretrained("bundled", "cpu")
    first = pipeline.align(faces_dir / SAME_PERSON_PHOTOS[0])
    head = pipeline.invert(first.image, first.camera, "v2")
    more = people.add_photos(pipeline, head, [str(faces_dir / SAME_PERSON_PHOTOS[1]), str(no_face)], "v2")
    assert torch.equal(more.inversion.ws, head.ws) and more.inversion.photos.shape[:2] == (1, 2)
    assert [caption.split(":")[0] for _, caption in more.gallery] == [SAME_PERSON_PHOTOS[1]]
    assert "wall.png was left out" in more.summary and "someone else" not in more.summary
    with pytest.raises(ValueError, match=f"Up to {people.MORE_PHOTOS} more photos"):
        people.add_photos(pipeline, head, [str(no_face)] * MAX_PHOTOS, "v2")
