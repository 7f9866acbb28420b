"""The offline identity metric (dlib's face descriptor), face-region metrics, and photo evaluation with people.

Uses real faces from ../shared/faces (tests and evaluation only).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from triplanenet.cli import main as cli_main
from triplanenet.evaluation import face_mask, psnr
from triplanenet import cameras
from triplanenet.evaluation.metrics import face_psnr, face_ssim, ssim
from triplanenet.evaluation.protocol import carry_landmarks
from triplanenet.evaluation.report import TURN_KEYS, TURN_YAWS
from triplanenet.identity import SAME_PERSON, FaceIdentity
from triplanenet.loading import bundled
from triplanenet.preprocess import align_face

SAME_ACTRESS = ("e3dge_372.jpg", "e3dge_443.jpg")
"""Two photos of one person in ../shared/faces (dlib: 0.28 apart)."""
OTHER_PERSON = "goae_1.jpg"


@pytest.fixture(scope="module")
def identity() -> FaceIdentity:
    return FaceIdentity()


@pytest.fixture(scope="module")
def crops(faces_dir) -> dict[str, np.ndarray]:
    """EG3D crops [512,512,3] uint8 of two photos of one person and of someone else."""
    return {name: np.asarray(align_face(faces_dir / name).image) for name in (*SAME_ACTRESS, OTHER_PERSON)}


def shrunk(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` resized to ``size`` and back (what a low-resolution render loses)."""
    small = Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(small.resize(image.shape[1::-1], Image.Resampling.BICUBIC))


def test_identity_tells_people_apart_and_tolerates_blur_in_order(identity, crops):
    a, b = (crops[name] for name in SAME_ACTRESS)
    landmarks = identity.landmarks(a)
    assert landmarks.shape == (68, 2)
    assert identity.distance(a, a, landmarks) == 0.0
    mild, strong = identity.distance(shrunk(a, 128), a, landmarks), identity.distance(shrunk(a, 32), a, landmarks)
    assert 0 < mild < strong and mild < 0.2
    same = np.linalg.norm(identity.descriptor(a, landmarks) - identity.descriptor(b, identity.landmarks(b)))
    other_image = crops[OTHER_PERSON]
    other = np.linalg.norm(identity.descriptor(a, landmarks)
                           - identity.descriptor(other_image, identity.landmarks(other_image)))
    assert same < SAME_PERSON < other


def test_no_face_means_no_landmarks_and_bad_landmarks_are_refused(identity, crops):
    assert identity.landmarks(np.zeros((256, 256, 3), np.uint8)) is None
    with pytest.raises(ValueError, match="68 landmarks"):
        identity.descriptor(crops[OTHER_PERSON], np.zeros((5, 2)))
    with pytest.raises(ValueError, match="same size"):
        identity.distance(crops[OTHER_PERSON][:256], crops[OTHER_PERSON], np.zeros((68, 2)))


def test_face_region_metrics_are_the_whole_image_metrics_on_a_full_mask():
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.rand(1, 3, 64, 64, generator=generator) * 2 - 1 for _ in range(2))
    full = torch.ones(64, 64, dtype=torch.bool)
    assert face_psnr(a, b, full) == pytest.approx(float(psnr(a, b)[0]), abs=1e-9)
    assert face_ssim(a, b, full) == pytest.approx(float(ssim(a, b)[0]), abs=1e-9)
    square = np.array([[10, 10], [50, 10], [50, 30], [10, 30], [30, 20]], dtype=float)  # one point inside
    mask = face_mask(square, 64)
    assert mask[20, 30] and not mask[5, 5] and not mask[40, 30] and int(mask.sum()) == pytest.approx(41 * 21, rel=0.1)
    same_face = torch.where(mask, b, a)  # b inside the face, a outside it
    assert face_psnr(same_face, b, mask) == float("inf") and float(psnr(same_face, b)[0]) < 20


@pytest.mark.skipif(not bundled.available(), reason="assets/bundled is missing")
@pytest.mark.slow
def test_photo_evaluation_reports_identity_and_cross_photo_identity(tmp_path, faces_dir, capsys):
    folder = tmp_path / "people"
    folder.mkdir()
    labels = []
    for name in SAME_ACTRESS:
        face = align_face(faces_dir / name)
        face.image.save(folder / f"{name}.png")
        labels.append([f"{name}.png", [float(v) for v in face.camera]])
    (folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    people = tmp_path / "people.json"
    people.write_text(json.dumps({f"{name}.png": "actress" for name in SAME_ACTRESS}))
    out = tmp_path / "eval.json"
    assert cli_main(["evaluate", "--photos", str(folder), "--people", str(people), "--refine-steps", "2",
                     "--json", str(out), "--lpips-weights", str(tmp_path / "none")]) == 0
    table = capsys.readouterr().out
    assert "face PSNR" in table and "ID" in table and "cross ID" in table and "v2+refined" in table
    assert all(f"ID {yaw:+g}" in table and f"rec. {yaw:+g}" in table for yaw in TURN_YAWS)
    report = json.loads(out.read_text())
    assert list(report["methods"]) == ["w+", "v1", "v2", "v2+refined"]
    for method in report["methods"].values():
        for row in method["heads"]:
            assert row["face_psnr"] > 0 and 0 < row["identity"] < 2 and row["recognised"] in (0.0, 1.0)
            for distance, share in TURN_KEYS:
                assert 0 < row[distance] < 2 and row[share] == float(row[distance] < SAME_PERSON)
        assert [(pair["from"], pair["to"]) for pair in method["pairs"]] == [
            ("e3dge_372.jpg.png", "e3dge_443.jpg.png"), ("e3dge_443.jpg.png", "e3dge_372.jpg.png")]
        assert 0 <= method["mean"]["cross_recognised"] <= 1 and method["mean"]["cross_identity"] > 0
    refined, encoded = (report["methods"][m]["mean"] for m in ("v2+refined", "v2"))
    assert refined["face_psnr"] > encoded["face_psnr"]


def test_people_must_name_files_of_the_dataset(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "dataset.json").write_text(json.dumps({"labels": [["a.png", [0.0] * 25]]}))
    people = tmp_path / "people.json"
    people.write_text(json.dumps({"b.png": "someone"}))
    assert cli_main(["evaluate", "--photos", str(folder), "--people", str(people)]) == 2
    assert "not in the dataset" in capsys.readouterr().err
    people.write_text("[1, 2]")
    assert cli_main(["evaluate", "--photos", str(folder), "--people", str(people)]) == 2
    assert "mapping file names to person names" in capsys.readouterr().err
    assert cli_main(["evaluate", "--seeds", "0", "--people", str(people)]) == 2
    assert "--people goes with --photos" in capsys.readouterr().err


def test_landmarks_carried_to_a_turned_camera_stay_on_the_surface_they_were_lifted_to():
    c, size, turned = cameras.camera(0.2, -0.1), 512, cameras.turned(cameras.camera(0.2, -0.1), 0.5)
    point = torch.tensor([[0.12, -0.08, 0.3]])
    landmark = cameras.project(point, c).numpy() * size
    depth = torch.full((64, 64), float((cameras.split(c)[0][0, :3, 3] - point[0]).norm()))
    np.testing.assert_allclose(carry_landmarks(landmark, size, depth, c, c), landmark, atol=1e-3)
    expected = cameras.project(point, turned).numpy() * size
    np.testing.assert_allclose(carry_landmarks(landmark, size, depth, c, turned), expected, atol=1e-2)
    assert np.abs(expected - landmark).max() > 20, "the turn moves the point in the image"
