"""The app's steps as plain functions: photo -> alignment -> inversion (-> refinement) -> views, depth, mesh, video.

They take and return plain data (PIL images, numpy arrays, an :class:`Inversion`
and its :class:`~triplanenet.views.View`), write no files and keep no state (that
is :mod:`.session`), so the page, the API, the benchmark and a ZeroGPU worker run
the same code. Every render re-uses the inversion's cached tri-planes: after
:func:`invert`, nothing runs an encoder or the generator's backbone again.
Bad input raises ``ValueError`` (``FaceError`` for photos) with a message for people.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import cameras
from ..depth import depth_image
from ..geometry import LEVEL, TRIM_VALUE, Field, dense_grid, extract_mesh
from ..inversion import Inversion
from ..meshes import Mesh
from ..preprocess import align_face
from ..preprocess.align import OUTPUT_SIZE
from ..preprocess.images import MAX_CROP_SIDE, ImageSource, load_image
from ..video import orbit_cameras
from ..views import Scene, View, gallery, render_views, to_uint8, yaw_sweep
from .drawing import landmarks_preview
from ..pipeline import ModelSet
from ..refinement import RefineSettings, check_steps, refinement_steps

Report = Callable[[float, str], None]
"""Progress callback: ``report(fraction_done, message)``."""

MESH_RESOLUTIONS = (64, 512)
VIEW_COUNTS = (1, 16)
VIDEO_FRAMES = (8, 240)
YAW_DEGREES = (-45, 45)
PITCH_DEGREES = (-25, 25)
"""Slider ranges of the novel view (degrees, EG3D's offsets from the frontal view)."""
CROP_MAX_PIXELS = MAX_CROP_SIDE * MAX_CROP_SIDE
"""Largest crop decoded for :func:`invert`; checked from the file's header, before decoding."""
RENDER_BATCH = 4
PREVIEW_EVERY = 5
"""Refinement steps between two previews of the reconstruction (a preview costs about a quarter of a step)."""
FALLBACK_FRACTION = 0.1
"""Share of the (trimmed) box a fallback surface encloses when the density never reaches EG3D's level."""
FLAT_DENSITY = "The model's density is flat: there is no surface to mesh."


def _silent(fraction: float, message: str) -> None:
    """A :data:`Report` that reports nothing."""


def _no_pause() -> None:
    """Nothing to do between two units of model work."""


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


def align(photo: ImageSource, face_index: int = 0) -> Alignment:
    """Detect, crop and pose face ``face_index`` (0: the largest) of ``photo`` (raises ``FaceError``)."""
    face = align_face(photo, face_index=int(face_index))
    summary = (f"**{face.which_face}**. Camera yaw {face.yaw_deg:+.1f}°, pitch {face.pitch_deg:+.1f}°, "
               f"head roll {face.roll_deg:+.1f}°. Landmarks: {face.backend}; crop points: "
               f"{face.alignment_points}; pose fitted to {face.pose_points}.")
    return Alignment(face.image, [float(v) for v in face.camera], landmarks_preview(face), summary)


def invert(models: ModelSet, crop: ImageSource, camera: Sequence[float], mode: str
           ) -> tuple[Inversion, View]:
    """Invert an aligned ``crop`` seen from ``camera`` [25] in ``mode`` ("v2", "v1" or "w+").

    ``crop`` is anything :func:`~triplanenet.preprocess.load_image` reads (a file, bytes,
    a PIL image, an array) of at most :data:`CROP_MAX_PIXELS`; ``camera`` must pass
    :func:`triplanenet.cameras.check`. Returns the inversion and its render at the
    photo's camera (image [R,R,3] uint8, depth and opacity [r,r]).
    """
    inverter, branch = models.inverter(mode)
    image = load_image(crop, max_pixels=CROP_MAX_PIXELS)
    inversion = inverter.invert(image, camera, refine=branch)
    return inversion, input_view(inversion)


def input_view(inversion: Inversion) -> View:
    """The head rendered at its photo's camera (image [R,R,3] uint8, depth and opacity [r,r])."""
    return render_views(Scene.from_inversion(inversion), inversion.camera)[0]


@dataclass
class RefineUpdate:
    """Progress of :func:`refine`: ``step`` of ``steps``; a ``preview`` (input | reconstruction) now and then;
    the ``result`` (refined inversion and its input view) with the last update only."""

    step: int
    steps: int
    preview: Image.Image | None = None
    result: tuple[Inversion, View] | None = None


def refine(inversion: Inversion, steps: object) -> Iterator[RefineUpdate]:
    """Refine ``inversion`` per photo in ``steps`` steps (:mod:`triplanenet.refinement`), reporting each step.

    Nothing is changed until the last update: a caller that stops iterating (the user
    cancelled) keeps the inversion it had.
    """
    count = check_steps(steps)
    for state in refinement_steps(inversion, RefineSettings(steps=count)):
        preview = None
        if state.step % PREVIEW_EVERY == 0 and state.step < count:
            current = state.inversion
            preview = comparison(current, input_view(current))
        yield RefineUpdate(state.step, count, preview)
    refined = state.inversion
    view = input_view(refined)
    yield RefineUpdate(count, count, comparison(refined, view), (refined, view))


def comparison(inversion: Inversion, view: View) -> Image.Image:
    """Input (as the network saw it) and its reconstruction ``view`` side by side, [R, 2R] RGB."""
    return gallery([to_uint8(inversion.input_image[0]), view.image], columns=2)


def views(inversion: Inversion, count: int, pitch_deg: float = 0.0, yaw_range_deg: float = 35.0
          ) -> list[tuple[np.ndarray, str]]:
    """``count`` views [R,R,3] uint8 evenly spaced in yaw over +-``yaw_range_deg``, with captions."""
    count = _check_range("The number of views", count, VIEW_COUNTS)
    c = yaw_sweep(count, math.radians(yaw_range_deg), math.radians(pitch_deg))
    yaws = np.linspace(-yaw_range_deg, yaw_range_deg, count) if count > 1 else np.zeros(1)
    rendered = render_views(Scene.from_inversion(inversion), c, batch_size=RENDER_BATCH)
    return [(view.image, f"yaw {yaw:+.0f}°") for view, yaw in zip(rendered, yaws)]


def depth_at_crop(input_view: View, size: int = OUTPUT_SIZE) -> tuple[np.ndarray, Image.Image]:
    """Depth at the photo's camera on the crop's pixel grid, and its colour-mapped picture.

    Returns the raw depth (world units along each ray; rays that miss the head
    stop at the far bound) resampled bilinearly from the r x r render to
    [size,size] float32, and the picture of the r x r depth with its legend.
    """
    depth = torch.from_numpy(input_view.depth)[None, None]
    resampled = F.interpolate(depth, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    return resampled.numpy(), depth_image(input_view.depth, input_view.opacity)


def novel_view(inversion: Inversion, yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, Image.Image]:
    """The head from yaw/pitch (degrees, EG3D's offsets): image [R,R,3] uint8 and depth picture.

    Rendered in the generator's fast mode: sliders want an answer while they move, and
    its difference from float32 (47.6 dB PSNR on FFHQ-512) is invisible.
    """
    yaw_deg = check_number("Yaw (degrees)", yaw_deg, YAW_DEGREES)
    pitch_deg = check_number("Pitch (degrees)", pitch_deg, PITCH_DEGREES)
    c = cameras.camera(math.radians(yaw_deg), math.radians(pitch_deg))
    view = render_views(Scene.from_inversion(inversion), c, fast=True)[0]
    return view.image, depth_image(view.depth, view.opacity)


def densest_level(scene: Scene, fraction: float = FALLBACK_FRACTION, resolution: int = 64) -> float:
    """The density level enclosing the densest ``fraction`` of the trimmed box (a 64^3 lattice).

    Raises ``ValueError`` when no lattice point holds a finite density above the trim value.
    """
    values = dense_grid(scene.field, resolution, scene.box).values
    inside = values[np.isfinite(values) & (values > TRIM_VALUE)]
    if inside.size == 0:
        raise ValueError(FLAT_DENSITY)
    return float(np.quantile(inside, 1 - fraction))


def _pausing(field: Field, pause: Callable[[], None]) -> Field:
    """``field`` that calls ``pause()`` before each evaluation (a chunk of points)."""
    def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pause()
        return field(points)
    return evaluate


def mesh(inversion: Inversion, resolution: int, level: float = LEVEL, report: Report = _silent,
         pause: Callable[[], None] = _no_pause) -> tuple[Mesh, str]:
    """The coloured mesh (largest component) at ``resolution``^3, and a note for people.

    Uses EG3D's density ``level``; a model whose density never gets there (an
    untrained or weak one) gets the surface enclosing the densest
    :data:`FALLBACK_FRACTION` of the box instead, and the note says so. ``pause()``
    is called before each chunk of the density grid (where other requests may use the model).
    """
    resolution = _check_range("The mesh resolution", resolution, MESH_RESOLUTIONS)
    scene = Scene.from_inversion(inversion)
    field = _pausing(scene.field, pause)
    report(0.0, f"marching cubes at {resolution}^3")
    result = extract_mesh(field, resolution, scene.box, level=level, keep_largest=True)
    note = f"Iso-surface at EG3D's density level {level:g}, {resolution}^3 grid."
    if len(result.faces) == 0:
        report(0.5, "no surface at EG3D's level: finding the densest region")
        fallback = densest_level(scene)
        result = extract_mesh(field, resolution, scene.box, level=fallback, keep_largest=True)
        note = (f"The density never reaches EG3D's level {level:g} (a model that is untrained or has not "
                f"learned this face), so this is the surface enclosing the densest {FALLBACK_FRACTION:.0%} "
                f"of the box (level {fallback:.3g}), {resolution}^3 grid.")
    if len(result.faces) == 0:
        raise ValueError(FLAT_DENSITY)
    report(1.0, f"{len(result.faces):,} faces")
    return result, note


def turntable_frames(inversion: Inversion, frames: int, report: Report = _silent) -> list[np.ndarray]:
    """Frames [R,R,3] uint8 along EG3D's turntable orbit (:func:`triplanenet.video.orbit_cameras`)."""
    frames = _check_range("The number of video frames", frames, VIDEO_FRAMES)
    scene = Scene.from_inversion(inversion)
    images: list[np.ndarray] = []
    for part in orbit_cameras(frames).split(RENDER_BATCH):
        images += [view.image for view in render_views(scene, part, batch_size=RENDER_BATCH)]
        report(len(images) / frames, f"frame {len(images)} of {frames}")
    return images
