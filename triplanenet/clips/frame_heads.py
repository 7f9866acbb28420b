"""One 3D head per frame, through the :class:`~triplanenet.pipeline.Pipeline`, rendered from the chosen camera.

Aligned frames are inverted in batches of :data:`INVERT_BATCH` (``Pipeline.invert``). With refinement on,
each frame is refined (``Pipeline.refine``) starting from its encoder result plus the correction the
previous frame's refinement found (its ``ws`` and tri-planes minus its encoder's), so the fit carries over
from frame to frame instead of starting again. Each head is then rendered with depth at one of
:data:`CAMERAS`: the frame's own camera, EG3D's frontal camera, or an orbit that sweeps the yaw once over
the clip (``sin`` of the clip's progress, +-:data:`~triplanenet.outputs.SWEEP_YAW`). Before rendering,
the heads go through a :class:`~.head_smoothing.HeadSmoother`, so frame ``t`` is rendered a few frames
after it was inverted.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from .. import cameras
from ..inversion.result import Inversion
from ..outputs.views import SWEEP_YAW, View, render_views
from ..pipeline import Pipeline
from ..preprocess import AlignedFace
from .head_smoothing import HeadSmoother

CAMERAS = ("input", "frontal", "orbit")
INVERT_BATCH = 4
"""Frames inverted in one encoder call."""


def check_camera(camera: str) -> str:
    """``camera`` if it is one of :data:`CAMERAS`, else ValueError."""
    if camera not in CAMERAS:
        raise ValueError(f"camera must be one of {', '.join(CAMERAS)}; got {camera!r}")
    return camera


def view_camera(camera: str, face: AlignedFace, t: int, count: int) -> torch.Tensor:
    """The camera [1,25] frame ``t`` of ``count`` is rendered from (see :data:`CAMERAS`)."""
    if camera == "input":
        return torch.as_tensor(face.camera, dtype=torch.float32)[None]
    yaw = SWEEP_YAW * math.sin(2 * math.pi * t / count) if camera == "orbit" else 0.0
    return cameras.camera(yaw, 0.0)


class FrameHeads:
    """Inverts batches of aligned frames of a ``count``-frame clip, smooths the heads over time (``smoother``)
    and renders them; keeps the last refinement's correction."""

    def __init__(self, pipeline: Pipeline, count: int, smoother: HeadSmoother, camera: str = "input",
                 refine_steps: int = 0):
        self.pipeline, self.count, self.smoother = pipeline, count, smoother
        self.camera, self.refine_steps = check_camera(camera), refine_steps
        self.correction: tuple[torch.Tensor, torch.Tensor] | None = None
        self.cameras: dict[int, torch.Tensor] = {}

    def views(self, faces: list[AlignedFace], first: int) -> list[tuple[int, View]]:
        """Invert frames ``first .. first + len(faces) - 1``; the frames whose smoothed heads are ready, each
        with its view (image [R,R,3], depth and opacity [r,r])."""
        batch = self.pipeline.invert([face.image for face in faces], np.stack([face.camera for face in faces]))
        ready = []
        for i, face in enumerate(faces):
            self.cameras[first + i] = view_camera(self.camera, face, first + i, self.count)
            head = self._refined(batch.face(i)) if self.refine_steps else batch.face(i)
            ready += self.smoother.push(first + i, head)
        return self._rendered(ready)

    def finish(self) -> list[tuple[int, View]]:
        """The views of the frames still held by the smoother (after the clip's last batch, or a stop)."""
        return self._rendered(self.smoother.finish())

    def _rendered(self, heads: list[tuple[int, Inversion]]) -> list[tuple[int, View]]:
        return [(t, render_views(head, self.cameras.pop(t))[0]) for t, head in heads]

    def _refined(self, head: Inversion) -> Inversion:
        """``head`` refined from its encoder result plus the previous frame's correction."""
        start = head
        if self.correction is not None:
            ws, planes = self.correction
            start = replace(head, ws=head.ws + ws, planes=head.planes + planes)
        refined = self.pipeline.refine(start, self.refine_steps)
        self.correction = (refined.ws - head.ws, refined.planes - head.planes)
        return refined
