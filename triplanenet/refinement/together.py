"""Several photos of one person -> one head: one refinement over all of them.

A single photo shows one side of a head; the encoder guesses the rest, and a turned
view shows the guess. Each further photo of the same person, at its own camera, is
evidence for another side. :func:`joint_head` starts from the encoder's head of the
most frontal photo (the encoder sees frontal faces best, and averaging the tri-planes
of heads guessed from different sides would blur both) and records all K photos and
their cameras on it (:attr:`~triplanenet.inversion.Inversion.photos`,
:attr:`~triplanenet.inversion.Inversion.photo_cameras`). The refinement of
:mod:`.fit` then renders that one head at every photo's camera and at its mirror
camera (2K views as one scene) and fits them all at once, so a step costs about K
single-photo steps in rendering and the same in everything else.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from .. import cameras
from ..inversion.result import Inversion
from .fit import RefineProgress, RefineSettings, refine

MAX_PHOTOS = 8
"""Photos one joint refinement takes (each adds two views to every step)."""


def check_photo_count(count: int) -> None:
    """A readable ``ValueError`` unless ``count`` photos (1..:data:`MAX_PHOTOS`) can be fitted together."""
    if not 1 <= count <= MAX_PHOTOS:
        raise ValueError(f"One head is fitted to 1 to {MAX_PHOTOS} photos of one person, got {count}. "
                         f"Pick the {MAX_PHOTOS} clearest photos, from different sides.")


def most_frontal(camera: torch.Tensor) -> int:
    """Index of the camera [K,25] closest to looking straight at the face (smallest yaw² + pitch²)."""
    yaw, pitch = cameras.yaw_pitch(camera.cpu())
    return int((yaw.square() + pitch.square()).argmin())


def joint_head(inversions: Sequence[Inversion], start: int | None = None) -> Inversion:
    """One head for the photos of ``inversions`` (one-face inversions of one person, each with its
    ``input_image`` [1,3,R,R] and ``camera`` [1,25]): the encoder head of photo ``start`` (default: the
    most frontal), with all photos [1,K,3,R,R] and cameras [1,K,25] recorded for
    :func:`~triplanenet.refinement.refine` to fit."""
    check_photo_count(len(inversions))
    if any(len(inversion) != 1 or inversion.input_image is None for inversion in inversions):
        raise ValueError("Each photo must be a one-face inversion that carries its photo (input_image)")
    if len({tuple(inversion.input_image.shape) for inversion in inversions}) != 1:
        raise ValueError("The photos must be aligned crops of the same size")
    camera = torch.cat([inversion.camera for inversion in inversions])
    head = inversions[most_frontal(camera) if start is None else start]
    photos = torch.cat([inversion.input_image for inversion in inversions])
    return replace(head, photos=photos[None], photo_cameras=camera[None])


def refine_together(inversions: Sequence[Inversion], settings: RefineSettings = RefineSettings(),
                    progress: Callable[[RefineProgress], bool | None] | None = None) -> Inversion:
    """One head [batch 1] fitted to every photo of ``inversions`` at its own camera (with mirrors).

    For a single photo the fitted ``ws`` and ``planes`` are exactly :func:`~triplanenet.refinement.refine`'s.
    ``progress`` is called after every step; returning ``False`` stops early.
    """
    return refine(joint_head(inversions), settings=settings, progress=progress)
