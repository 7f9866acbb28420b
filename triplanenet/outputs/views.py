"""Looking at a head: batched multi-view renders, the yaw sweep every front end shows, depth and normals.

Everything here renders an :class:`~triplanenet.inversion.Inversion` through
:meth:`~triplanenet.inversion.Inversion.synthesis` from its cached tri-planes;
nothing re-runs an encoder or the backbone. Normals are computed from the rendered depth: each pixel is
lifted to its 3D point along its ray and the normal is the cross product of
the neighbouring points' differences, in world coordinates, facing the camera.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .. import cameras
from ..inversion.result import Inversion
from ..rendering import ray_bundle
from .video import orbit_cameras


@dataclass
class View:
    """One rendered view. ``R`` is the image resolution, ``r`` the neural rendering resolution."""

    camera: torch.Tensor  # [25]
    image: np.ndarray  # [R,R,3] uint8
    depth: np.ndarray  # [r,r] float32, distance along the ray (world units)
    opacity: np.ndarray  # [r,r] float32, accumulated density weight (0: the ray hit nothing)
    normals: np.ndarray | None = None  # [r,r,3] float32 unit world normals, 0 where empty


SWEEP_YAW = math.radians(35.0)
"""Half-range of the yaw sweep every front end shows (radians; the views span -35 to +35 degrees)."""
RENDER_BATCH = 4
"""Views rendered in one generator call."""

Report = Callable[[float, str], None]
"""Progress callback: ``report(fraction_done, message)``."""


def silent(fraction: float, message: str) -> None:
    """A :data:`Report` that reports nothing."""


def yaw_sweep(n: int, yaw_range: float = SWEEP_YAW, pitch: float = 0.0) -> torch.Tensor:
    """Cameras [n,25] evenly spaced in yaw over ``[-yaw_range, yaw_range]`` (radians) at one pitch."""
    yaws = torch.linspace(-yaw_range, yaw_range, n) if n > 1 else torch.zeros(1)
    return cameras.camera(yaws, pitch)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """An image [3,H,W] in [-1, 1] -> [H,W,3] uint8."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def depth_normals(depth: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """World-space unit normals [r,r,3] of the surface seen in ``depth`` [r,r] from camera ``c`` [25].

    Central differences of the lifted points (one-sided at the border); the
    normal is flipped to face the camera.
    """
    r = depth.shape[-1]
    cam2world, K = cameras.split(c)
    origins, directions = ray_bundle(cam2world, K, r)
    points = (origins + depth.reshape(1, -1, 1) * directions).reshape(r, r, 3)
    d_col = torch.gradient(points, dim=1)[0]
    d_row = torch.gradient(points, dim=0)[0]
    normals = torch.nn.functional.normalize(torch.cross(d_col, d_row, dim=-1), dim=-1)
    facing = (normals * directions.reshape(r, r, 3)).sum(-1, keepdim=True) > 0
    return torch.where(facing, -normals, normals)


def render_views(inversion: Inversion, c: torch.Tensor, batch_size: int = RENDER_BATCH, normals: bool = False,
                 neural_rendering_resolution: int | None = None, opacity_threshold: float = 0.5,
                 fast: bool = False) -> list[View]:
    """Render a one-face ``inversion`` from cameras ``c`` [K,25] in batches of ``batch_size``; normals optional;
    ``fast`` as in :meth:`~triplanenet.inversion.Inversion.synthesis`."""
    views = []
    for part in c.split(batch_size):
        out = inversion.synthesis(part, neural_rendering_resolution, fast=fast)
        for i, camera in enumerate(part):
            depth, opacity = out["image_depth"][i, 0], out["image_opacity"][i, 0]
            view = View(camera, to_uint8(out["image"][i]), depth.cpu().numpy(), opacity.cpu().numpy())
            if normals:
                n = depth_normals(depth.cpu(), camera.cpu()) * (opacity.cpu() > opacity_threshold)[..., None]
                view.normals = n.numpy()
            views.append(view)
    return views


def input_view(inversion: Inversion) -> View:
    """A one-face head rendered at its photo's camera (image [R,R,3] uint8, depth and opacity [r,r])."""
    return render_views(inversion, inversion.camera)[0]


def sweep_views(inversion: Inversion, count: int, yaw_range: float = SWEEP_YAW, pitch: float = 0.0,
                normals: bool = False) -> list[tuple[View, float]]:
    """``count`` views evenly spaced in yaw over +-``yaw_range`` radians at ``pitch``, with their yaws."""
    yaws = torch.linspace(-yaw_range, yaw_range, count) if count > 1 else torch.zeros(1)
    views = render_views(inversion, yaw_sweep(count, yaw_range, pitch), normals=normals)
    return list(zip(views, yaws.tolist()))


def turntable_frames(inversion: Inversion, frames: int, neural_rendering_resolution: int | None = None,
                     report: Report = silent) -> list[np.ndarray]:
    """Frames [R,R,3] uint8 along EG3D's turntable orbit (:func:`~triplanenet.outputs.video.orbit_cameras`)."""
    images: list[np.ndarray] = []
    for part in orbit_cameras(frames).split(RENDER_BATCH):
        images += [view.image for view in render_views(inversion, part, neural_rendering_resolution=
                                                       neural_rendering_resolution)]
        report(len(images) / frames, f"frame {len(images)} of {frames}")
    return images


def normals_image(normals: np.ndarray) -> np.ndarray:
    """Unit normals [r,r,3] -> the usual RGB visualisation ``(n + 1) / 2`` as uint8 (empty pixels black)."""
    empty = ~np.any(normals, axis=-1, keepdims=True)
    return np.where(empty, 0, np.round((normals + 1) * 127.5)).astype(np.uint8)


def gallery(images: Sequence[np.ndarray], columns: int) -> Image.Image:
    """Images [H,W,3] uint8 (same size) tiled row-major into one PIL image."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * w, rows * h))
    for i, image in enumerate(images):
        sheet.paste(Image.fromarray(image), ((i % columns) * w, (i // columns) * h))
    return sheet
