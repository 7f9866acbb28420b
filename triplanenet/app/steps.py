"""The app's steps: what a client sends, checked, through the :class:`~triplanenet.pipeline.Pipeline` and
:mod:`triplanenet.outputs`, back as what the page shows.

The flow itself (alignment, inversion, refinement, views, mesh) and its defaults are
the pipeline's and the outputs'; here are the app's own parts: range checks of every
setting a client sends (text, ``None``, NaN and out-of-range values are refused with
the allowed range), the alignment summary, refinement previews and the comparison
picture. The steps write no files and keep no state (that is :mod:`.session`), so the
page, the API, the benchmark and a ZeroGPU worker run the same code. Bad input raises
``ValueError`` (``FaceError`` for photos) with a message for people.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import cameras
from ..image_tensors import MAX_CROP_SIDE
from ..inversion.result import Inversion
from ..outputs.depth import depth_at_crop, depth_image
from ..outputs.meshes import Mesh
from ..outputs.surface import MESH_RESOLUTIONS, head_mesh
from ..outputs.views import SWEEP_YAW, Report, View, gallery, input_view, render_views, silent, sweep_views, to_uint8
from ..outputs.views import turntable_frames as orbit_frames
from ..pipeline import Pipeline
from ..preprocess.align import OUTPUT_SIZE
from ..preprocess.images import ImageSource, load_image
from ..refinement import check_steps
from .drawing import landmarks_preview

VIEW_COUNTS = (1, 16)
VIDEO_FRAMES = (8, 240)
YAW_DEGREES = (-45, 45)
PITCH_DEGREES = (-25, 25)
"""Slider ranges of the novel view (degrees, EG3D's offsets from the frontal view)."""
CROP_MAX_PIXELS = MAX_CROP_SIDE * MAX_CROP_SIDE
"""Largest crop decoded for :func:`invert`; checked from the file's header, before decoding."""
PREVIEW_EVERY = 5
"""Refinement steps between two previews of the reconstruction (a preview costs about a quarter of a step)."""


def check_number(name: str, value: object, bounds: tuple[float, float]) -> float:
    """``value`` (a number or a numeric string, as a client sent it) as a float within ``bounds``.

    Anything else (``None``, text, NaN, out of range) is a ``ValueError`` naming the allowed range.
    """
    low, high = bounds
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not low <= number <= high:  # NaN fails every comparison
        raise ValueError(f"{name} must be a number between {low:g} and {high:g}, got {value!r:.40}")
    return number


def _check_range(name: str, value: object, bounds: tuple[int, int]) -> int:
    """``value`` rounded to an int, or a ``ValueError`` naming the allowed range."""
    return round(check_number(name, value, bounds))


@dataclass
class Alignment:
    """A photo's face ready for inversion: the 512x512 EG3D ``crop`` and its 25-number ``camera``,
    the ``preview`` (crop with landmarks drawn) and a Markdown ``summary``."""

    crop: Image.Image
    camera: list[float]
    preview: Image.Image
    summary: str


def align(pipeline: Pipeline, photo: ImageSource, face_index: int = 0) -> Alignment:
    """Detect, crop and pose face ``face_index`` (0: the largest) of ``photo`` (raises ``FaceError``)."""
    face = pipeline.align(photo, int(face_index))
    summary = (f"**{face.which_face}**. Camera yaw {face.yaw_deg:+.1f}°, pitch {face.pitch_deg:+.1f}°, "
               f"head roll {face.roll_deg:+.1f}°. Landmarks: {face.backend}; crop points: "
               f"{face.alignment_points}; pose fitted to {face.pose_points}.")
    return Alignment(face.image, [float(v) for v in face.camera], landmarks_preview(face), summary)


def invert(pipeline: Pipeline, crop: ImageSource, camera: Sequence[float], mode: str) -> tuple[Inversion, View]:
    """Invert an aligned ``crop`` seen from ``camera`` [25] in ``mode`` ("v2", "v1" or "w+").

    ``crop`` is anything :func:`~triplanenet.preprocess.load_image` reads (a file, bytes,
    a PIL image, an array) of at most :data:`CROP_MAX_PIXELS`; ``camera`` must pass
    :func:`triplanenet.cameras.check`. Returns the inversion and its render at the
    photo's camera (image [R,R,3] uint8, depth and opacity [r,r]).
    """
    inversion = pipeline.invert(load_image(crop, max_pixels=CROP_MAX_PIXELS), camera, mode)
    return inversion, input_view(inversion)


@dataclass
class RefineUpdate:
    """Progress of :func:`refine`: ``step`` of ``steps``; a ``preview`` (input | reconstruction) now and then;
    the ``result`` (refined inversion and its input view) with the last update only."""

    step: int
    steps: int
    preview: Image.Image | None = None
    result: tuple[Inversion, View] | None = None


def refine(pipeline: Pipeline, inversion: Inversion, steps: object) -> Iterator[RefineUpdate]:
    """Refine ``inversion`` per photo in ``steps`` steps (:mod:`triplanenet.refinement`), reporting each step.

    Nothing is changed until the last update: a caller that stops iterating (the user
    cancelled) keeps the inversion it had.
    """
    for state in pipeline.refinement(inversion, check_steps(steps)):
        preview = None
        if state.step % PREVIEW_EVERY == 0 and state.step < state.steps:
            current = state.inversion
            preview = comparison(current, input_view(current))
        yield RefineUpdate(state.step, state.steps, preview)
    refined = state.inversion
    view = input_view(refined)
    yield RefineUpdate(state.steps, state.steps, comparison(refined, view), (refined, view))


def comparison(inversion: Inversion, view: View) -> Image.Image:
    """Input (as the network saw it) and its reconstruction ``view`` side by side, [R, 2R] RGB."""
    return gallery([to_uint8(inversion.input_image[0]), view.image], columns=2)


def views(inversion: Inversion, count: int, pitch_deg: float = 0.0) -> list[tuple[np.ndarray, str]]:
    """``count`` views [R,R,3] uint8 of the sweep every front end shows, with captions."""
    count = _check_range("The number of views", count, VIEW_COUNTS)
    swept = sweep_views(inversion, count, SWEEP_YAW, math.radians(pitch_deg))
    return [(view.image, f"yaw {math.degrees(yaw):+.0f}°") for view, yaw in swept]


def depth(input_view: View) -> tuple[np.ndarray, Image.Image]:
    """Depth at the photo's camera on the crop's 512 grid (float32, world units) and its picture."""
    return depth_at_crop(input_view.depth, input_view.opacity, OUTPUT_SIZE)


def novel_view(inversion: Inversion, yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, Image.Image]:
    """The head from yaw/pitch (degrees, EG3D's offsets): image [R,R,3] uint8 and depth picture.

    Rendered in the generator's fast mode: sliders want an answer while they move, and
    its difference from float32 (47.6 dB PSNR on FFHQ-512) is invisible.
    """
    yaw_deg = check_number("Yaw (degrees)", yaw_deg, YAW_DEGREES)
    pitch_deg = check_number("Pitch (degrees)", pitch_deg, PITCH_DEGREES)
    c = cameras.camera(math.radians(yaw_deg), math.radians(pitch_deg))
    view = render_views(inversion, c, fast=True)[0]
    return view.image, depth_image(view.depth, view.opacity)


def mesh(inversion: Inversion, resolution: int, report: Report = silent,
         pause: Callable[[], None] | None = None) -> tuple[Mesh, str]:
    """The head's coloured mesh at ``resolution``^3 (checked), and a note for people
    (:func:`~triplanenet.outputs.surface.head_mesh`, with its fallback level). ``pause()`` is called
    before each chunk of the density grid (where other requests may use the model)."""
    resolution = _check_range("The mesh resolution", resolution, MESH_RESOLUTIONS)
    return head_mesh(inversion, resolution, report=report, pause=pause)


def turntable_frames(inversion: Inversion, frames: int, report: Report = silent) -> list[np.ndarray]:
    """Frames [R,R,3] uint8 along EG3D's turntable orbit (``frames`` checked)."""
    return orbit_frames(inversion, _check_range("The number of video frames", frames, VIDEO_FRAMES), report=report)
