"""The head's surface: marching cubes on a density grid, vertex colours, and the mesh of an inversion.

Grids and their conventions (world axes, EG3D's level and border trim) are
:mod:`.geometry`. :func:`extract_mesh` meshes any density field; :func:`head_mesh`
meshes a head the way every front end shows it: the largest piece at EG3D's
level, or, for a model whose density never gets there (an untrained or weak one),
the surface around the densest :data:`FALLBACK_FRACTION` of the box, with a note
for people saying which.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..inversion.result import Inversion
from .geometry import CHUNK, LEVEL, TRIM_VALUE, DensityGrid, Field, dense_grid, evaluate_field, sparse_grid
from .meshes import Mesh, largest_component, taubin_smooth, vertex_normals
from .views import Report, silent

MESH_RESOLUTION = 256
"""Grid points per axis of a head's mesh unless asked otherwise (0.5 s on a CPU; 512 takes 2.4 s)."""
MESH_RESOLUTIONS = (64, 512)
FALLBACK_FRACTION = 0.1
"""Share of the (trimmed) box a fallback surface encloses when the density never reaches EG3D's level."""
FALLBACK_LATTICE = 64
"""Grid points per axis of the lattice the fallback level is read from."""
FLAT_DENSITY = "The model's density is flat: there is no surface to mesh."

def marching_cubes(grid: DensityGrid, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface ``sigma = level`` of ``grid`` -> (vertices [V,3] float32 world, faces [F,3] int64).

    Faces are wound counter-clockwise seen from outside (normals toward lower sigma).
    Returns empty arrays when the grid holds no surface.
    """
    from skimage.measure import marching_cubes as skimage_marching_cubes

    try:
        vertices, faces, _, _ = skimage_marching_cubes(grid.values, level, mask=grid.mask,
                                                       gradient_direction="ascent")
    except (ValueError, RuntimeError):
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    return grid.to_world(vertices), faces.astype(np.int64)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.round(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def query_colors(field: Field, vertices: np.ndarray, *, chunk: int = CHUNK,
                 device: torch.device | str = "cpu") -> np.ndarray:
    """Colours [V,3] uint8 of world vertices [V,3]: the field's ``rgb[:, :3]`` clipped to [0, 1]."""
    if len(vertices) == 0:
        return np.zeros((0, 3), np.uint8)
    return _to_uint8(evaluate_field(field, np.ascontiguousarray(vertices, np.float32), chunk, device, 4)[:, 1:])


def extract_mesh(field: Field, resolution: int = 256, box: float = 1.0, *, level: float = LEVEL,
                 method: str = "sparse", trim: bool = True, coarse: int = 64, search: int = 2,
                 keep_largest: bool = False,
                 smooth_iterations: int = 0, colors: bool = True, chunk: int = CHUNK,
                 device: torch.device | str = "cpu") -> Mesh:
    """The coloured iso-surface ``sigma = level`` of ``field`` in world coordinates.

    ``resolution`` (64..512 typical) grid points per axis over ``[-box/2, box/2]^3``;
    ``method`` "sparse" (coarse-to-fine, :func:`sparse_grid` with ``coarse`` and ``search``)
    or "dense" (every point, :func:`dense_grid`); ``trim`` applies EG3D's border trim. Optional cleanup keeps
    the largest component and applies ``smooth_iterations`` of Taubin smoothing.
    Vertices are coloured by querying ``field`` at their final positions (white if
    ``colors`` is False). Returns an empty :class:`Mesh` when there is no surface.
    """
    if method == "sparse":
        grid = sparse_grid(field, resolution, box, level=level, trim=trim, coarse=coarse, search=search,
                           chunk=chunk, device=device)
    elif method == "dense":
        grid = dense_grid(field, resolution, box, trim=trim, chunk=chunk, device=device)
    else:
        raise ValueError(f"method must be 'sparse' or 'dense', not {method!r}")
    vertices, faces = marching_cubes(grid, level)
    if len(faces) == 0:
        return Mesh.empty()
    if keep_largest:
        vertices, faces, _ = largest_component(vertices, faces)
    vertices = taubin_smooth(vertices, faces, smooth_iterations)
    rgb = (query_colors(field, vertices, chunk=chunk, device=device) if colors
           else np.full((len(vertices), 3), 255, np.uint8))
    return Mesh(vertices, faces, rgb, vertex_normals(vertices, faces))


def densest_level(inversion: Inversion, fraction: float = FALLBACK_FRACTION,
                  resolution: int = FALLBACK_LATTICE) -> float:
    """The density level enclosing the densest ``fraction`` of the trimmed box (a ``resolution``^3 lattice).

    Raises ``ValueError`` when no lattice point holds a finite density above the trim value.
    """
    values = dense_grid(inversion.field, resolution, inversion.box).values
    inside = values[np.isfinite(values) & (values > TRIM_VALUE)]
    if inside.size == 0:
        raise ValueError(FLAT_DENSITY)
    return float(np.quantile(inside, 1 - fraction))


def pausing(field: Field, pause: Callable[[], None]) -> Field:
    """``field`` that calls ``pause()`` before each evaluation (a chunk of points)."""
    def evaluate(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pause()
        return field(points)
    return evaluate


def head_mesh(inversion: Inversion, resolution: int = MESH_RESOLUTION, level: float = LEVEL, *,
              fallback: bool = True, keep_largest: bool = True, smooth_iterations: int = 0,
              report: Report = silent, pause: Callable[[], None] | None = None) -> tuple[Mesh, str]:
    """The coloured mesh (its largest piece with ``keep_largest``) of a one-face inversion at ``resolution``^3, and a note for people.

    At density ``level`` (EG3D's 10 by default); with ``fallback``, a head whose density
    never gets there is meshed around its densest :data:`FALLBACK_FRACTION` instead and
    the note says so. Raises ``ValueError`` when there is no surface at all. ``pause()``, when
    given, is called before each chunk of density queries (a server lets other requests run there).
    """
    field = inversion.field if pause is None else pausing(inversion.field, pause)
    report(0.0, f"marching cubes at {resolution}^3")
    mesh = extract_mesh(field, resolution, inversion.box, level=level, keep_largest=keep_largest,
                        smooth_iterations=smooth_iterations)
    note = f"Iso-surface at EG3D's density level {level:g}, {resolution}^3 grid."
    if len(mesh.faces) == 0 and fallback:
        report(0.5, "no surface at EG3D's level: finding the densest region")
        found = densest_level(inversion)
        mesh = extract_mesh(field, resolution, inversion.box, level=found, keep_largest=keep_largest,
                            smooth_iterations=smooth_iterations)
        note = (f"The density never reaches EG3D's level {level:g} (a model that is untrained or has not "
                f"learned this face), so this is the surface enclosing the densest {FALLBACK_FRACTION:.0%} "
                f"of the box (level {found:.3g}), {resolution}^3 grid.")
    if len(mesh.faces) == 0:
        raise ValueError(FLAT_DENSITY if fallback else
                         f"the density never exceeds {level:g} inside the box, so there is no surface to mesh "
                         "(try a lower level)")
    report(1.0, f"{len(mesh.faces):,} faces")
    return mesh, note
