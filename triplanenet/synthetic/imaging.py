"""Render synthetic heads at EG3D cameras: image, depth, mask.

Rays come from :func:`triplanenet.rendering.rays.ray_bundle`, the rays EG3D
renders with, and are traced between EG3D's FFHQ depths ``RAY_START`` and
``RAY_END``: a cone-traced quarter-resolution pass gives safe start depths, the
full-resolution sphere tracing packs still-active rays, and hits end with Newton
steps onto the surface. Outputs follow EG3D: ``image`` [B,3,H,W] in [-1, 1],
``depth`` [B,1,H,W] the distance along the (unit) ray to the surface (``RAY_END``
where the ray misses), ``mask`` [B,1,H,W] in {0, 1}, plus the ``camera`` labels
[B,25]. With supersampling all three are averages over each pixel's rays (the
mask becomes coverage).

Shading (linear light, then a filmic shoulder and gamma 2.2): a key light with
soft shadows, Lambert with a reddened wrap for skin, Blinn-Phong highlights (a
highlight across the strands on hair), a two-colour ambient dome (from the
background colours) with ambient occlusion, and a rim light from behind.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import cameras as cams
from ..rendering.rays import ray_bundle
from .materials import Surface, surface
from .params import HeadParams
from .primitives import V, col, smoothstep
from .shape import HeadShape, distance, rough_distance
from .trace import Field, Rays, coarse_start, evaluate, gather, limit_threads, march, pack, refine

RAY_START, RAY_END = 2.25, 3.3
HIT = 5e-4  # a ray stops at this distance (world units), or at a quarter of its pixel's footprint if larger
MISS = 2e-3  # rays that run out of steps count as hits below this distance, or half a pixel's footprint
STEPS = 40  # most sphere-tracing steps per pass


def normals(field: Field, p: V, d: torch.Tensor, hand: torch.Tensor, eps: float = 5e-4) -> V:
    """Unit outward normals (V of [B,K]) at points ``p`` with distances ``d`` [B,K], by forward differences.

    The x offset follows each head's handedness ``hand`` [B,1], so mirrored heads
    shade exactly mirrored. One batched call of three evaluations per point.
    """
    k = p.x.shape[1]
    shifted = [p + V(eps * hand, 0.0, 0.0), p + V(0.0, eps, 0.0), p + V(0.0, 0.0, eps)]
    dx, dy, dz = evaluate(field, V(*(torch.cat([getattr(q, a) for q in shifted], 1) for a in "xyz"))).split(k, 1)
    n = V((dx - d) * hand, dy - d, dz - d)
    return n * torch.rsqrt(n.dot(n).clamp(min=1e-20))


def occlusion(field: Field, p: V, n: V) -> torch.Tensor:
    """Ambient occlusion [B,K] in [0,1] (1 open) from distances sampled along the normals ``n``."""
    heights = (0.012, 0.03, 0.06, 0.1)
    weights = (0.5, 0.3, 0.15, 0.08)
    k = p.x.shape[1]
    samples = [p + n * h for h in heights]
    d = evaluate(field, V(*(torch.cat([getattr(s, a) for s in samples], 1) for a in "xyz"))).split(k, dim=1)
    blocked = sum(w / h * (h - di).clamp(min=0) for h, w, di in zip(heights, weights, d))
    return (1 - 0.6 * blocked).clamp(0, 1)


def soft_shadow(field: Field, p: V, light: V, steps: int = 12, k: float = 10.0) -> torch.Tensor:
    """Soft shadow factor [B,K] in [0,1] (1 lit) toward the unit light directions ``light`` (V of [B,1]).

    Rays stop once they leave the head (0.35 away) or are fully shadowed.
    """
    t = torch.full_like(p.x, 0.008)
    lit = torch.ones_like(t)
    index, valid = pack(torch.ones_like(t, dtype=torch.bool))
    for _ in range(steps):
        if index.shape[1] == 0:
            break
        tk = gather(t, index)
        q = V(*(gather(c, index) for c in (p.x, p.y, p.z))) + light * tk
        d = evaluate(field, q)
        lk = torch.minimum(gather(lit, index), k * d / tk)
        tk = tk + d.clamp(0.006, 0.06)
        lit.scatter_(1, index, torch.where(valid, lk, gather(lit, index)))
        t.scatter_(1, index, torch.where(valid, tk, gather(t, index)))
        keep = valid & (tk < 0.35) & (lk > 0.0)
        sub, valid = pack(keep)
        index = torch.gather(index, 1, sub)
    return smoothstep(0.0, 1.0, lit.clamp(0, 1))


def background(directions: V, params: HeadParams) -> V:
    """Linear background colour (V of [B,R]) seen along unit world ``directions``: an environment at infinity."""
    d = directions
    tilt = params.bg_tilt[:, None]
    across = d.y * torch.cos(tilt) + d.x * torch.sin(tilt)
    top, bottom, spot = (V.col(c) for c in (params.bg_top, params.bg_bottom, params.bg_spot))
    color = bottom + (top - bottom) * smoothstep(-0.25, 0.15, across)
    spot_dir = V.col(params.bg_spot_dir)
    dx, dy = d.x - spot_dir.x, d.y - spot_dir.y
    glow = torch.exp(-(dx * dx + dy * dy) / 0.012)
    return color + (spot - color) * glow


def _specular(s: Surface, n: V, view: V, key: V, ndl: torch.Tensor) -> torch.Tensor:
    """Specular term [B,K]: Blinn-Phong with Schlick Fresnel, or a highlight across the strands on hair."""
    half = key + view
    half = half * torch.rsqrt(half.dot(half).clamp(min=1e-12))
    ndh = n.dot(half).clamp(min=0)
    fresnel = 0.04 + 0.96 * (1 - view.dot(half).clamp(0, 1)) ** 5
    blinn = (s.shininess + 8) * 0.16 * ndh ** s.shininess * fresnel
    t = s.tangent - n * s.tangent.dot(n)
    th = t.dot(half) * torch.rsqrt(t.dot(t).clamp(min=1e-12))
    strands = (1 - th * th).clamp(min=0) ** (0.5 * s.shininess) * 0.5
    return s.specular * torch.where(s.hair > 0, strands, blinn) * (ndl > 0)


def shade(s: Surface, n: V, view: V, ao: torch.Tensor, lit: torch.Tensor, params: HeadParams) -> V:
    """Linear radiance (V of [B,K]) of surface ``s`` with normals ``n``, unit ``view`` directions (toward the
    eye), occlusion ``ao`` and shadow ``lit`` [B,K]."""
    key = V.col(params.key_dir)
    ndl = n.dot(key)
    lambert = ndl.clamp(min=0)
    soft = ((ndl + s.wrap) / (1 + s.wrap)).clamp(min=0)
    diffuse = V(1.0, 0.45, 0.35) * (soft - lambert) + lambert
    sky = V.col(params.bg_top) * 0.5 + 0.5
    ground = V.col(params.bg_bottom) * 0.5 + 0.15
    ambient = (ground + (sky - ground) * (0.5 + 0.5 * n.y)) * (col(params.ambient) * ao)
    direct = V.col(params.key_color) * lit
    back = V(-key.x, 0.5, -0.8)
    rim = sky * (col(params.rim) * (1 - n.dot(view).clamp(0, 1)) ** 2 * n.dot(back).clamp(min=0) * ao)
    return (s.albedo + 0.03) * rim + s.albedo * (direct * diffuse + ambient) + direct * _specular(s, n, view, key, ndl)


def to_display(linear: V, exposure: torch.Tensor) -> torch.Tensor:
    """Linear radiance (V of [B,R]) -> display values [B,R,3] in [0, 1]: exposure, filmic shoulder, gamma 2.2."""
    x = linear.stack() * exposure[:, None, None]
    return (1 - torch.exp(-x)) ** (1 / 2.2)


def trace(shape: HeadShape, cam2world: torch.Tensor, intrinsics: torch.Tensor,
          resolution: int) -> tuple[Rays, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rays (:class:`Rays`, ``[B,R]``) of a ``resolution``^2 image: depth, distance there and hit, [B,R] each.

    Hits end with a Newton step (see :func:`.trace.refine`), which puts them on
    the surface to a small fraction of a millimetre (at life size) except at
    grazing angles, where they are within half a pixel of it.
    """
    field = _field(shape)
    rays = Rays(*ray_bundle(cam2world, intrinsics, resolution))
    focal = float(intrinsics[:, 0, 0].min())
    factor = 4 if resolution % 4 == 0 and resolution >= 32 else 1
    start = torch.full(rays.shape, RAY_START)
    if factor > 1:
        start = coarse_start(field, lambda r: Rays(*ray_bundle(cam2world, intrinsics, r)), resolution, factor,
                             RAY_START, RAY_END, focal, STEPS)
    footprint = 1.0 / (resolution * focal)
    t, dist = march(field, rays, start, RAY_END, STEPS, lambda tk: (0.25 * footprint * tk).clamp(min=HIT),
                    straggle=0.002)
    hit = dist.abs() < torch.clamp(0.5 * footprint * t, min=MISS)
    index, valid = pack(hit)
    if index.shape[1]:
        t_hit, d_hit = refine(field, rays, index, gather(t, index), gather(dist, index))
        t.scatter_(1, index, torch.where(valid, t_hit, gather(t, index)))
        dist.scatter_(1, index, torch.where(valid, d_hit, gather(dist, index)))
    return rays, t, dist, hit


def render(params: HeadParams, camera: torch.Tensor, resolution: int = 128, supersample: int = 1,
           shadows: bool = True, threads: int | None = 1) -> dict[str, torch.Tensor]:
    """Render heads ``params`` (batch B) from EG3D cameras ``camera`` [B,25] (see module doc for the outputs).

    ``supersample`` traces ``supersample``^2 rays per pixel and averages them;
    ``shadows`` toggles the key light's soft shadows. Rendering is thousands of
    small kernels, for which intra-op threads mostly add synchronisation (badly
    so on a busy machine), so it runs on ``threads`` threads (``None``: torch's
    setting); parallelise over heads instead, e.g. with ``DataLoader`` workers.
    """
    with limit_threads(threads):
        return _render(params, camera, resolution, supersample, shadows)


def _render(params: HeadParams, camera: torch.Tensor, resolution: int, supersample: int,
            shadows: bool) -> dict[str, torch.Tensor]:
    cam2world, intrinsics = cams.split(camera)
    size = resolution * supersample
    shape = HeadShape(params)
    rays, t, dist, hit = trace(shape, cam2world, intrinsics, size)
    color = background(rays.directions, params).stack()
    index, valid = pack(hit)
    if index.shape[1]:
        footprint = gather(t, index) / (size * intrinsics[:, 0, 0, None])
        radiance = _shade_points(shape, rays, index, gather(t, index), gather(dist, index), footprint,
                                 shadows).stack()
        color.scatter_(1, index[..., None].expand(-1, -1, 3), torch.where(valid[..., None], radiance,
                                                                            gather(color, index)))
    image = to_display(V(*color.unbind(-1)), params.exposure) * 2 - 1
    depth = torch.where(hit, t, torch.full_like(t, RAY_END))
    out = {"image": image, "depth": depth[..., None], "mask": hit.float()[..., None]}
    out = {k: _to_image(v, size, supersample) for k, v in out.items()}
    out["camera"] = camera
    return out


def _shade_points(shape: HeadShape, rays: Rays, index: torch.Tensor, t: torch.Tensor, d: torch.Tensor,
                  footprint: torch.Tensor, shadows: bool) -> V:
    """Radiance (V of [B,K]) at the hits ``t`` [B,K] (distance ``d`` there, pixels ``footprint`` wide) of the
    rays ``index`` [B,K]."""
    params = shape.params
    p = rays.at(t, index)
    view = -rays.directions_at(index)
    n = normals(_field(shape), p, d, shape.hand)
    rough = _rough_field(shape)
    ao = occlusion(rough, p, n)
    lit = soft_shadow(rough, p + n * 0.003, V.col(params.key_dir)) if shadows else torch.ones_like(ao)
    return shade(surface(p, shape, footprint), n, view, ao, lit, params)


def _field(shape: HeadShape) -> Field:
    return lambda p: distance(p, shape)


def _rough_field(shape: HeadShape) -> Field:
    return lambda p: rough_distance(p, shape)


def _to_image(values: torch.Tensor, size: int, supersample: int) -> torch.Tensor:
    """Per-ray values [B,R,C] -> [B,C,H,W], averaged over ``supersample``^2 blocks."""
    b, _, c = values.shape
    grid = values.permute(0, 2, 1).reshape(b, c, size, size)
    return F.avg_pool2d(grid, supersample) if supersample > 1 else grid
