"""Sampling a density field on a grid: the conventions every mesh follows, and coarse-to-fine sampling.

Marching cubes, vertex colours and the head's surface are :mod:`.surface`; the meshes
themselves and their cleanup (normals, largest component, smoothing) :mod:`.meshes`.

Conventions
-----------
* **World** is EG3D's: +y up, the face looks toward +z (see :mod:`triplanenet.cameras`).
  The generator's cube is ``[-box/2, box/2]^3`` (``box`` is EG3D's ``box_warp``, 1 for FFHQ).
* A **field** (:class:`Field`) maps world points [N,3] to ``(sigma [N,1], rgb [N,C])``:
  ``sigma`` is the decoder's raw density (before EG3D's ``softplus(sigma - 1)``),
  ``rgb[:, :3]`` the colour in [0, 1] (sigmoid outputs, may exceed it by 0.001).
* A **grid** of resolution ``N`` has ``N`` points per axis, ``voxel = box / (N - 1)``.
  Its values are an array ``[N, N, N]`` whose axes are **world x, y, z in that order**:
  ``values[i, j, k]`` is sigma at ``(x, y, z) = -box/2 + (i, j, k) * voxel``. Vertices
  found in index space therefore map to world coordinates by the same affine map,
  with no axis swap or flip, and every mesh here is in world units and orientation.
  (EG3D's ``gen_samples.py`` samples nominally the same lattice, flattened with z
  fastest, but its float division shifts y and x by up to a voxel; it then flips
  axis 0 and transposes before marching cubes and writes voxel units. We sample
  the exact lattice and do neither.)
* **Border trimming** (EG3D's ``--shapes``): the outer ``trim_width(N) = int(30 N / 256)``
  grid points on each side of each axis are set to ``TRIM_VALUE = -1000`` before
  marching cubes at ``LEVEL = 10``, so density that sits on the box walls is cut
  away and the surface closes inside the box. Trimmed points are never queried.
* Marching cubes is scikit-image's (Lewiner). A grid point is inside when
  ``sigma > level``; faces are wound counter-clockwise seen from outside, so face
  and vertex normals point outward (toward lower density).

Coarse-to-fine sampling (:func:`sparse_grid`) evaluates a coarse lattice, then
follows the iso-surface down to full resolution, querying only the corners of
cells the surface crosses; it reproduces the dense grid's marching-cubes mesh
exactly for every surface component that the coarse lattice sees (see its docstring).

The module is one job, field -> grid, longer than most because the coarse-to-fine
sampler is most of it and its pieces (lazy grid, seeds, tracking, trim-plane seeds)
share one cache and one set of index conventions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from .meshes import sorted_unique

LEVEL = 10.0
TRIM_VALUE = -1000.0
CHUNK = 1 << 18
CELL_CHUNK = 1 << 16

# The 8 corners of a unit cell, corner c at offset ((c >> 2) & 1, (c >> 1) & 1, c & 1).
_CORNERS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=np.int64)
# The 12 edges as (first corner, second corner, axis): the corners differ along `axis` only.
_EDGES = [(c, c | (4 >> axis), axis) for axis in range(3) for c in range(8) if not c & (4 >> axis)]
# The 6 faces as (axis, side, the 4 corners on that face); side 1 is the +axis face.
_FACES = [(axis, side, np.flatnonzero(_CORNERS[:, axis] == side)) for axis in range(3) for side in (0, 1)]


class Field(Protocol):
    """Density and colour at world points: ``points [N,3] -> (sigma [N,1], rgb [N,C])``."""

    def __call__(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class DensityGrid:
    """Sigma on the ``N^3`` lattice over ``[-box/2, box/2]^3`` (axes x, y, z; see module doc).

    ``values`` [N,N,N] float32. ``mask`` [N,N,N] bool or None limits marching cubes to
    the cells known to hold the surface, in scikit-image's convention: ``mask[i, j, k]``
    enables the cell spanning grid points ``[i-1, i] x [j-1, j] x [k-1, k]`` (points
    outside the enabled cells may hold unevaluated placeholders). ``queries`` is the
    number of points at which the field was evaluated.
    """

    values: np.ndarray
    box: float
    mask: np.ndarray | None
    queries: int

    @property
    def resolution(self) -> int:
        return self.values.shape[0]

    @property
    def voxel_size(self) -> float:
        return self.box / (self.resolution - 1)

    def to_world(self, index: np.ndarray) -> np.ndarray:
        """Grid coordinates [...,3] (axes x, y, z; fractional allowed) -> world float32 [...,3]."""
        return (index * self.voxel_size - self.box / 2).astype(np.float32)


def trim_width(resolution: int) -> int:
    """EG3D's border trim: grid points cut away on each side of each axis, ``int(30 N / 256)``."""
    return int(30 * resolution / 256)


def evaluate_field(field: Field, points: np.ndarray, chunk: int, device: torch.device | str,
              channels: int) -> np.ndarray:
    """``field`` at world points [K,3] -> float32 [K, channels]: sigma then rgb[:, :channels-1]."""
    out = np.empty((len(points), channels), np.float32)
    with torch.inference_mode():
        for start in range(0, len(points), chunk):
            batch = torch.from_numpy(points[start:start + chunk]).to(device)
            sigma, rgb = field(batch)
            values = torch.cat([sigma.reshape(-1, 1), rgb.reshape(len(batch), -1)[:, :channels - 1]], 1)
            out[start:start + chunk] = values.float().cpu().numpy()
    return out


def _flat(points: np.ndarray, size: int) -> np.ndarray:
    """Integer coordinates [K,3] -> flat indices [K] of a ``size^3`` array (C order)."""
    return (points[:, 0] * size + points[:, 1]) * size + points[:, 2]


def _coords(keys: np.ndarray, size: int) -> np.ndarray:
    """Flat indices of a ``size^3`` array -> integer coordinates [K,3]."""
    return np.stack(np.unravel_index(keys, (size, size, size)), axis=1).astype(np.int64)


class _LazyGrid:
    """The trimmed ``N^3`` sigma lattice, each point queried at most once, on demand.

    Points are integer grid coordinates [K,3] (never negative). A coarse lattice
    may overhang the grid's last index: such points read the nearest grid point
    (coordinates clamped), so the overhang never adds a crossing of its own.
    Trimmed points read ``TRIM_VALUE`` without a query. ``values`` starts as lazily
    zeroed memory and only points that were read are written, so a 512^3 grid
    costs memory and page faults only around the surface.
    """

    def __init__(self, field: Field, resolution: int, box: float, trim: bool, chunk: int,
                 device: torch.device | str):
        self.field, self.n, self.box, self.chunk, self.device = field, resolution, box, chunk, device
        pad = trim_width(resolution) if trim else 0
        self.lo, self.hi = pad, resolution - 1 - pad
        self.values = np.zeros(resolution ** 3, np.float32)
        self.known = np.zeros(resolution ** 3, bool)
        self.queries = 0

    def read(self, points: np.ndarray) -> np.ndarray:
        """Sigma [K] at grid points [K,3], querying the field for those not known yet."""
        points = np.minimum(points, self.n - 1)
        flat = _flat(points, self.n)
        interior = ((points >= self.lo) & (points <= self.hi)).all(axis=1)
        self.values[flat[~interior]] = TRIM_VALUE
        self._ensure(flat[interior])
        return self.values[flat]

    def _ensure(self, flat: np.ndarray) -> None:
        """Query the field at the interior points ``flat`` [K] (flat indices) not known yet."""
        todo = flat[~self.known[flat]]
        if len(todo) == 0:
            return
        todo = sorted_unique(todo)
        world = (_coords(todo, self.n) * (self.box / (self.n - 1)) - self.box / 2).astype(np.float32)
        self.values[todo] = evaluate_field(self.field, world, self.chunk, self.device, 1)[:, 0]
        self.known[todo] = True
        self.queries += len(todo)

    def corners_inside(self, cells: np.ndarray, stride: int, level: float) -> np.ndarray:
        """Flags [K,8] ``sigma > level`` at the corners of cells [K,3] (units of ``stride``).

        Works in chunks of cells to keep temporaries small; cells whose corners are
        all interior (the usual case) skip the clamping and trimming of :meth:`read`.
        """
        offsets = _flat(_CORNERS * stride, self.n)
        inside = np.empty((len(cells), 8), bool)
        for start in range(0, len(cells), CELL_CHUNK):
            base = cells[start:start + CELL_CHUNK] * stride
            fast = (base >= self.lo).all(axis=1) & (base + stride <= self.hi).all(axis=1)
            flat = _flat(base[fast], self.n)[:, None] + offsets
            self._ensure(flat.reshape(-1))
            part = np.empty((len(base), 8), bool)
            part[fast] = self.values[flat] > level
            slow = base[~fast][:, None, :] + _CORNERS * stride
            part[~fast] = (self.read(slow.reshape(-1, 3)) > level).reshape(-1, 8)
            inside[start:start + CELL_CHUNK] = part
        return inside

    def cells_per_axis(self, stride: int) -> int:
        """Cells of ``stride`` grid steps needed to cover the grid's ``N - 1`` steps per axis."""
        return (self.n - 2) // stride + 1


def _coarse_crossings(grid: _LazyGrid, stride: int, level: float) -> np.ndarray:
    """Cells [K,3] (in units of ``stride``) of the full coarse lattice that the surface crosses."""
    d = grid.cells_per_axis(stride)
    axis = np.arange(d + 1) * stride
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = (grid.read(points) > level).reshape(d + 1, d + 1, d + 1)
    any_in = np.zeros((d, d, d), bool)
    all_in = np.ones((d, d, d), bool)
    for i, j, k in _CORNERS:
        corner = inside[i:i + d, j:j + d, k:k + d]
        any_in |= corner
        all_in &= corner
    return np.argwhere(any_in & ~all_in).astype(np.int64)


def _seeds(grid: _LazyGrid, cells: np.ndarray, stride: int, level: float) -> np.ndarray:
    """Cells [K,3] at ``stride // 2`` (may fall outside the grid) that the surface crosses.

    Each crossed edge of the crossed cells [K,3] (units of ``stride``) is split at its
    midpoint (one query); the half that keeps the sign change is an edge of the
    finer lattice, and the 4 finer cells around it are crossed by the surface.
    """
    half = stride // 2
    inside = grid.corners_inside(cells, stride, level)
    starts, axes = [], []
    for first, second, axis in _EDGES:
        crossed = inside[:, first] != inside[:, second]
        starts.append((cells[crossed] + _CORNERS[first]) * stride)
        axes.append(np.full(int(crossed.sum()), axis))
    start, axis = np.concatenate(starts), np.concatenate(axes)
    span = grid.cells_per_axis(half) + 2
    key = sorted_unique(_flat(start // half, span) * 3 + axis)
    start, axis = _coords(key // 3, span) * half, key % 3
    unit = np.eye(3, dtype=np.int64)
    middle = start + unit[axis] * half
    split_first = (grid.read(start) > level) != (grid.read(middle) > level)
    edge = np.where(split_first[:, None], start, middle) // half
    first, second = unit[(axis + 1) % 3], unit[(axis + 2) % 3]
    return np.concatenate([edge - a * first - b * second for a in (0, 1) for b in (0, 1)])


def _track(grid: _LazyGrid, seeds: np.ndarray, stride: int, level: float, visited: np.ndarray) -> np.ndarray:
    """The crossed cells [K,3] at ``stride`` face-connected to ``seeds`` [S,3] through crossed faces.

    A face whose 4 corners do not all lie on one side belongs to both cells
    sharing it, so the surface continues into the neighbour: following such faces
    from the seeds visits every crossed cell of each surface component they touch.
    ``visited`` [d^3] bool (d cells per axis) marks cells already examined; it is updated.
    """
    d = grid.cells_per_axis(stride)
    valid = ((seeds >= 0) & (seeds < d)).all(axis=1)
    keys = sorted_unique(_flat(seeds[valid], d))
    keys = keys[~visited[keys]]
    visited[keys] = True
    found = []
    while len(keys):
        cells = _coords(keys, d)
        inside = grid.corners_inside(cells, stride, level)
        crossed = inside.any(axis=1) & ~inside.all(axis=1)
        cells, inside = cells[crossed], inside[crossed]
        found.append(cells)
        neighbours = []
        for axis, side, corners in _FACES:
            face = inside[:, corners]
            through = cells[face.any(axis=1) & ~face.all(axis=1)]
            through[:, axis] += 1 if side else -1
            neighbours.append(through[(through[:, axis] >= 0) & (through[:, axis] < d)])
        keys = sorted_unique(_flat(np.concatenate(neighbours), d))
        keys = keys[~visited[keys]]
        visited[keys] = True
    return np.concatenate(found) if found else np.zeros((0, 3), np.int64)


def _trim_plane_seeds(grid: _LazyGrid, stride: int, level: float) -> np.ndarray:
    """Full-resolution cells [K,3] where the surface meets a trim plane, found on a ``stride`` lattice.

    Trimming cuts density off at the box walls, so a piece of surface can be a
    sliver between the trim plane and the first coarse lattice point. Sampling
    the first interior layer of each of the 6 trim planes (every ``stride``
    points in-plane) finds such pieces: where that layer is above ``level`` the
    cell reaching into the trimmed layer is crossed.
    """
    if grid.lo == 0:
        return np.zeros((0, 3), np.int64)
    u, v = np.meshgrid(np.arange(grid.lo, grid.hi + 1, stride), np.arange(grid.lo, grid.hi + 1, stride),
                       indexing="ij")
    seeds = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for layer, cell in ((grid.lo, grid.lo - 1), (grid.hi, grid.hi)):
            points = np.zeros((u.size, 3), np.int64)
            points[:, axis], points[:, others[0]], points[:, others[1]] = layer, u.ravel(), v.ravel()
            hits = points[grid.read(points) > level]
            hits[:, axis] = cell
            seeds.append(np.minimum(hits, grid.cells_per_axis(1) - 1))
    return np.concatenate(seeds)


def _around(cells: np.ndarray, radius: int, size: int) -> np.ndarray:
    """Cells [K,3] within ``radius`` steps (Chebyshev) of ``cells`` [M,3] on a ``size^3`` cell grid."""
    low = np.maximum(cells.min(axis=0) - radius, 0)
    high = np.minimum(cells.max(axis=0) + radius + 1, size)
    near = np.zeros(high - low, bool)
    near[tuple((cells - low).T)] = True
    for axis in range(3):
        view = np.moveaxis(near, axis, 0)
        for _ in range(radius):
            grown = view.copy()
            grown[1:] |= view[:-1]
            grown[:-1] |= view[1:]
            view[...] = grown
    return np.argwhere(near) + low


def coarsest_stride(resolution: int, coarse: int) -> int:
    """The power-of-two step (in grid voxels) of a coarse lattice with about ``coarse`` cells per axis."""
    return 2 ** max(0, round(math.log2((resolution - 1) / coarse)))


def sparse_grid(field: Field, resolution: int = 256, box: float = 1.0, *, level: float = LEVEL,
                trim: bool = True, coarse: int = 64, search: int = 2, chunk: int = CHUNK,
                device: torch.device | str = "cpu") -> DensityGrid:
    """Coarse-to-fine sigma grid: only the cells the iso-surface crosses are resolved.

    1. Evaluate the lattice of step ``s = coarsest_stride(resolution, coarse)`` voxels
       (about ``coarse`` cells per axis) and find its crossed cells.
    2. Halve the step: split every crossed coarse edge at its midpoint (one query)
       to get crossed cells of the finer lattice, then follow the surface from them
       through crossed faces (:func:`_track`), querying only those cells' corners.
       Repeat down to step 1.
    3. Follow any piece of surface met on the first interior layer of the trim
       planes, sampled every ``s`` points (slivers that trimming left at the walls).
    4. With ``search > 0``, also examine every full-resolution cell within ``search``
       cells of the surface found, and follow any surface piece met there.
    5. Return the grid with ``mask`` set to the crossed full-resolution cells.

    Guarantee: tracking follows the surface through crossed faces, so every surface
    component it reaches is reproduced exactly as :func:`dense_grid` gives it (same
    marching-cubes vertices and faces). A component is reached when it separates two
    neighbouring coarse lattice points (one with ``sigma > level``, one without) or
    touches a component that does; only a detached piece that slips between lattice
    points (smaller than about ``s`` voxels) can be missed. Specks of noise a voxel
    or two off the main surface are the usual case: the default ``search = 2`` finds
    those within 2 voxels (``search = 0`` makes about half the grid queries and
    misses them); ``coarse = resolution - 1`` is the dense grid. Values are [N,N,N]
    float32 with axes x, y, z; points never read hold 0 (placeholders outside ``mask``).
    """
    grid = _LazyGrid(field, resolution, box, trim, chunk, device)
    stride = first_stride = coarsest_stride(resolution, coarse)
    cells = _coarse_crossings(grid, stride, level)
    visited = None
    while stride > 1 and len(cells):
        seeds = _seeds(grid, cells, stride, level)
        stride //= 2
        visited = np.zeros(grid.cells_per_axis(stride) ** 3, bool)
        cells = _track(grid, seeds, stride, level, visited)
    if stride > 1 or visited is None:
        cells = cells if stride == 1 else np.zeros((0, 3), np.int64)
        visited = np.zeros(grid.cells_per_axis(1) ** 3, bool)
        visited[_flat(cells, grid.cells_per_axis(1))] = True
    cells = np.concatenate([cells, _track(grid, _trim_plane_seeds(grid, first_stride, level), 1, level, visited)])
    if search > 0 and len(cells):
        around = _around(cells, search, grid.cells_per_axis(1))
        cells = np.concatenate([cells, _track(grid, around, 1, level, visited)])
    mask = np.zeros((resolution,) * 3, bool)
    mask[tuple((cells + 1).T)] = True
    return DensityGrid(grid.values.reshape((resolution,) * 3), box, mask, grid.queries)


def dense_grid(field: Field, resolution: int = 256, box: float = 1.0, *, trim: bool = True,
               chunk: int = CHUNK, device: torch.device | str = "cpu") -> DensityGrid:
    """Sigma at every grid point (EG3D's way), trimmed points set to ``TRIM_VALUE`` unqueried.

    Returns values [N,N,N] float32 with axes x, y, z (see module doc), ``mask=None``.
    """
    pad = trim_width(resolution) if trim else 0
    values = np.full((resolution,) * 3, TRIM_VALUE, np.float32)
    axis = np.arange(pad, resolution - pad)
    voxel = box / (resolution - 1)
    slab = max(1, chunk // len(axis) ** 2)
    yz = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    for first in range(0, len(axis), slab):
        xs = axis[first:first + slab]
        index = np.concatenate([np.repeat(xs, len(yz))[:, None], np.tile(yz, (len(xs), 1))], axis=1)
        world = (index * voxel - box / 2).astype(np.float32)
        sigma = evaluate_field(field, world, chunk, device, 1)[:, 0].reshape(len(xs), len(axis), len(axis))
        values[xs[0]:xs[-1] + 1, pad:resolution - pad, pad:resolution - pad] = sigma
    return DensityGrid(values, box, None, len(axis) ** 3)
