"""Face preprocessing: real photos, EG3D re-alignment accuracy, pose geometry and backends.

The accuracy tests use real EG3D crops from ../shared/faces: each already is the
EG3D crop of its photo, so aligning it again must give back the whole image, and
so must aligning a shrunk, rotated, shifted copy of it pasted into a bigger canvas.
"""
from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from conftest import load_benchmark
from triplanenet import cameras
from triplanenet.preprocess import (
    CropTransform,
    FaceError,
    align_face,
    detect_faces,
    estimate_pose,
    fit_five_points,
    label_angles,
    load_image,
)
from triplanenet.preprocess import landmarks as landmarks_module
from triplanenet.preprocess.align import eg3d_box, render_crop
from triplanenet.preprocess.pose import (CAMERA_DISTANCE, FOCAL_PX, POSE_CROP_SIZE, calibrate, eg3d_label,
                                          rotation_zyx, solve_pnp)
from triplanenet.preprocess.template import FIVE_POINTS_3D, LANDMARKS_3D, five_points

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut test photo")

LABELLED = ("goae_", "hfgi3d_", "eg3dproj_", "triplanenet_example")


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


@pytest.fixture(scope="module")
def eg3d_crops(faces_dir: Path) -> dict[str, Image.Image]:
    """The 19 labelled 512x512 EG3D crops, by file name."""
    paths = sorted(p for p in faces_dir.iterdir() if p.name.startswith(LABELLED) and p.suffix in (".png", ".jpg"))
    assert len(paths) == 19, [p.name for p in paths]
    return {p.name: Image.open(p).convert("RGB") for p in paths}


@pytest.fixture(scope="module")
def aligned_crops(eg3d_crops):
    return {name: align_face(image) for name, image in eg3d_crops.items()}


def box_error(box, centre, side) -> tuple[float, float]:
    """Relative scale error and centre offset (fractions of the expected side) of a box."""
    x0, y0, x1, y1 = box
    scale = ((x1 - x0) + (y1 - y0)) / 2 / side - 1
    offset = math.hypot((x0 + x1) / 2 - centre[0], (y0 + y1) / 2 - centre[1]) / side
    return scale, offset


# --- real photos -------------------------------------------------------------------------------

def test_astronaut_gives_an_eg3d_crop(astronaut):
    face = align_face(astronaut)
    assert face.image.size == (512, 512) and face.image.mode == "RGB"
    assert face.faces_found == 1 and face.face_index == 0
    assert face.backend == "dlib" and face.alignment_points == "mtcnn+landmarks"
    assert face.landmarks.shape == (68, 2) and face.landmarks_crop.shape == (68, 2)
    assert face.camera.shape == (25,)
    # The face sits where EG3D crops put it: eyes ~ y 198, about 130 px apart, nose tip near the middle.
    eyes = five_points(face.landmarks_crop)[:2]
    assert 170 < eyes[:, 1].mean() < 225
    assert 100 < eyes[1, 0] - eyes[0, 0] < 160
    assert abs(face.landmarks_crop[30, 0] - 256) < 40
    # Near-frontal portrait.
    assert abs(face.yaw_deg) < 12 and abs(face.pitch_deg) < 12 and abs(face.roll_deg) < 10


def test_grace_hopper_if_matplotlib_is_installed():
    cbook = pytest.importorskip("matplotlib.cbook", reason="matplotlib (its Grace Hopper sample) is not installed")
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        face = align_face(handle.read())
    assert face.faces_found == 1 and abs(face.yaw_deg) < 15


def test_camera_label_has_eg3d_structure(astronaut):
    camera = align_face(astronaut).camera
    cam2world = camera[:16].reshape(4, 4)
    np.testing.assert_allclose(cam2world[3], [0, 0, 0, 1])
    np.testing.assert_allclose(cam2world[:3, :3] @ cam2world[:3, :3].T, np.eye(3), atol=1e-9)
    assert np.linalg.det(cam2world[:3, :3]) == pytest.approx(1.0)
    assert np.linalg.norm(cam2world[:3, 3]) == pytest.approx(cameras.RADIUS)
    np.testing.assert_allclose(camera[16:], cameras.intrinsics().numpy().ravel(), atol=1e-6)
    # The camera looks at the head: its forward axis passes within 0.3 units of the look-at pivot.
    forward, centre = cam2world[:3, 2], cam2world[:3, 3]
    to_pivot = np.array(cameras.PIVOT) - centre
    assert np.linalg.norm(to_pivot - forward * (to_pivot @ forward)) < 0.3
    # A near-frontal face gives a camera near EG3D's frontal look-at camera.
    frontal = cameras.camera(0.0, 0.0)[0].numpy()
    assert np.linalg.norm(cam2world[:3, 3] - frontal[[3, 7, 11]]) < 0.6


# --- re-alignment of real EG3D crops ----------------------------------------------------------

def test_realigning_eg3d_crops_gives_them_back(aligned_crops):
    scale_errors, offsets = [], []
    for name, face in aligned_crops.items():
        assert face.faces_found == 1, name
        scale, offset = box_error(face.box, (256, 256), 512)
        scale_errors.append(abs(scale))
        offsets.append(offset)
    assert np.mean(scale_errors) < 0.02, scale_errors
    assert np.mean(offsets) < 0.02, offsets
    assert max(scale_errors) < 0.06 and max(offsets) < 0.03


transformed_copy = load_benchmark("bench_preprocess").transformed_copy


CASES = [(0.7, 15.0, (900, 700), (380.0, 330.0)), (0.55, -12.0, (800, 900), (450.0, 420.0)),
         (0.8, 7.0, (1200, 800), (700.0, 390.0))]


@pytest.mark.parametrize("shrink,angle,canvas,centre", CASES)
@pytest.mark.slow
def test_realigning_shrunk_rotated_shifted_crops(eg3d_crops, aligned_crops, shrink, angle, canvas, centre):
    scale_errors, offsets, yaw_changes, pitch_changes, roll_changes = [], [], [], [], []
    for name, crop in eg3d_crops.items():
        face = align_face(transformed_copy(crop, shrink, angle, canvas, centre))
        scale, offset = box_error(face.box, centre, 512 * shrink)
        scale_errors.append(abs(scale))
        offsets.append(offset)
        reference = aligned_crops[name]
        yaw_changes.append(abs(face.yaw_deg - reference.yaw_deg))
        pitch_changes.append(abs(face.pitch_deg - reference.pitch_deg))
        roll_changes.append(face.roll_deg - reference.roll_deg)
    assert np.mean(scale_errors) < 0.02 and np.mean(offsets) < 0.02, (scale_errors, offsets)
    assert max(scale_errors) < 0.07 and max(offsets) < 0.05
    # The pose does not depend on where the face is, and in-plane rotation only changes the roll.
    assert np.mean(yaw_changes) < 2.0 and np.mean(pitch_changes) < 2.0, (yaw_changes, pitch_changes)
    assert np.median(roll_changes) == pytest.approx(angle, abs=2.0)


@pytest.mark.slow
def test_yaw_sign_flips_on_mirrored_crops(eg3d_crops, aligned_crops):
    turned = 0
    for name, crop in eg3d_crops.items():
        face = aligned_crops[name]
        mirrored = align_face(ImageOps.mirror(crop))
        assert mirrored.yaw_deg == pytest.approx(-face.yaw_deg, abs=4.0), name
        assert mirrored.pitch_deg == pytest.approx(face.pitch_deg, abs=4.0), name
        if abs(face.yaw_deg) > 8:
            turned += 1
            assert np.sign(mirrored.yaw_deg) == -np.sign(face.yaw_deg), name
            # The mirrored photo's camera is EG3D's mirrored camera.
            expected = cameras.mirror(torch.from_numpy(face.camera[None]))[0].numpy()
            assert np.linalg.norm(mirrored.camera[[3, 7, 11]] - expected[[3, 7, 11]]) < 0.25, name
    assert turned >= 4


def test_yaw_sign_convention_on_a_turned_face(eg3d_crops, aligned_crops):
    """Positive yaw means the nose points to image-left (the camera is toward the subject's left)."""
    for name, face in aligned_crops.items():
        if abs(face.yaw_deg) < 10:
            continue
        eyes_mid_x = five_points(face.landmarks_crop)[:2, 0].mean()
        nose_offset = face.landmarks_crop[30, 0] - eyes_mid_x
        assert np.sign(nose_offset) == -np.sign(face.yaw_deg), name


# --- geometry -----------------------------------------------------------------------------------

def test_five_point_fit_recovers_a_known_scale_and_centre():
    rotation = rotation_zyx(np.radians([5.0, -20.0, 8.0]))
    projected = FIVE_POINTS_3D @ rotation.T
    points = np.stack([projected[:, 0] * 120 + 300, 400 - 1 - (projected[:, 1] * 120 + 250)], axis=1)
    fit = fit_five_points(points, 400)
    assert fit.scale == pytest.approx(120, rel=0.05)
    assert (fit.tx, fit.ty_up) == pytest.approx((300, 250), abs=2)


def test_eg3d_box_follows_the_reference_arithmetic():
    """A face fitted at exactly 300/700*512 px per unit in a 512 image gives the whole image back."""
    scale = 512 * 300 / 700
    box = eg3d_box(type(fit_five_points(np.zeros((5, 2)), 512))(scale=scale, tx=256.0, ty_up=256.0), 512, 512)
    np.testing.assert_allclose(box, (0, 0, 512, 512), atol=1.5)


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (8.0, -25.0, 5.0), (-12.0, 40.0, -10.0), (4.0, 15.0, 20.0)])
def test_pnp_recovers_a_synthetic_pose(angles):
    rotation = rotation_zyx(np.radians(angles))
    translation = np.array([0.05, -0.03, 0.2])
    posed = LANDMARKS_3D @ rotation.T + translation
    pixels = FOCAL_PX * posed[:, :2] / (CAMERA_DISTANCE - posed[:, 2:3]) + POSE_CROP_SIZE / 2
    params, rms = solve_pnp(pixels, LANDMARKS_3D)
    np.testing.assert_allclose(np.degrees(params[:3]), angles, atol=1e-3)
    np.testing.assert_allclose(params[3:], translation, atol=1e-4)
    assert rms < 1e-3


def test_pose_of_a_synthetic_photo_matches_its_label():
    """Landmarks of the mean face rendered at a known pose in a photo give that pose's EG3D camera,
    moved into the labels' frame by the calibration."""
    angles = np.radians([6.0, 20.0, -4.0])
    rotation = rotation_zyx(angles)
    posed = LANDMARKS_3D @ rotation.T
    pixels = FOCAL_PX * posed[:, :2] / (CAMERA_DISTANCE - posed[:, 2:3]) * 3.0 + np.array([600.0, 400.0])
    photo_points = np.stack([pixels[:, 0], 1000 - 1 - pixels[:, 1]], axis=1)
    fit = fit_five_points(five_points(photo_points), 1000)
    pose = estimate_pose(photo_points, fit, 1200, 1000)
    expected = calibrate(np.concatenate([angles, np.zeros(3)]))
    assert pose.euler_deg == pytest.approx(tuple(np.degrees(expected[:3])), abs=0.3)
    assert label_angles(pose.camera) == pytest.approx(
        label_angles(eg3d_label(rotation_zyx(expected[:3]), np.zeros(3))), abs=0.3)
    yaw, pitch = label_angles(pose.camera)
    assert yaw < -15  # head turned so the nose points to image-right -> negative yaw
    assert (pose.yaw_deg, pose.pitch_deg) == (yaw, pitch)


def test_label_angles_match_eg3d_look_at_cameras():
    for yaw, elevation in [(0.0, 0.0), (25.0, 0.0), (-30.0, 10.0), (10.0, -15.0)]:
        centre = cameras.RADIUS * np.array([math.cos(math.radians(elevation)) * math.sin(math.radians(yaw)),
                                            math.sin(math.radians(elevation)),
                                            math.cos(math.radians(elevation)) * math.cos(math.radians(yaw))])
        cam2world = cameras.look_at(torch.tensor(centre[None], dtype=torch.float64),
                                    torch.tensor([cameras.PIVOT], dtype=torch.float64))
        label = cameras.label(cam2world).numpy()[0]
        assert label_angles(label) == pytest.approx((yaw, elevation), abs=1e-6)


def test_crop_transform_round_trip_and_paste_back(astronaut):
    face = align_face(astronaut)
    back = face.transform.to_photo(face.landmarks_crop)
    np.testing.assert_allclose(back, face.landmarks, atol=1e-9)
    pasted = face.transform.paste(face.image, astronaut, feather=0)
    assert pasted.size == astronaut.size
    # Pasting the crop back reproduces the photo inside the box (up to resampling).
    x0, y0, x1, y1 = (round(v) for v in face.box)
    inner = (x0 + 8, y0 + 8, x1 - 8, y1 - 8)
    diff = np.abs(np.asarray(pasted.crop(inner), float) - np.asarray(astronaut.crop(inner), float))
    assert diff.mean() < 6


def test_crop_outside_the_photo_is_filled_by_reflection(eg3d_crops):
    crop = eg3d_crops["triplanenet_example.png"]
    photo = crop.crop((0, 0, 400, 400))  # cut the photo so the EG3D box runs past its right and bottom
    reflect = np.asarray(render_crop(photo, (0, 0, 512, 512), fill="reflect"), float)
    black = np.asarray(render_crop(photo, (0, 0, 512, 512), fill="black"), float)
    assert black[480:, 480:].max() < 1
    assert reflect[480:, 480:].mean() > 20  # not a black bar
    np.testing.assert_allclose(reflect[:380, :380], black[:380, :380], atol=2)
    face = align_face(photo)
    assert face.box[2] > photo.width or face.box[3] > photo.height


# --- several faces, no face, small faces ------------------------------------------------------

def test_several_faces_largest_first_and_chosen_by_index(faces_dir):
    photo = faces_dir / "3ddfa_trump_hillary.jpg"
    first = align_face(photo)
    second = align_face(photo, face_index=1)
    assert first.faces_found == second.faces_found == 2
    assert second.face_index == 1
    assert abs(first.box[0] - second.box[0]) > 300  # two different people
    faces, _ = detect_faces(load_image(photo))
    assert faces[0].size >= faces[1].size
    with pytest.raises(FaceError, match="has 2 faces"):
        align_face(photo, face_index=2)


def test_no_face_is_a_clear_error():
    rng = np.random.default_rng(0)
    texture = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    with pytest.raises(FaceError, match="No face found"):
        align_face(texture)
    with pytest.raises(FaceError, match="No face found"):
        align_face(Image.new("RGB", (640, 480), (200, 200, 200)))


def test_tiny_face_is_refused_with_the_minimum_size(astronaut):
    small = astronaut.resize((96, 96), Image.Resampling.LANCZOS)  # face ~ 17 px wide
    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(small, (300, 200))
    with pytest.raises(FaceError, match="48 pixels"):
        align_face(canvas)
    # A face found but below a caller's stricter minimum is refused with that number.
    with pytest.raises(FaceError, match=r"only \d+ pixels wide; it must be at least 400 pixels"):
        align_face(astronaut, min_face_px=400)


# --- backends ---------------------------------------------------------------------------------

@pytest.fixture
def fresh_backends(monkeypatch, tmp_path):
    """An empty backend cache and an empty torch hub dir, restored afterwards."""
    monkeypatch.setattr(landmarks_module, "_CACHE", {})
    monkeypatch.delenv("TRIPLANENET_FACE_BACKEND", raising=False)
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


def test_auto_backend_is_offline_dlib_without_cached_fan_weights(fresh_backends, astronaut):
    assert landmarks_module.resolve_backend_name("auto") == "dlib"
    assert align_face(astronaut, backend="auto").backend == "dlib"
    with pytest.raises(FaceError, match="Unknown face backend"):
        align_face(astronaut, backend="nope")


def test_face_alignment_is_never_downloaded_offline(fresh_backends, monkeypatch):
    monkeypatch.setenv("TRIPLANENET_OFFLINE", "1")
    monkeypatch.setitem(sys.modules, "face_alignment", types.ModuleType("face_alignment"))
    monkeypatch.setattr(landmarks_module.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "face_alignment" else _real_find_spec(name))
    assert landmarks_module.resolve_backend_name("auto") == "dlib"
    with pytest.raises(FaceError, match="not in the torch hub cache"):
        landmarks_module.get_backend("face-alignment")


_real_find_spec = landmarks_module.importlib.util.find_spec


def test_auto_picks_face_alignment_when_its_weights_are_cached(fresh_backends, monkeypatch, astronaut):
    """A stand-in ``face_alignment`` module (dlib's landmarks behind FAN's API) checks the adapter."""
    checkpoints = fresh_backends / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "2DFAN4-cd938726ad.pth.tar").write_bytes(b"")
    (checkpoints / "s3fd-619a316812.pth").write_bytes(b"")
    dlib_backend = landmarks_module.DlibBackend()
    calls = []

    class FakeFaceAlignment:
        def __init__(self, landmarks_type, device, face_detector, flip_input, compile=True):
            calls.append((landmarks_type, device, face_detector, compile))

        def get_landmarks_from_image(self, image, detected_faces=None, return_bboxes=False):
            found = dlib_backend.detect(image)
            return ([f.landmarks for f in found], None, [np.array([*f.box, f.score]) for f in found])

    fake = types.ModuleType("face_alignment")
    fake.LandmarksType = types.SimpleNamespace(TWO_D=1)
    fake.FaceAlignment = FakeFaceAlignment
    monkeypatch.setitem(sys.modules, "face_alignment", fake)
    monkeypatch.setattr(landmarks_module.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "face_alignment" else _real_find_spec(name))
    assert landmarks_module.resolve_backend_name("auto") == "face-alignment"
    face = align_face(astronaut)
    assert face.backend == "face-alignment" and face.faces_found == 1
    assert calls == [(1, "cpu", "sfd", False)]
    monkeypatch.setenv("TRIPLANENET_FACE_BACKEND", "dlib")
    assert landmarks_module.resolve_backend_name("auto") == "dlib"


def test_crop_box_maps_landmarks_consistently(astronaut):
    face = align_face(astronaut)
    transform = CropTransform(box=face.box)
    np.testing.assert_allclose(transform.to_crop(face.landmarks), face.landmarks_crop)
    assert np.all((face.landmarks_crop > 0) & (face.landmarks_crop < 512))
