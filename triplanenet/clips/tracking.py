"""Following one face through a clip: detect every frame, keep the face nearest the one before.

The first frame with a face starts the track on its largest face (as a photo would); every later frame
keeps the face whose landmark centre is nearest the last one seen, so a bigger face walking in does not
steal the track. A frame where no face is near enough (:data:`MAX_JUMP` face sizes) is *lost*: the
track keeps the previous position and the frame is filled later (:mod:`.smoothing`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..preprocess import MIN_FACE_PX, DetectedFace, detect_faces, face_points
from ..preprocess.landmarks import AUTO

MAX_JUMP = 1.0
"""Largest move of the face's centre between two sightings, in face sizes (the landmarks' extent)."""

FrameDone = Callable[[int], bool | None]
"""Called with the number of frames tracked so far; returning ``False`` stops the pass."""


@dataclass(frozen=True)
class Sighting:
    """The tracked face in one frame: 68 ``landmarks`` [68,2] and EG3D's five alignment ``points5`` [5,2]
    (frame pixels), whether the landmarks are trusted for the pose (``reliable``), where the five points came
    from (``source``, as :attr:`~triplanenet.preprocess.AlignedFace.alignment_points`) and how many faces the
    frame has."""

    landmarks: np.ndarray
    points5: np.ndarray
    reliable: bool
    source: str
    faces_found: int


@dataclass
class Tracked:
    """A pass over a clip: one :class:`Sighting` or None (lost) per frame, the landmark backend used, and
    whether the pass was stopped before the clip's end."""

    sightings: list[Sighting | None]
    backend: str
    stopped: bool = False

    @property
    def found(self) -> np.ndarray:
        """[T] bool: the frames where the face was seen."""
        return np.array([s is not None for s in self.sightings], dtype=bool)


def nearest_face(faces: list[DetectedFace], previous: np.ndarray | None, previous_size: float) -> int | None:
    """Index of the face to follow: the largest when nothing was seen yet (``previous`` None), else the one
    whose landmark centre is nearest ``previous`` [2], if within :data:`MAX_JUMP` x ``previous_size``."""
    usable = [i for i, face in enumerate(faces) if face.size >= MIN_FACE_PX]
    if not usable:
        return None
    if previous is None:
        return usable[0]
    distances = [float(np.linalg.norm(faces[i].landmarks.mean(0) - previous)) for i in usable]
    best = int(np.argmin(distances))
    return usable[best] if distances[best] <= MAX_JUMP * previous_size else None


def _sighting(face: DetectedFace, faces_found: int) -> Sighting:
    points5, reliable = face_points(face)
    source = ("mtcnn+landmarks" if reliable else "mtcnn") if face.mtcnn_points else "landmarks"
    return Sighting(face.landmarks, points5, reliable, source, faces_found)


def track_faces(frames: Iterable[np.ndarray], backend: str = AUTO, frame_done: FrameDone | None = None
                ) -> Tracked:
    """Detect the followed face in every frame [H,W,3] of ``frames`` (a generator: one frame in memory)."""
    sightings: list[Sighting | None] = []
    previous, previous_size, backend_name = None, 0.0, backend
    for frame in frames:
        faces, backend_name = detect_faces(Image.fromarray(frame), backend)
        index = nearest_face(faces, previous, previous_size)
        if index is None:
            sightings.append(None)
        else:
            sightings.append(_sighting(faces[index], len(faces)))
            previous, previous_size = faces[index].landmarks.mean(0), faces[index].size
        if frame_done is not None and frame_done(len(sightings)) is False:
            return Tracked(sightings, backend_name, stopped=True)
    return Tracked(sightings, backend_name)
