"""Is it still the same person? dlib's face-recognition descriptor, offline.

dlib's face-recognition ResNet (shipped by ``face-recognition-models``, no download)
maps a face, cut out along its landmarks into an aligned 150x150 chip, to a 128-D
descriptor. Two faces whose descriptors are less than :data:`SAME_PERSON` (0.6)
apart are the same person by dlib's own threshold. For scale, measured on real
portraits: different people are about 0.85 apart, two photos of one person about
0.39, and an aligned 512 px photo against itself shrunk to 128 px and back 0.09
(64 px: 0.22, 32 px: 0.47).

A reconstruction is compared with its photo through the *photo's* landmarks: both
images show the face from the same camera, so the same chip is cut out of both and
a blurry render is not penalised twice (once for failing landmark detection).
"""
from __future__ import annotations

import numpy as np

from .preprocess.errors import FaceError
from .preprocess.landmarks import dlib_model_files, get_backend

SAME_PERSON = 0.6
"""Descriptor distance under which dlib calls two faces the same person."""
CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's defaults for the chip its ResNet was trained on."""
LANDMARK_COUNT = 68


class FaceIdentity:
    """dlib's face descriptor: ``descriptor(image, landmarks)`` and ``distance`` between two faces."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise FaceError("The identity metric needs the 'dlib-bin' package: pip install dlib-bin") from None
        files = dlib_model_files()
        if files is None:
            raise FaceError("The identity metric needs dlib's models from 'face-recognition-models': "
                            "pip install face-recognition-models")
        self._dlib = dlib
        self._network = dlib.face_recognition_model_v1(str(files["recognition"]))
        self._landmarker = get_backend("dlib")

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """The 68 landmarks [68,2] (pixels) of the largest face in ``image`` [H,W,3] uint8, or None."""
        faces = self._landmarker.detect(np.ascontiguousarray(image))
        return max(faces, key=lambda face: face.size).landmarks if faces else None

    def descriptor(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The 128-D descriptor of the face at ``landmarks`` [68,2] (pixels) in ``image`` [H,W,3] uint8."""
        if landmarks.shape != (LANDMARK_COUNT, 2):
            raise ValueError(f"expected {LANDMARK_COUNT} landmarks [68,2], got shape {landmarks.shape}")
        dlib = self._dlib
        points = [dlib.point(round(float(x)), round(float(y))) for x, y in landmarks]
        left, top = np.floor(landmarks.min(0)).astype(int)
        right, bottom = np.ceil(landmarks.max(0)).astype(int)
        shape = dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)), points)
        chip = dlib.get_face_chip(np.ascontiguousarray(image), shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return np.asarray(self._network.compute_face_descriptor(chip), dtype=np.float64)

    def distance(self, image: np.ndarray, reference: np.ndarray, landmarks: np.ndarray) -> float:
        """Descriptor distance between ``image`` and ``reference`` (same size [H,W,3] uint8), both cut
        along ``landmarks`` [68,2] (the reference's)."""
        if image.shape != reference.shape:
            raise ValueError(f"images must have the same size, got {image.shape} and {reference.shape}")
        return float(np.linalg.norm(self.descriptor(image, landmarks) - self.descriptor(reference, landmarks)))


def unmatched(descriptors: np.ndarray) -> list[tuple[int, float]]:
    """The faces that match none of the others: (index, distance to the closest other face) for each face
    of ``descriptors`` [K,128] whose closest other face is :data:`SAME_PERSON` or more away (K >= 2)."""
    distances = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    closest = distances.min(1)
    return [(int(i), float(closest[i])) for i in np.flatnonzero(closest >= SAME_PERSON)]
