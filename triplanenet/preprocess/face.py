"""The public entry point: a photo in, an EG3D-ready aligned face out.

:func:`align_face`:

1. loads the photo robustly (:mod:`.images`) and works on a copy of at most
   1280 px for detection;
2. finds faces with the landmark backend (:mod:`.landmarks`) and with MTCNN
   (:mod:`.mtcnn`, EG3D's own detector), pairs them up, and for every face
   MTCNN confirms re-predicts the 68 landmarks on an upright view of it and
   re-measures MTCNN's points on upright views (both steadier than one look);
3. picks the largest face (or the one asked for) and refuses faces that are
   too small;
4. combines the estimates of EG3D's five alignment points (:mod:`.points`),
   fits them and cuts the 512x512 EG3D crop (:mod:`.align`);
5. fits the head pose to the landmarks and builds the 25-number EG3D camera
   label (:mod:`.pose`).

Every failure a user can cause raises
:class:`~triplanenet.preprocess.errors.FaceError` with a message saying what to
do about it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from .align import CropTransform, Fill, eg3d_box, fit_five_points, render_crop
from .errors import FaceError
from .images import MAX_PIXELS, ImageSource, downscaled, load_image
from .landmarks import AUTO, DetectedFace, LandmarkBackend, get_backend
from .mtcnn import Mtcnn, MtcnnFace
from .mtcnn import weights_dir as mtcnn_weights_dir
from .points import alignment_points, landmarks_reliable
from .pose import estimate_pose
from .template import five_points

MIN_FACE_PX = 48
"""Smallest face we accept, in photo pixels (the larger side of the 68 landmarks' extent).

The 512 crop spans about 2.3 face widths, so a 48 px face is already upscaled
about 4x; anything smaller gives the generator mostly interpolation blur.
"""

DETECT_MAX_SIDE = 1280
"""Detection and landmarks run on a copy whose longer side is at most this; the crop uses the full photo."""

MTCNN_MAX_SIDE = 1024
"""MTCNN runs on a copy at most this large: its points hardly depend on scale, its time grows with area."""

UPRIGHT_EYE_MOUTH_PX = 120.0
"""Largest eye-to-mouth distance of the upright view the landmarks are predicted on (bigger faces are reduced)."""

MTCNN_MIN_SCORE = 0.9
"""EG3D's pipeline keeps an MTCNN face only above this confidence."""

UNCONFIRMED_MIN_SCORE = 0.5
"""A landmark-backend face that MTCNN does not confirm needs at least this detector score.

dlib's HOG reports faces down to score 0; real faces score well above 0.5
(0.8-3 on our test photos) while its false positives on clothing and
background texture sit near 0.1.
"""


@dataclass(frozen=True)
class AlignedFace:
    """A face cut and posed the way EG3D (and so TriPlaneNet) expects.

    * ``image``: the 512x512 RGB EG3D crop.
    * ``box``: ``(x0, y0, x1, y1)``, the crop's square in the original photo's
      pixels (upright, after EXIF rotation); it may extend past the photo.
    * ``landmarks`` [68,2] in photo pixels and ``landmarks_crop`` [68,2] in crop
      pixels (iBUG order, pixel centres); ``points5`` [5,2] the alignment points.
    * ``yaw_deg`` / ``pitch_deg``: the camera's direction around the head, read
      from ``camera`` (see :func:`triplanenet.preprocess.pose.label_angles`):
      yaw > 0 when the face is turned toward image-left, pitch > 0 when the camera
      looks down on the face. ``roll_deg``: in-plane head tilt, counter-clockwise > 0.
    * ``camera`` [25]: the EG3D label (cam2world row-major, then intrinsics).
    * ``backend``: which landmark backend ran; ``alignment_points``: where the five
      crop points came from (``"mtcnn+landmarks"``: MTCNN, as in EG3D's pipeline,
      averaged with the landmarks; ``"mtcnn"`` alone when the landmarks disagree
      with it, as on strong profiles; ``"landmarks"`` when MTCNN missed the face);
      ``pose_points``: what the pose was fitted to (``"68 landmarks"``, or
      ``"5 points"`` when the landmarks were not trusted);
      ``faces_found``: how many faces the photo has; ``face_index``: which one this
      is (0 = largest).
    * ``transform``: maps points between photo and crop and pastes results back.
    """

    image: Image.Image
    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    landmarks_crop: np.ndarray
    points5: np.ndarray
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    camera: np.ndarray
    backend: str
    alignment_points: str
    pose_points: str
    faces_found: int
    face_index: int
    transform: CropTransform
    photo_size: tuple[int, int]

    @property
    def which_face(self) -> str:
        """For people: how many faces were found and which one is used ("3 faces found, using face 1 (...)")."""
        which = "the largest" if self.face_index == 0 else f"number {self.face_index}, largest first"
        plural = "s" if self.faces_found != 1 else ""
        return f"{self.faces_found} face{plural} found, using face {self.face_index} ({which})"

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels, as plain JSON-ready Python values."""
        return {
            "box": [round(v, 3) for v in self.box],
            "landmarks": np.round(self.landmarks, 3).tolist(),
            "landmarks_crop": np.round(self.landmarks_crop, 3).tolist(),
            "points5": np.round(self.points5, 3).tolist(),
            "yaw_deg": round(self.yaw_deg, 3),
            "pitch_deg": round(self.pitch_deg, 3),
            "roll_deg": round(self.roll_deg, 3),
            "camera": [float(v) for v in self.camera],
            "backend": self.backend,
            "alignment_points": self.alignment_points,
            "pose_points": self.pose_points,
            "faces_found": self.faces_found,
            "face_index": self.face_index,
            "photo_size": list(self.photo_size),
        }


def detect_faces(photo: Image.Image, backend: str = AUTO) -> tuple[list[DetectedFace], str]:
    """All faces in ``photo`` (largest first, in photo pixels) and the name of the landmark backend that ran.

    The landmark backend finds faces and their 68 points; MTCNN (when the
    ``mtcnn`` weights are installed) finds EG3D's five alignment points, which
    are attached to the matching faces. A face only MTCNN sees (a tilted head or
    a profile that HOG misses) is added with landmarks predicted in its box if
    MTCNN is at least as sure of it as EG3D's pipeline requires (0.9); a face
    only the landmark backend sees is kept if its own score is convincing.
    """
    runner = get_backend(backend)
    work, factor = downscaled(photo, DETECT_MAX_SIDE)
    array = np.asarray(work)
    detector = _mtcnn()
    proposals = _mtcnn_faces(detector, work)
    faces = runner.detect(array, thorough=detector is None)
    pairs, unmatched = _match(faces, proposals)
    if detector is not None:
        pairs = [(face, m) for face, m in pairs if m is not None or face.score >= UNCONFIRMED_MIN_SCORE]
    extra = [m for m in unmatched if m.score >= MTCNN_MIN_SCORE]
    if extra:
        added = runner.landmarks_in_boxes(array, [_landmarker_box(m.points) for m in extra])
        pairs += [(replace(face, score=m.score), m) for face, m in zip(added, extra)]
    faces = [face if m is None else _redetect(runner, work, face, m, detector) for face, m in pairs]
    if factor != 1.0:
        faces = [face.scaled(1.0 / factor) for face in faces]
    faces.sort(key=lambda face: face.size, reverse=True)
    return faces, runner.name


def _mtcnn_faces(detector: Mtcnn | None, image: Image.Image) -> list[MtcnnFace]:
    """MTCNN detections in ``image`` pixels (run on a copy at most :data:`MTCNN_MAX_SIDE`), or [] without MTCNN."""
    if detector is None:
        return []
    small, factor = downscaled(image, MTCNN_MAX_SIDE)
    return [m.scaled(1.0 / factor) for m in detector.detect(np.asarray(small))]


@lru_cache(maxsize=1)
def _mtcnn() -> Mtcnn | None:
    """The shared MTCNN detector, or None when the ``mtcnn`` package (its weights) is not installed."""
    return Mtcnn() if mtcnn_weights_dir() is not None else None


def _match(faces: list[DetectedFace], proposals: list[MtcnnFace]
           ) -> tuple[list[tuple[DetectedFace, MtcnnFace | None]], list[MtcnnFace]]:
    """Pair each face with the MTCNN detection on it (or None); also return the MTCNN faces left over.

    An MTCNN face matches when its five points are, on average, within a third
    of the eye-to-mouth distance of the five points derived from the landmarks.
    """
    unused = list(proposals)
    pairs: list[tuple[DetectedFace, MtcnnFace | None]] = []
    for face in faces:
        derived = five_points(face.landmarks)
        reach = np.linalg.norm((derived[3] + derived[4] - derived[0] - derived[1]) / 2) / 3
        distances = [float(np.linalg.norm(m.points - derived, axis=1).mean()) for m in unused]
        best = unused.pop(int(np.argmin(distances))) if distances and min(distances) < reach else None
        pairs.append((face, best))
    return pairs, unused


def _redetect(runner: LandmarkBackend, image: Image.Image, face: DetectedFace, found: MtcnnFace,
            detector: Mtcnn) -> DetectedFace:
    """``face`` with landmarks re-predicted on an upright view and both MTCNN point estimates attached."""
    landmarks = _upright_landmarks(runner, image, found.points)
    return replace(face, landmarks=face.landmarks if landmarks is None else landmarks,
                   mtcnn_points=(found.points, detector.upright_points(image, found)))


def _upright_landmarks(runner: LandmarkBackend, image: Image.Image, points: np.ndarray) -> np.ndarray | None:
    """68 landmarks predicted on a view of the face turned upright (roll from MTCNN's eye line), in ``image`` pixels.

    Landmark predictors start from an upright mean face in an axis-aligned box,
    so a tilted head or an unusual detector box can pull the whole shape off
    the face; MTCNN's points give a steadier box and the roll to undo. The view
    is at most :data:`UPRIGHT_EYE_MOUTH_PX` per eye-to-mouth distance.
    """
    eyes, mouth = (points[0] + points[1]) / 2, (points[3] + points[4]) / 2
    span = float(np.linalg.norm(mouth - eyes))
    if span < 1.0:
        return None
    roll = math.atan2(points[1, 1] - points[0, 1], points[1, 0] - points[0, 0])
    rotation = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    zoom = min(1.0, UPRIGHT_EYE_MOUTH_PX / span)
    side = int(math.ceil(5 * span * zoom))
    centre = (eyes + mouth) / 2 + 0.5  # pixel-edge coordinates
    step = rotation / zoom
    origin = centre - step @ np.array([side / 2, side / 2])
    source = image
    if zoom < 0.5:  # reduce first so the view is antialiased
        factor = int(1 / zoom / 1.5)
        source = image.reduce(factor)
        step, origin = step / factor, origin / factor
    view = source.transform((side, side), Image.Transform.AFFINE,
                            (step[0, 0], step[0, 1], origin[0], step[1, 0], step[1, 1], origin[1]),
                            resample=Image.Resampling.BILINEAR)
    half = 2.25 * span * zoom / 2
    box = (side / 2 - half, side / 2 - half, side / 2 + half, side / 2 + half)
    found = runner.landmarks_in_boxes(np.asarray(view), [box])
    if not found:
        return None
    upright = found[0].landmarks + 0.5
    return centre + (upright - side / 2) @ (rotation / zoom).T - 0.5


def _landmarker_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """A HOG-like face box (brows to chin) from MTCNN's five points, for the landmark predictor.

    Measured on in-the-wild photos where both detectors fire: dlib's HOG box is
    a square about 2.25 eye-to-mouth distances wide, centred midway between the
    eye centre and the mouth centre.
    """
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    centre = (eyes + mouth) / 2
    half = 2.25 * float(np.linalg.norm(mouth - eyes)) / 2
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def align_face(image: ImageSource, face_index: int | None = None, backend: str = AUTO, *,
               min_face_px: int = MIN_FACE_PX, fill: Fill = "reflect",
               max_pixels: int = MAX_PIXELS) -> AlignedFace:
    """Detect, crop and pose one face of ``image`` for EG3D.

    ``image`` is a path, bytes, file object, PIL image or array (see
    :func:`~triplanenet.preprocess.images.load_image`). ``face_index`` picks a
    face when there are several (0 = largest, the default). ``backend`` is
    ``"auto"``, ``"dlib"`` or ``"face-alignment"``. ``fill`` says how to fill crop
    pixels outside the photo (``"reflect"`` or EG3D's ``"black"``).
    """
    photo = load_image(image, max_pixels=max_pixels)
    faces, backend_name = detect_faces(photo, backend)
    if not faces:
        raise FaceError(f"No face found in the photo. Try a photo where the face is clearly visible, "
                        f"roughly frontal and at least {min_face_px} pixels wide.")
    index = 0 if face_index is None else face_index
    if not 0 <= index < len(faces):
        raise FaceError(f"Face {index} was asked for, but the photo has {len(faces)} face"
                        f"{'s' if len(faces) != 1 else ''} (numbered 0 to {len(faces) - 1}, largest first).")
    face = faces[index]
    if face.size < min_face_px:
        raise FaceError(f"The face is only {face.size:.0f} pixels wide; it must be at least {min_face_px} pixels "
                        "wide for a usable 512x512 crop. Use a larger or closer photo of the face.")
    points5, reliable = face_points(face)
    source = ("mtcnn+landmarks" if reliable else "mtcnn") if face.mtcnn_points else "landmarks"
    return aligned_from_points(photo, face.landmarks, points5, reliable, backend=backend_name, source=source,
                               faces_found=len(faces), face_index=index, fill=fill)


def face_points(face: DetectedFace) -> tuple[np.ndarray, bool]:
    """EG3D's five alignment points [5,2] of a detected face (photo pixels) and whether its 68 landmarks
    are trusted for the pose (see :func:`~triplanenet.preprocess.points.landmarks_reliable`)."""
    reliable = landmarks_reliable(face.landmarks, list(face.mtcnn_points))
    return alignment_points(face.landmarks if reliable else None, list(face.mtcnn_points)), reliable


def aligned_from_points(photo: Image.Image, landmarks: np.ndarray, points5: np.ndarray, reliable: bool, *,
                        backend: str, source: str, faces_found: int, face_index: int,
                        fill: Fill = "reflect") -> AlignedFace:
    """The crop and pose of the face at ``landmarks`` [68,2] and alignment ``points5`` [5,2] (photo pixels).

    The pose is fitted to the 68 landmarks when ``reliable``, else to the five points. ``source`` is what
    the five points came from (:attr:`AlignedFace.alignment_points`). Video tracking calls this with points
    smoothed over time.
    """
    fit = fit_five_points(points5, photo.height)
    box = eg3d_box(fit, photo.width, photo.height)
    transform = CropTransform(box=box)
    pose = estimate_pose(landmarks if reliable else points5, fit, photo.width, photo.height)
    return AlignedFace(
        image=render_crop(photo, box, fill=fill),
        box=box,
        landmarks=landmarks,
        landmarks_crop=transform.to_crop(landmarks),
        points5=points5,
        yaw_deg=pose.yaw_deg,
        pitch_deg=pose.pitch_deg,
        roll_deg=pose.roll_deg,
        camera=pose.camera,
        backend=backend,
        alignment_points=source,
        pose_points="68 landmarks" if reliable else "5 points",
        faces_found=faces_found,
        face_index=face_index,
        transform=transform,
        photo_size=photo.size,
    )
