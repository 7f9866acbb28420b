"""A head's outputs as files: a yaw sweep with depth and normals, meshes in several formats, a turntable video.

What ``triplanenet invert``, ``views``, ``mesh`` and ``video`` write; the app writes its
files per session (:mod:`triplanenet.app.session`) from the same pieces.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..inversion.result import Inversion
from .depth import save_depth, save_depth_image
from .exports import save_mesh
from .meshes import Mesh
from .video import write_video
from .views import SWEEP_YAW, gallery, normals_image, sweep_views, turntable_frames

GALLERY_COLUMNS = 4
TURNTABLE_FPS = 30.0


def write_views(inversion: Inversion, out: Path, count: int, yaw_range: float = SWEEP_YAW,
                normals: bool = False) -> list[Path]:
    """A yaw sweep into ``out``: view/depth/normal images per camera, raw depth and a gallery."""
    out.mkdir(parents=True, exist_ok=True)
    views = [view for view, _ in sweep_views(inversion, count, yaw_range, normals=normals)]
    written = []
    for i, view in enumerate(views):
        written.append(out / f"view_{i:02d}.png")
        gallery([view.image], 1).save(written[-1])
        written.append(save_depth(out / f"depth_{i:02d}.npy", view.depth))
        written.append(save_depth_image(out / f"depth_{i:02d}.png", view.depth, view.opacity))
        if view.normals is not None:
            written.append(out / f"normals_{i:02d}.png")
            gallery([normals_image(view.normals)], 1).save(written[-1])
    written.append(out / "gallery.png")
    gallery([v.image for v in views], columns=min(count, GALLERY_COLUMNS)).save(written[-1])
    return written


def write_meshes(mesh: Mesh, paths: Sequence[Path]) -> list[Path]:
    """One mesh saved in every format of ``paths`` (by suffix: ``.glb``, ``.ply``, ``.obj``)."""
    return [save_mesh(mesh, path) for path in paths]


def write_turntable(inversion: Inversion, path: Path, frames: int, fps: float = TURNTABLE_FPS,
                    neural_rendering_resolution: int | None = None) -> Path:
    """EG3D's turntable orbit of ``frames`` frames as ``.mp4`` (or ``.gif``); returns the path written."""
    return write_video(turntable_frames(inversion, frames, neural_rendering_resolution), path, fps)
