"""The flow from a photo to a 3D head: the one sequence every front end (the app, the command line,
evaluation) runs, with its defaults in one place.

::

    photo ──align──> AlignedFace: 512 crop + camera               preprocess/
          ──invert─> Inversion: w+ codes + tri-planes             inversion/
          ──refine─> the Inversion fitted to its photo (optional) refinement/
          ─────────> views, depth, mesh, video, files              outputs/

    pipeline = Pipeline.from_pretrained()                 # the bundled model, or any checkpoint
    head = pipeline("photo.jpg", refine_steps=20)         # a Reconstruction: face + inversion
    head.save("out/")                                     # crop, camera, inversion, views, depth, mesh
    person = pipeline.person(["a.jpg", "b.jpg"], refine_steps=20)  # several photos of one person, one head

Like TripoSR's system (``model(image)`` -> scene codes, then render and mesh them), the
pipeline makes the head and :mod:`triplanenet.outputs` looks at it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import torch

from .cameras import CameraInput
from .identity import SAME_PERSON, FaceIdentity, unmatched
from .image_tensors import ImageInput
from .inversion.encoding import invert
from .inversion.modes import ModelSet, get_model_set
from .inversion.result import Inversion
from .outputs.saving import write_meshes, write_turntable, write_views
from .outputs.surface import MESH_RESOLUTION, head_mesh
from .outputs.views import gallery, input_view, to_uint8
from .preprocess import AlignedFace, FaceError, align_face
from .preprocess.images import ImageSource
from .refinement import (RefineProgress, RefineSettings, check_photo_count, check_steps, joint_head, most_frontal,
                         refine, refinement_steps)

VIEW_COUNT = 8
"""Views a saved reconstruction writes (the app shows the model's own default, 3 or 5)."""
MESH_FORMATS = (".glb", ".ply")
"""Mesh files a saved reconstruction writes (``triplanenet mesh`` writes any of ``.glb``, ``.ply``, ``.obj``)."""
TURNTABLE_FRAMES = 120


@dataclass
class Reconstruction:
    """One photo's 3D head: the aligned ``face`` (crop, camera, landmarks) and its ``inversion``."""

    face: AlignedFace
    inversion: Inversion

    def save(self, out: str | Path, views: int = VIEW_COUNT, mesh_resolution: int = MESH_RESOLUTION,
             video: bool = False) -> list[Path]:
        """Write ``out/``: crop.png, alignment.json, inversion.safetensors, input_vs_reconstruction.png,
        views/ (images, depth .npy/.png, normals), mesh.glb and mesh.ply (and turntable.mp4 with ``video``).

        A head with no surface at all gets no mesh files (:func:`~triplanenet.outputs.surface.head_mesh`
        raises ``ValueError``); everything else is written first.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.face.image.save(out / "crop.png")
        (out / "alignment.json").write_text(json.dumps(self.face.to_dict(), indent=2))
        written = [out / "crop.png", out / "alignment.json", self.inversion.save(out / "inversion.safetensors")]
        comparison = gallery([to_uint8(self.inversion.input_image[0]), input_view(self.inversion).image], 2)
        comparison.save(out / "input_vs_reconstruction.png")
        written += [out / "input_vs_reconstruction.png", *write_views(self.inversion, out / "views", views,
                                                                      normals=True)]
        if video:
            written.append(write_turntable(self.inversion, out / "turntable.mp4", TURNTABLE_FRAMES))
        mesh, _ = head_mesh(self.inversion, mesh_resolution)
        return written + write_meshes(mesh, [out / f"mesh{suffix}" for suffix in MESH_FORMATS])


@dataclass
class PersonReconstruction:
    """Several photos of one person, one head: the aligned ``faces`` that were used (named ``names``), the
    ``inversion`` fitted to all of them (batch 1; its ``photo_cameras`` [1,K,25] follow ``faces``), the index
    ``start`` of the photo the fit started from, and ``warnings`` a person should read (photos left out,
    photos that may show someone else)."""

    faces: list[AlignedFace]
    names: list[str]
    inversion: Inversion
    start: int
    warnings: list[str] = field(default_factory=list)

    def save(self, out: str | Path, views: int = VIEW_COUNT, mesh_resolution: int = MESH_RESOLUTION,
             video: bool = False) -> list[Path]:
        """Write what :meth:`Reconstruction.save` writes for the head (crop and alignment of the start photo),
        and ``photos/NN_NAME/crop.png`` and ``alignment.json`` (its camera) for every photo."""
        out = Path(out)
        for i, (face, name) in enumerate(zip(self.faces, self.names)):
            folder = out / "photos" / f"{i:02d}_{Path(name).stem}"
            folder.mkdir(parents=True, exist_ok=True)
            face.image.save(folder / "crop.png")
            (folder / "alignment.json").write_text(json.dumps(face.to_dict(), indent=2))
        photos = sorted(out.glob("photos/*/*"))
        return photos + Reconstruction(self.faces[self.start], self.inversion).save(out, views, mesh_resolution,
                                                                                     video)


def identity_warnings(crops: Sequence[tuple[np.ndarray, np.ndarray]], names: Sequence[str]) -> list[str]:
    """Warnings naming the photos whose face matches none of the others (dlib distance >= 0.6 to every other
    photo), or saying why identity could not be checked. ``crops``: each aligned crop [S,S,3] uint8 with its
    68 landmarks [68,2] (crop pixels)."""
    if len(crops) < 2:
        return []
    try:
        identity = FaceIdentity()
    except FaceError as exc:
        return [f"Could not check that the photos show one person: {exc}"]
    descriptors = np.stack([identity.descriptor(crop, landmarks) for crop, landmarks in crops])
    return [f"{names[i]} may show someone else: its face matches none of the other photos (dlib distance "
            f"{distance:.2f} to the closest, {SAME_PERSON} or more is another person). It was fitted anyway; "
            "leave it out if it is not the same person." for i, distance in unmatched(descriptors)]


def crop_and_landmarks(face: AlignedFace) -> tuple[np.ndarray, np.ndarray]:
    """An aligned face's crop [512,512,3] uint8 and its 68 landmarks [68,2] in crop pixels."""
    return np.asarray(face.image.convert("RGB")), face.landmarks_crop


def photo_name(photo: ImageSource, index: int) -> str:
    """A photo's file name, or ``photo N`` (1-based) for images given in memory."""
    return Path(photo).name if isinstance(photo, (str, Path)) else f"photo {index + 1}"


class Pipeline:
    """Photo -> aligned face -> inversion (-> refinement), over one checkpoint's :class:`ModelSet`."""

    def __init__(self, models: ModelSet):
        self.models = models

    @classmethod
    def from_pretrained(cls, source: str | Path | None = None, device: torch.device | str | None = None
                        ) -> "Pipeline":
        """The pipeline of ``source`` (default ``$TRIPLANENET_CHECKPOINT`` or the bundled model), loaded once
        per process (see :func:`~triplanenet.inversion.get_model_set`)."""
        return cls(get_model_set(source, device))

    def align(self, photo: ImageSource, face_index: int | None = None) -> AlignedFace:
        """Detect, crop and pose face ``face_index`` (None or 0: the largest) of ``photo`` (raises ``FaceError``)."""
        return align_face(photo, face_index=face_index)

    def invert(self, crop: ImageInput, camera: CameraInput, mode: str | None = None) -> Inversion:
        """Invert aligned crop(s) seen from ``camera`` in ``mode`` (``"v2"``, ``"v1"``, ``"w+"``; default: the
        checkpoint's own version)."""
        inverter, branch = self.models.inverter(mode or self.models.default_mode)
        return invert(inverter, crop, camera, branch=branch)

    def refinement(self, inversion: Inversion, steps: object = None) -> Iterator[RefineProgress]:
        """Refine ``inversion`` per photo in ``steps`` steps (checked by :func:`~triplanenet.refinement.check_steps`;
        None: the default), yielding after each."""
        settings = RefineSettings() if steps is None else RefineSettings(steps=check_steps(steps))
        return refinement_steps(inversion, settings)

    def refine(self, inversion: Inversion, steps: object = None,
               progress: Callable[[RefineProgress], bool | None] | None = None) -> Inversion:
        """``inversion`` fitted to its photo; ``progress`` is called after every step and may return ``False``
        to stop early (the result so far is returned)."""
        return refine(inversion, None if steps is None else check_steps(steps), progress=progress)

    def align_each(self, photos: Sequence[ImageSource], pause: Callable[[], None] = lambda: None
                   ) -> tuple[list[AlignedFace], list[str], list[str]]:
        """Align the largest face of every photo: the faces, their photos' names, and a note for each photo
        left out (no usable face). ``FaceError`` if none has one; ``pause`` runs after each photo."""
        faces, names, notes = [], [], []
        for i, photo in enumerate(photos):
            try:
                faces.append(self.align(photo))
                names.append(photo_name(photo, i))
            except FaceError as exc:
                notes.append(f"{photo_name(photo, i)} was left out: {exc}")
            pause()
        if not faces:
            raise FaceError("None of the photos has a usable face:\n" + "\n".join(notes))
        return faces, names, notes

    def person(self, photos: Sequence[ImageSource], mode: str | None = None, refine_steps: int = 0,
               progress: Callable[[RefineProgress], bool | None] | None = None) -> PersonReconstruction:
        """Several photos of one person (1..8), one head: align and invert each, check that they show one
        person, and fit the most frontal photo's head to all of them in ``refine_steps`` steps (0: not).

        A photo without a usable face is left out with a warning; if none has one, ``FaceError`` says so.
        """
        check_photo_count(len(photos))
        faces, names, warnings = self.align_each(photos)
        warnings += identity_warnings([crop_and_landmarks(face) for face in faces], names)
        inversions = [self.invert(face.image, face.camera, mode) for face in faces]
        start = most_frontal(torch.cat([inversion.camera for inversion in inversions]))
        head = joint_head(inversions, start)
        if refine_steps:
            head = self.refine(head, refine_steps, progress)
        return PersonReconstruction(faces, names, head, start, warnings)

    def __call__(self, photo: ImageSource, mode: str | None = None, face_index: int | None = None,
                 refine_steps: int = 0,
                 progress: Callable[[RefineProgress], bool | None] | None = None) -> Reconstruction:
        """The whole flow for one photo: align, invert in ``mode``, and refine ``refine_steps`` steps (0: not)."""
        face = self.align(photo, face_index)
        inversion = self.invert(face.image, face.camera, mode)
        if refine_steps:
            inversion = self.refine(inversion, refine_steps, progress)
        return Reconstruction(face, inversion)
