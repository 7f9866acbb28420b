"""Surface appearance at points on a head: albedo and specular response per material.

All colours are linear RGB. Points are :class:`~.primitives.V` triples of
``[B,M]`` tensors in world space (EG3D axes, see :mod:`.shape`); patterns that
are not mirror-symmetric are laid out in the head's own frame. Each point takes
the look of its nearest material (skin, eyes, hair, glasses); the skin carries
painted detail: lips, brows, lashes, blush, freckles, stubble.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import shape
from .params import HeadParams
from .primitives import V, col, ellipse2, smoothstep
from .shape import HeadShape
from .trace import limit_threads, split_points


@dataclass
class Surface:
    """Appearance at ``[B,M]`` points.

    ``albedo`` (V of ``[B,M]``, linear RGB); ``specular``, ``shininess`` ``[B,M]``
    (Blinn-Phong strength and exponent); ``wrap`` ``[B,M]`` (0 hard Lambert, ~0.5
    for skin's soft, reddened terminator); ``hair`` ``[B,M]`` (1 on hair, whose
    highlight runs across the strands) and ``tangent`` (V, the strand direction).
    """

    albedo: V
    specular: torch.Tensor
    shininess: torch.Tensor
    wrap: torch.Tensor
    hair: torch.Tensor
    tangent: V


def _mix(a: V, b: V, t: torch.Tensor) -> V:
    return a + (b - a) * t


def _noise(p: V, freq: float, phase: torch.Tensor) -> torch.Tensor:
    """Smooth pseudo-noise in about [-1.6, 1.6] with features ~1/``freq`` wide; ``phase`` [B,3] shifts it per head."""
    q = p * freq + V.col(phase)
    a = torch.sin(q.x + 1.7 * torch.sin(0.8 * q.y)) * torch.sin(q.y * 1.3 + 1.3 * torch.sin(0.7 * q.z))
    b = torch.sin(q.z * 1.1 + 1.5 * torch.sin(0.9 * q.x)) * torch.sin(0.6 * (q.x - q.z))
    return a + 0.6 * b


def _blob(p: V, centre: V, radius: float) -> torch.Tensor:
    """Gaussian falloff with the distance to ``centre``."""
    q = p - centre
    return torch.exp(-q.dot(q) * (1 / (radius * radius)))


def lip_mask(p: V, h: HeadShape) -> torch.Tensor:
    """1 on the red of the lips (a cupid's bow above, a fuller curve below), soft-edged, [B,M]."""
    q = shape.mouth_frame(p, h)
    w = h.mouth_width
    bow = 0.003 * torch.exp(-((q.x.abs() - 0.01) * 120) ** 2) - 0.002 * torch.exp(-(q.x * 250) ** 2)
    upper = ellipse2(q.x, q.y, 0.052 * w, 0.0165 * h.upper_lip + bow)
    lower = ellipse2(q.x, q.y, 0.047 * w, 0.0205 * h.lower_lip)
    inside = torch.where(q.y > 0, upper, lower)
    return smoothstep(0.0012, -0.0012, inside) * smoothstep(-0.035, -0.015, q.z)


def _detail(period: float, footprint: torch.Tensor) -> torch.Tensor:
    """Weight [B,M] of a pattern with world ``period``: 1 when pixels (``footprint`` wide) resolve it, else 0.

    Fading patterns finer than about two pixels keeps low-resolution renders from aliasing.
    """
    return smoothstep(1.5, 3.0, period / footprint)


def _brow_mask(pa: V, h: HeadShape, footprint: torch.Tensor) -> torch.Tensor:
    """1 on the eyebrows: an arch above each eye, thick inside, tapering to the tail, with hair texture."""
    pr = h.params
    u = (pa.x - h.eye.x) * 20 + 0.15
    arch = 0.036 + col(0.004 * pr.brow_height) + col(0.005 * pr.brow_arch) * (1 - u * u) - 0.003 * u
    half = (0.0095 - 0.0045 * u.clamp(-1, 1)) * col(pr.brow_thickness)
    v = pa.y - h.eye.y - arch
    band = smoothstep(half, half * 0.4, v.abs()) * smoothstep(1.2, 0.85, u.abs())
    strands = 0.92 + 0.08 * _detail(0.0025, footprint) * torch.sin(2500 * pa.x + 900 * v * (u - 0.5))
    return band * strands * smoothstep(0.12, 0.17, pa.z)


def _lash_mask(pa: V, h: HeadShape) -> torch.Tensor:
    """A dark line of lashes along the lid opening, heavier on the upper lid."""
    edge = shape.eye_opening(pa, h)
    upper = (pa.y > h.eye.y + h.tilt * (pa.x - h.eye.x)).float()
    width = 0.001 + 0.002 * upper
    return smoothstep(width, 0.0, edge) * smoothstep(-0.001, 0.0, edge) * (0.3 + 0.7 * upper)


def _skin(p: V, h: HeadShape, footprint: torch.Tensor) -> V:
    pr = h.params
    pa = shape.symmetric(p)
    own = shape.own_frame(p, h)
    base = V.col(pr.skin_color) * (1 + 0.04 * _noise(own, 40.0, pr.phase))
    flush = col(pr.blush) * (_blob(pa, V(0.075, 0.0, 0.19), 0.035) + 0.7 * _blob(p, h.nose_tip, 0.02)
                            + 0.6 * _blob(pa, h.ear_c, 0.04))
    base = base * (V(1.0, 1.0, 1.0) - V(0.0, 0.2, 0.18) * flush)
    base = base * (1 - 0.06 * _blob(pa, h.eye + V(0.0, -0.006, -0.01), 0.028))
    spots = (_noise(own, 450.0, pr.phase) - 0.9).clamp(min=0) * smoothstep(0.15, 0.21, p.z)
    freckles = spots * col(pr.freckles) * (_blob(pa, V(0.045, 0.0, 0.22), 0.05) + 0.5 * _blob(p, h.nose_tip, 0.04))
    base = base * (1 - 1.5 * freckles.clamp(max=0.6))
    lips = lip_mask(p, h)
    beard = shape.beard_region(pa, h) * (1 - lips) * col((1.2 * pr.beard).clamp(max=1))
    beard_color = V.col(pr.hair_color) * (0.7 + 0.06 * _noise(own, 400.0, pr.phase))
    base = _mix(base, beard_color, beard.clamp(0, 1))
    base = _mix(base, V.col(pr.lip_color), lips)
    base = _mix(base, V.col(pr.brow_color), _brow_mask(pa, h, footprint))
    return _mix(base, V(0.02, 0.015, 0.012), _lash_mask(pa, h))


def _eyes(p: V, h: HeadShape) -> V:
    """Sclera, iris (radial fibres, darker rim) and pupil around each eye's gaze direction."""
    pa = shape.symmetric(p)
    q = (pa - h.eyeball_c) / h.eyeball_r
    side = torch.sign(p.x) * h.hand
    gaze = V(h.gaze.x * side, h.gaze.y, h.gaze.z)
    angle = torch.acos((q.dot(gaze) * torch.rsqrt(q.dot(q).clamp(min=1e-12))).clamp(-1, 1))
    fibres = 0.75 + 0.25 * torch.sin(300 * (q.x * gaze.y - q.y * gaze.x) / (angle + 0.05))
    iris = V.col(h.params.iris_color) * fibres * (0.55 + 0.45 * smoothstep(0.18, 0.42, angle))
    iris = iris * (1 - 0.6 * smoothstep(0.4, 0.48, angle))
    sclera = V(0.72, 0.66, 0.62) * (1 - 0.3 * smoothstep(0.8, 1.5, angle))
    color = _mix(iris, sclera, smoothstep(0.48, 0.52, angle))
    return _mix(color, V(0.008, 0.008, 0.008), smoothstep(0.19, 0.16, angle))


def _strand_frame(p: V, h: HeadShape) -> tuple[V, torch.Tensor]:
    """Own-frame strand direction (V, unnormalised; hair falls from the crown) and the angle across strands."""
    q = shape.own_frame(p, h)
    crown = q - h.hair_c - V(0.0, 0.2, -0.06)
    zc = q.z - h.hair_c.z + 0.05
    across = q.x * torch.rsqrt(q.x * q.x + zc * zc + 1e-6)
    return V(crown.x * h.hand, crown.y, crown.z), across


def _hair(p: V, h: HeadShape, across: torch.Tensor, footprint: torch.Tensor) -> tuple[V, torch.Tensor]:
    """Hair albedo (strands, clumps, the scalp along the parting) and a streak pattern [B,M] for its highlight."""
    pr = h.params
    q = shape.own_frame(p, h)
    wobble = _noise(q, 25.0, pr.phase)
    fine = torch.sin(1700 * across + 5 * wobble) * _detail(0.0008, footprint)
    medium = torch.sin(500 * across + 3 * wobble) * _detail(0.0025, footprint)
    clumps = _noise(q, 60.0, pr.phase + 7.0)
    color = V.col(pr.hair_color) * (0.85 + 0.09 * (medium + fine) + 0.12 * clumps)
    scalp = 0.4 * shape.parting(q, h) * smoothstep(0.006, 0.02, h.hair_t)
    coarse = torch.sin(230 * across + 2 * wobble) * _detail(0.005, footprint)
    streaks = (0.5 + 0.5 * fine) ** 2 * (0.6 + 0.4 * coarse)
    return _mix(color, V.col(pr.skin_color) * 0.8, scalp), streaks


def surface(p: V, h: HeadShape, footprint: torch.Tensor | float = 0.0) -> Surface:
    """Appearance at surface points ``p`` (V of ``[B,M]``): each takes its nearest material's look.

    ``footprint`` (world units, [B,M] or a float) is a pixel's width at the
    points; texture finer than about two pixels fades out (0: keep all detail).
    """
    footprint = torch.as_tensor(footprint).clamp(min=1e-6)
    parts = shape.components(p, h)
    which = torch.stack([parts[name] for name in shape.MATERIALS]).argmin(0)
    tangent, across = _strand_frame(p, h)
    hair_color, streaks = _hair(p, h, across, footprint)
    looks = {"skin": (_skin(p, h, footprint), 0.16, 22.0, 0.45), "eyes": (_eyes(p, h), 1.5, 600.0, 0.0),
             "hair": (hair_color, 0.12 * streaks, 300.0, 0.4),
             "glasses": (V.col(h.params.glasses_color), 0.8, 90.0, 0.0)}
    zero = torch.zeros_like(p.x)
    albedo, specular, shininess, wrap = V(zero, zero, zero), zero, zero, zero
    for index, name in enumerate(shape.MATERIALS):
        color, spec, shine, soft = looks[name]
        pick = which == index
        albedo = V(*(torch.where(pick, c, a) for c, a in ((color.x, albedo.x), (color.y, albedo.y),
                                                          (color.z, albedo.z))))
        specular = torch.where(pick, spec, specular)
        shininess = torch.where(pick, shine, shininess)
        wrap = torch.where(pick, soft, wrap)
    lips = lip_mask(p, h) * (which == 0)
    hair = (which == shape.MATERIALS.index("hair")).float()
    return Surface(albedo, specular + 0.3 * lips, shininess + 20 * lips, wrap, hair, tangent)


def albedo(points: torch.Tensor, params: HeadParams, threads: int | None = 1) -> torch.Tensor:
    """Linear albedo [B,M,3] at surface points [B,M,3] of the heads ``params`` (on ``threads`` threads)."""
    head = HeadShape(params)
    with limit_threads(threads):
        return surface(split_points(points), head).albedo.stack()
