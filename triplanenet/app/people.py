"""More photos of the same person in the app: each aligned and shown with its camera, then Refine fits them all.

The session's head (from the first photo) gets the other photos recorded on it
(:func:`~triplanenet.refinement.joint_head`, starting from the first photo's head), so the app's
Refine, which refines the session's head, fits one head to every photo at its own camera.
Photos without a usable face are left out with a message; photos whose face matches none of the
others are named in a warning (:func:`~triplanenet.pipeline.identity_warnings`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from ..identity import FaceIdentity
from ..inversion.result import Inversion
from ..outputs.views import to_uint8
from ..pipeline import Pipeline, crop_and_landmarks, identity_warnings
from ..preprocess import FaceError
from ..preprocess.images import ImageSource
from ..refinement import MAX_PHOTOS, joint_head

MORE_PHOTOS = MAX_PHOTOS - 1
"""Photos a user may add to the first one."""
FIRST = "the first photo"


@dataclass
class MorePhotos:
    """The session's head with every photo recorded (``inversion``), each added crop with its camera as a
    caption (``gallery``) and a Markdown ``summary`` (what was added, left out, or may be someone else)."""

    inversion: Inversion
    gallery: list[tuple[Image.Image, str]]
    summary: str


def add_photos(pipeline: Pipeline, head: Inversion, photos: Sequence[ImageSource], mode: str,
               pause: Callable[[], None] = lambda: None) -> MorePhotos:
    """Align and invert ``photos`` (1..:data:`MORE_PHOTOS`, in ``mode``) and record them on ``head`` (the session's
    one-face head; photos added before are replaced). ``pause`` runs after each photo's alignment and inversion
    (the app lets other requests use the model there). Raises ``ValueError`` / ``FaceError`` with a message."""
    if not photos:
        raise ValueError("Choose one or more other photos of the same person first.")
    if len(photos) > MORE_PHOTOS:
        raise ValueError(f"Up to {MORE_PHOTOS} more photos of the same person ({MAX_PHOTOS} with the first), "
                         f"got {len(photos)}.")
    faces, names, notes = pipeline.align_each(photos, pause)
    first_face = first_crop(head)
    notes += identity_warnings([*first_face, *(crop_and_landmarks(face) for face in faces)],
                               [FIRST] * len(first_face) + names)
    inversions = [replace(head, photos=None, photo_cameras=None)]
    for face in faces:
        inversions.append(pipeline.invert(face.image, face.camera, mode))
        pause()
    gallery = [(face.image, f"{name}: camera yaw {face.yaw_deg:+.0f}°, pitch {face.pitch_deg:+.0f}°")
               for face, name in zip(faces, names)]
    summary = (f"**{len(faces) + 1} photos of one person.** Press **Refine** to fit the head to all of them, "
               "each at its own camera." + "".join(f"\n\n⚠ {note}" for note in notes))
    return MorePhotos(joint_head(inversions, start=0), gallery, summary)


def first_crop(head: Inversion) -> list[tuple[np.ndarray, np.ndarray]]:
    """The session photo's crop [S,S,3] uint8 with its landmarks, or nothing when dlib finds no face on it."""
    try:
        identity = FaceIdentity()
    except FaceError:
        return []
    crop = to_uint8(head.input_image[0])
    landmarks = identity.landmarks(crop)
    return [] if landmarks is None else [(crop, landmarks)]
