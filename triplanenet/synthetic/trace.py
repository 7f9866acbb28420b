"""Sphere tracing of batched distance fields, coarse to fine, on packed rays.

Rays are ``[B,R]`` (``B`` heads, ``R`` rays each) with unit directions, so a
ray's parameter ``t`` is the distance from its origin (EG3D's depth). Only rays
still marching are evaluated: they are packed into a ``[B,K]`` table (``K`` the
most still active in any head, shorter rows padded), which keeps per-head
parameters broadcasting as ``[B,1]`` columns. Fields are evaluated in chunks of
at most :data:`CHUNK` points: eager CPU kernels are several times faster when
their tensors stay small (no fresh pages per operation).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from .primitives import V

Field = Callable[[V], torch.Tensor]  # points (V of [B,M]) -> distance [B,M]
CHUNK = 32768


@contextmanager
def limit_threads(count: int | None) -> Iterator[None]:
    """Run the block on ``count`` intra-op threads (``None``: leave torch's setting), then restore the setting.

    Field evaluation is thousands of small kernels; extra threads mostly add
    synchronisation (and stall badly when other processes share the cores).
    """
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def split_points(points: torch.Tensor) -> V:
    """Points ``[B,M,3]`` -> contiguous coordinates (V of ``[B,M]``)."""
    return V(*(c.contiguous() for c in points.unbind(-1)))


def pack(active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column indices [B,K] of the True entries of ``active`` [B,R] per row (padded with 0) and their validity."""
    counts = active.sum(dim=1)
    k = int(counts.max()) if active.numel() else 0
    slot = torch.where(active, active.cumsum(dim=1) - 1, k)
    index = torch.zeros(active.shape[0], k + 1, dtype=torch.long, device=active.device)
    index.scatter_(1, slot, torch.arange(active.shape[1], device=active.device).expand_as(slot))
    valid = torch.arange(k, device=active.device)[None, :] < counts[:, None]
    return index[:, :k], valid


def gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values`` [B,R] or [B,R,C] at column ``index`` [B,K] -> [B,K] or [B,K,C]."""
    if values.dim() == 2:
        return torch.gather(values, 1, index)
    return torch.gather(values, 1, index[..., None].expand(-1, -1, values.shape[-1]))


def evaluate(field: Field, points: V) -> torch.Tensor:
    """``field`` at ``points`` (V of [B,M]) in chunks of at most :data:`CHUNK` values -> [B,M]."""
    b, m = points.x.shape
    step = max(CHUNK // max(b, 1), 64)
    if m <= step:
        return field(points)
    parts = [field(V(points.x[:, i:i + step], points.y[:, i:i + step], points.z[:, i:i + step]))
             for i in range(0, m, step)]
    return torch.cat(parts, dim=1)


class Rays:
    """Ray origins and unit directions as contiguous coordinates (V of ``[B,R]``), from [B,R,3] tensors."""

    def __init__(self, origins: torch.Tensor, directions: torch.Tensor):
        self.origins = split_points(origins)
        self.directions = split_points(directions)

    @property
    def shape(self) -> torch.Size:
        return self.origins.x.shape

    def at(self, t: torch.Tensor, index: torch.Tensor | None = None) -> V:
        """Points at depth ``t`` along all rays, or along the rays ``index`` [B,K] (``t`` then [B,K])."""
        if index is None:
            return self.origins + self.directions * t
        return _select(self.origins, index) + _select(self.directions, index) * t

    def directions_at(self, index: torch.Tensor) -> V:
        """Directions (V of [B,K]) of the rays ``index`` [B,K]."""
        return _select(self.directions, index)


def _select(v: V, index: torch.Tensor) -> V:
    """Columns ``index`` [B,K] of a V of [B,R] tensors."""
    return V(*(torch.gather(c, 1, index) for c in (v.x, v.y, v.z)))


def march(field: Field, rays: Rays, t: torch.Tensor, t_far: float, steps: int,
          stop: Callable[[torch.Tensor], torch.Tensor], relax: float = 1.0,
          straggle: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sphere-trace ``rays`` from depths ``t`` [B,R] until ``|distance| < stop(t)``, ``t > t_far`` or ``steps``.

    Steps are ``relax * distance``, so a ray that overshoots into a surface steps back out.

    A head's marching also ends once at most a fraction ``straggle`` of its rays
    is still going (grazing rays converge slowly), so heads never depend on their
    batch. Returns the depth [B,R] of each ray's last evaluated point and the
    distance [B,R] there (``inf`` for rays that passed ``t_far`` or started beyond it).
    """
    t_out = t.clone()
    dist = torch.full_like(t, float("inf"))
    t = t.clone()
    index, valid = pack(t < t_far)
    for _ in range(steps):
        if index.shape[1] == 0:
            break
        tk = gather(t, index)
        d = evaluate(field, rays.at(tk, index))
        t_out.scatter_(1, index, torch.where(valid, tk, gather(t_out, index)))
        dist.scatter_(1, index, torch.where(valid, d, gather(dist, index)))
        step = tk + relax * d
        keep = valid & (d.abs() >= stop(tk)) & (step <= t_far)
        keep &= keep.sum(dim=1, keepdim=True) > straggle * t.shape[1]
        t.scatter_(1, index, torch.where(keep, step, tk))
        if int(keep.sum()) < 0.8 * keep.numel():
            sub, valid = pack(keep)
            index = torch.gather(index, 1, sub)
        else:
            valid = keep
    escaped = t_out + relax * dist > t_far
    return t_out, torch.where(escaped, float("inf"), dist)


def refine(field: Field, rays: Rays, index: torch.Tensor, t: torch.Tensor, d: torch.Tensor,
           iterations: int = 2, probe: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Newton steps onto the surface for rays ``index`` [B,K] at depths ``t`` with distances ``d`` [B,K].

    The slope of the distance along a ray comes from a probe ``probe`` further
    on; where it is grazing (slope above -0.1) the step is a plain ``t + d``.
    Every step is checked and the depth with the smallest ``|distance|`` is kept,
    so the result is never further from the surface than the start (two field
    evaluations per iteration). Returns that depth and its distance, [B,K] each.
    """
    best_t, best_d = t, d
    for _ in range(iterations):
        slope = (evaluate(field, rays.at(t + probe, index)) - d) / probe
        t = t + torch.where(slope < -0.1, -d / slope.clamp(max=-0.1), d)
        d = evaluate(field, rays.at(t, index))
        better = d.abs() < best_d.abs()
        best_t, best_d = torch.where(better, t, best_t), torch.where(better, d, best_d)
        t, d = best_t, best_d
    return best_t, best_d


def coarse_start(field: Field, rays_at: Callable[[int], Rays], resolution: int, factor: int, t_near: float,
                 t_far: float, focal: float, steps: int) -> torch.Tensor:
    """Safe start depths [B, resolution^2] for full-resolution rays, from a cone-traced coarse image.

    ``rays_at(res)`` gives the rays of a ``res``-pixel image. A coarse ray stops
    once its cone (one coarse pixel wide, which holds its ``factor``^2 fine rays)
    may touch the surface, so each of those fine rays can start where it stopped.
    """
    coarse = resolution // factor
    rays = rays_at(coarse)
    spread = 1.0 / (coarse * focal)
    start = torch.full(rays.shape, t_near)
    t, _ = march(field, rays, start, t_far, steps, lambda tk: spread * tk, straggle=0.01)
    b = t.shape[0]
    fine = torch.nn.functional.interpolate(t.reshape(b, 1, coarse, coarse), scale_factor=factor, mode="nearest")
    return fine.reshape(b, -1)
