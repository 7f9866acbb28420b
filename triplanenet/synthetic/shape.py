"""The head as a signed distance field, batched over heads.

World units and axes are EG3D's (+y up, the face looks toward +z). The template
is placed like an aligned FFHQ head: eye centres near ``(+-0.079, 0.067, 0.205)``,
nose tip near ``(0, -0.012, 0.29)``, mouth corners near ``(+-0.062, -0.095, 0.2)``,
so a frontal camera (radius 2.7, focal 4.2647) sees them where the FFHQ crop puts
them; the head lies inside ``[-0.5, 0.5]^3`` except the neck, which continues down.

A head is the union of four materials, each a distance ``[B,M]``: ``skin`` (skull,
face, nose, lips, lids, ears, neck), ``eyes`` (the eyeballs), ``hair`` and
``glasses``; :func:`distance` is their minimum and :func:`rough_distance` a cheaper
version without small features (for shadows and occlusion). Paired features are
modelled once on ``|x|``; asymmetric detail uses the head's own frame
``(x * handedness, y, z)``. Points are :class:`~.primitives.V` of ``[B,M]``
coordinates; :func:`sdf` takes ``[B,M,3]`` tensors.

Longer than most modules because a head has many parts, and each part's distance field is short.
"""
from __future__ import annotations

import torch

from .params import HeadParams
from .trace import evaluate, limit_threads, split_points
from .primitives import V, capsule, col, ellipse2, ellipsoid, round_rect2, smax, smin, smoothstep, sphere

BIG = 10.0  # added to the distance of a feature that a head does not have


class HeadShape:
    """Per-head geometry derived once from :class:`HeadParams`.

    Attributes are ``[B,1]`` columns, or :class:`V` of them, in world units: the
    anchor points and sizes of the template's parts. ``eye``, ``nose_tip`` (the
    tip sphere's centre) and ``mouth_corner`` are on the +x side.
    """

    def __init__(self, params: HeadParams):
        self.params = params
        self.hand = col(params.handedness)
        for build in (self._skull, self._ears, self._eyes, self._nose, self._mouth, self._hair, self._glasses):
            build(params)

    def _skull(self, p: HeadParams) -> None:
        self.cranium_c = V(0.0, col(0.12 + 0.01 * p.forehead_slope), col(-0.03 - 0.012 * p.forehead_slope))
        self.cranium_r = V(col(0.178 * p.head_width), col(0.226 * p.head_height), col(0.245 * p.head_depth))
        self.face_r = V(col(0.15 * p.face_width), 0.16, 0.19)
        self.jaw_r = V(col(0.122 * p.jaw_width), col(0.125 * p.chin_length), 0.16)
        self.ridge_r = V(0.12, 0.03, col(0.063 + 0.006 * (p.brow_ridge - 1)))
        self.cheek_c = V(col(0.072 * p.face_width), -0.02, 0.122)
        self.cheek_r = col(0.068 * p.cheek_fullness)
        self.bone_c = V(col(0.105 * p.face_width), 0.03, 0.118)
        self.bone_r = V(col(0.045 * p.cheekbones), 0.025, 0.05)
        self.chin_c = V(0.0, col(-0.185 * p.chin_length), col(0.17 + 0.012 * p.chin_forward))
        self.chin_r = V(col(0.04 * p.chin_width), 0.032, 0.045)
        self.neck_r = (col(0.112 * p.neck_width), col(0.112 * p.neck_width))
        self.beard_t = col(0.008 * (2 * p.beard - 1).clamp(0, 1))
        self.full_beard = bool((p.beard > 0.5).any())

    def _ears(self, p: HeadParams) -> None:
        self.ear_c = V(col(0.176 * p.head_width + 0.006), col(0.012 + 0.01 * p.ear_height), -0.012)
        self.ear_r = V(0.012, col(0.055 * p.ear_size), col(0.031 * p.ear_size))
        self.bowl_r = V(0.007, 0.45 * self.ear_r.y, 0.45 * self.ear_r.z)
        angle = 0.35 * col(p.ear_out)
        self.ear_cos, self.ear_sin = torch.cos(angle), torch.sin(angle)

    def _eyes(self, p: HeadParams) -> None:
        size = col(p.eye_size)
        self.eye = V(col(0.079 * p.eye_spacing), 0.067, 0.205)
        self.eyeball_r = V(0.031 * size, 0.028 * size, 0.028 * size)
        self.eyeball_c = V(self.eye.x, 0.067, 0.205 - 0.028 * size)
        self.lid_r = self.eyeball_r + 0.0025
        self.opening = (0.031 * size, col(0.011 * p.eye_open) * size, col(0.0078 * p.eye_open) * size)
        self.tilt = col(p.eye_tilt)
        gaze = torch.nn.functional.normalize(p.gaze + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
        self.gaze = V.col(gaze)
        self.socket_depth = col(0.006 * (p.eye_depth - 1))

    def _nose(self, p: HeadParams) -> None:
        self.nose_root = V(0.0, 0.07, 0.212)
        tip = V(0.0, col(0.07 - 0.082 * p.nose_length), col(0.206 + 0.068 * p.nose_forward))
        self.nose_tip = tip
        self.nose_tip_r = col(0.013 * p.nose_tip)
        self.bridge_end = tip + V(0.0, 0.012, -0.01)
        self.bridge_r = (col(0.0105 * p.nose_bridge), col(0.0145 * p.nose_bridge))
        self.hump_c = (self.nose_root + self.bridge_end) * 0.5 + V(0.0, 0.0, col(0.004 * p.nose_hump - 0.004))
        self.columella = tip + V(0.0, -0.022, -0.018)
        w = col(p.nose_width)
        self.ala_c = tip + V(0.02 * w, -0.011, -0.024)
        self.ala_r = V(0.009 * w, 0.0085, 0.015)
        self.nostril_c = tip + V(0.011 * w, -0.025, -0.02)
        self.nostril_r = V(0.006 * w, 0.0022, 0.008)

    def _mouth(self, p: HeadParams) -> None:
        self.mouth = V(0.0, -0.095, col(0.238 + 0.008 * p.lip_forward))
        w, up, low = col(p.mouth_width), col(p.upper_lip), col(p.lower_lip)
        self.mouth_width = w
        self.bend = 2.2 * col(p.smile) - 0.3
        self.upper_c, self.upper_r = V(0.0, 0.0085 * up, -0.011), V(0.05 * w, 0.0095 * up, 0.017)
        self.lower_c, self.lower_r = V(0.0, -0.0105 * low, -0.013), V(0.044 * w, 0.011 * low, 0.017)
        self.upper_lip, self.lower_lip = up, low
        self.slit_r = V(0.055 * w, 0.0012, 0.03)
        self.mouth_corner = V(0.062 * w, col(-0.095 + 0.005 * p.smile), col(0.202 + 0.008 * p.lip_forward))

    def _hair(self, p: HeadParams) -> None:
        t = col(0.004 + 0.04 * p.hair_volume)
        self.hair_t = t
        self.hair_c = self.cranium_c + V(0.0, 0.25 * t, -0.3 * t)
        self.hair_bottom = col(0.06 - 0.5 * p.hair_length)
        self.hairline = col(0.215 + 0.02 * p.hairline - 0.085 * p.fringe)
        self.fringe = col(0.03 * p.fringe)
        self.recession = col(0.06 * p.recession)
        self.bun_c = self.hair_c + V(0.0, 0.15, -0.17)
        self.bun_r = col(0.06 * p.bun - 0.5 * (1 - p.bun))
        self.curl = col(0.004 * p.curl)
        self.part_x = col(0.045 * p.part)
        self.part_depth = 0.15 * t
        self.no_hair = col(BIG * (1 - p.hair))

    def _glasses(self, p: HeadParams) -> None:
        size = col(p.glasses_size)
        self.lens_c = self.eye + V(0.002, -0.002, 0.036)
        self.lens_half = (0.033 * size, 0.022 * size, (0.006 + 0.016 * col(p.glasses_round)) * size)
        self.bridge_a = self.lens_c + V(-0.036 * size, 0.006, -0.002)
        self.bridge_b = V(0.0, self.bridge_a.y + 0.003, self.bridge_a.z + 0.002)
        self.hinge = self.lens_c + V(0.035 * size, 0.008, -0.006)
        self.temple_end = V(self.cranium_r.x + 0.014, self.hinge.y + 0.035, -0.02)
        self.no_glasses = col(BIG * (1 - p.glasses))


def symmetric(p: V) -> V:
    """``(|x|, y, z)``: paired features are modelled on the +x side."""
    return V(p.x.abs(), p.y, p.z)


def own_frame(p: V, h: HeadShape) -> V:
    """``(handedness * x, y, z)``: the frame of a head's asymmetric detail."""
    return V(p.x * h.hand, p.y, p.z)


def _masses(p: V, pa: V, h: HeadShape) -> torch.Tensor:
    """Skull, face, jaw, cheeks and chin: the big smooth masses."""
    d = ellipsoid(p - h.cranium_c, h.cranium_r)
    d = smin(d, ellipsoid(p - V(0.0, 0.0, 0.03), h.face_r), 0.05)
    d = smin(d, ellipsoid(p - V(0.0, -0.09, 0.05), h.jaw_r), 0.04)
    d = smin(d, ellipsoid(p - V(0.0, 0.1, 0.168), h.ridge_r), 0.04)
    d = smin(d, sphere(pa - h.cheek_c, h.cheek_r), 0.04)
    d = smin(d, ellipsoid(pa - h.bone_c, h.bone_r), 0.03)
    d = smin(d, ellipsoid(p - V(0.0, -0.085, 0.148), V(0.068, 0.074, 0.092)), 0.03)
    return smin(d, ellipsoid(p - h.chin_c, h.chin_r), 0.05)


def _neck(p: V, h: HeadShape) -> torch.Tensor:
    """A neck leaning slightly forward, widening toward the shoulders; it ends just under the skull."""
    below = (-0.26 - p.y).clamp(min=0)
    z = p.z + 0.045 + 0.1 * (p.y + 0.1).clamp(max=0)
    return torch.maximum(ellipse2(p.x, z, h.neck_r[0] + 0.8 * below * below / (below + 0.05),
                                  h.neck_r[1]), p.y + 0.06)


def _ear_frame(pa: V, h: HeadShape) -> V:
    q = pa - h.ear_c
    x = q.x * h.ear_cos + q.z * h.ear_sin - 0.008
    z = q.z * h.ear_cos - q.x * h.ear_sin + 0.008
    return V(x, q.y - 0.12 * z, z)


def _ears(pa: V, h: HeadShape) -> torch.Tensor:
    local = _ear_frame(pa, h)
    ear = ellipsoid(local, h.ear_r)
    return smax(ear, -ellipsoid(local - V(0.016, -0.01, 0.006), h.bowl_r), 0.004)


def _nose(p: V, pa: V, h: HeadShape) -> torch.Tensor:
    d = capsule(p, h.nose_root, h.bridge_end, *h.bridge_r)
    d = smin(d, sphere(p - h.hump_c, 0.01), 0.012)
    d = smin(d, sphere(p - h.nose_tip, h.nose_tip_r), 0.014)
    d = smin(d, ellipsoid(pa - h.ala_c, h.ala_r), 0.02)
    d = smin(d, capsule(p, h.nose_tip, h.columella, 0.006), 0.01)
    return smax(d, -ellipsoid(pa - h.nostril_c, h.nostril_r), 0.003)


def mouth_frame(p: V, h: HeadShape) -> V:
    """Mouth coordinates: origin at the lips' centre, bent along the dental arch, corners up when smiling."""
    q = p - h.mouth
    xx = q.x * q.x
    return V(q.x, q.y - h.bend * xx, q.z + 5.5 * xx)


def _lips(q: V, h: HeadShape) -> torch.Tensor:
    return smin(ellipsoid(q - h.upper_c, h.upper_r), ellipsoid(q - h.lower_c, h.lower_r), 0.004)


def eye_opening(pa: V, h: HeadShape) -> torch.Tensor:
    """2D distance (in the face plane) to the almond-shaped lid opening, negative inside."""
    u = pa.x - h.eye.x
    v = pa.y - h.eye.y - h.tilt * u
    half_w, up, down = h.opening
    return ellipse2(u, v + 0.1 * u * u / half_w, half_w, torch.where(v > 0, up, down))


def _eye_region(d: torch.Tensor, pa: V, h: HeadShape) -> torch.Tensor:
    """A soft socket, a mound of lid over the eyeball, then the lid opening cut in front of the eyeball."""
    d = smax(d, -ellipsoid(pa - h.eyeball_c - V(0.0, 0.005, h.socket_depth), h.lid_r * V(1.2, 1.1, 1.1)), 0.02)
    d = smin(d, ellipsoid(pa - h.eyeball_c, h.lid_r), 0.012)
    opening = torch.maximum(eye_opening(pa, h), h.eyeball_c.z - pa.z)
    return smax(d, -opening, 0.0015)


def skin(p: V, h: HeadShape) -> torch.Tensor:
    """Distance [B,M] to the skin (everything but eyes, hair and glasses)."""
    pa = symmetric(p)
    d = _masses(p, pa, h)
    d = _eye_region(d, pa, h)
    d = smin(d, _nose(p, pa, h), 0.02)
    q = mouth_frame(p, h)
    d = smin(d, _lips(q, h), 0.01)
    d = smax(d, -ellipsoid(q - V(0.0, 0.0, -0.004), h.slit_r), 0.002)
    d = smin(d, _ears(pa, h), 0.008)
    d = smin(d, _neck(p, h), 0.03)
    return d - h.beard_t * beard_region(pa, h) if h.full_beard else d


def beard_region(pa: V, h: HeadShape) -> torch.Tensor:
    """Where a beard grows, in [0, 1] (paired frame ``pa``): chin, jaw, lower cheeks and upper lip, not the lips."""
    below_nose = smoothstep(h.nose_tip.y - 0.026, h.nose_tip.y - 0.045, pa.y) * smoothstep(0.066, 0.04, pa.x)
    side = (pa.x - 0.055).clamp(min=0)
    cheeks = smoothstep(0.008, -0.008, pa.y + 0.075 - 8.5 * side * side)
    front = smoothstep(-0.03, 0.03, pa.z) * smoothstep(-0.3, -0.2, pa.y)
    mx, my = pa.x / (0.064 * h.mouth_width), (pa.y - h.mouth.y) / 0.024
    lips = smoothstep(1.0, 0.8, mx * mx + my * my)
    return (below_nose + cheeks).clamp(max=1) * front * (1 - lips)


def eyes(p: V, h: HeadShape) -> torch.Tensor:
    """Distance [B,M] to the two eyeballs."""
    return ellipsoid(symmetric(p) - h.eyeball_c, h.eyeball_r)


def face_opening(p: V, h: HeadShape) -> torch.Tensor:
    """Distance to the region in front of the face the hair leaves free: a U below the hairline (own frame)."""
    width = 0.158 + 0.006 * torch.sin(45 * p.y + col(h.params.phase[:, 1]))
    depth = 0.35
    xn = p.x / width
    top = h.hairline + h.recession * xn * xn
    return smax(ellipse2(p.x, p.y - top + depth, width, depth), -p.z - 0.02, 0.03)


def _hair_shell(p: V, h: HeadShape) -> torch.Tensor:
    """The hair volume in the own frame ``p``: an offset of the skull (hanging down when long), cut around the face.

    The offset tapers to nothing at the lower edge and along the hairline (except
    under a fringe), so short hair and hairlines have no ledge.
    """
    q = p - h.hair_c
    d = ellipsoid(q, h.cranium_r)
    drop = (-q.y).clamp(min=0)
    hang = ellipse2(q.x, q.z + 0.02, h.cranium_r.x + 0.1 * drop, h.cranium_r.z - 0.02 + 0.05 * drop)
    d = smin(d, torch.maximum(hang, q.y), 0.04)
    ends = h.hair_bottom + 0.012 * torch.sin(70 * p.x + col(h.params.phase[:, 0]))
    bottom = torch.minimum(0.06 + 0.4 * p.z.clamp(max=0.0), ends)
    opening = face_opening(p, h)
    taper = smoothstep(bottom, bottom + 0.1, p.y) * smoothstep(-0.01, 0.06 - 2 * h.fringe, opening)
    d = d - h.hair_t * (0.15 + 0.85 * taper)
    d = smax(d, bottom - p.y, 0.01)
    d = smax(d, -opening, 0.006)
    return smin(d, sphere(p - h.bun_c, h.bun_r), 0.02)


def hair(p: V, h: HeadShape) -> torch.Tensor:
    """Distance [B,M] to the hair, with locks and curls as a small displacement."""
    q = own_frame(p, h)
    return _hair_shell(q, h) + _hair_relief(q, h) + h.no_hair


def _hair_relief(p: V, h: HeadShape) -> torch.Tensor:
    """Displacement in the own frame: locks running down the head and curls (outward), and the parting (inward)."""
    ph = h.params.phase
    zc = p.z - h.hair_c.z + 0.05
    across = p.x / torch.sqrt(p.x * p.x + zc * zc + 1e-6)
    locks = torch.sin(30 * across + 3 * torch.sin(9 * p.y + col(ph[:, 0])))
    clumps = torch.sin(13 * across + 2 * torch.sin(6 * p.y + col(ph[:, 2])) + col(ph[:, 1]))
    curls = torch.sin(45 * p.x + col(ph[:, 1])) * torch.sin(45 * p.y) * torch.sin(45 * p.z + col(ph[:, 2]))
    lift = 0.00075 * (1 + locks) + 0.06 * h.hair_t * (1 + clumps) + h.curl * (1 + curls)
    return parting(p, h) * h.part_depth - lift


def parting(p: V, h: HeadShape) -> torch.Tensor:
    """1 along the hair's parting (own frame ``p``): a line over the top of the head, from the front to the crown."""
    along = smoothstep(-0.08, 0.0, p.z) * smoothstep(h.hair_c.y + 0.1, h.hair_c.y + 0.17, p.y)
    return along * smoothstep(0.01, 0.0, (p.x - h.part_x).abs())


def glasses(p: V, h: HeadShape) -> torch.Tensor:
    """Distance [B,M] to the glasses frame: two rims, a bridge and the temples."""
    pa = symmetric(p)
    q = pa - h.lens_c
    w = q.z + 2.0 * q.x * q.x
    outline = round_rect2(q.x, q.y, *h.lens_half)
    rim = torch.sqrt(outline * outline + w * w) - 0.0022
    bridge = capsule(pa, h.bridge_a, h.bridge_b, 0.002)
    temple = capsule(pa, h.hinge, h.temple_end, 0.0022)
    return torch.minimum(torch.minimum(rim, bridge), temple) + h.no_glasses


MATERIALS = ("skin", "eyes", "hair", "glasses")


def components(p: V, h: HeadShape) -> dict[str, torch.Tensor]:
    """Distances [B,M] of points ``p`` to each material in :data:`MATERIALS`."""
    return {"skin": skin(p, h), "eyes": eyes(p, h), "hair": hair(p, h), "glasses": glasses(p, h)}


def distance(p: V, h: HeadShape) -> torch.Tensor:
    """Signed distance [B,M] of points ``p`` to the whole head."""
    parts = components(p, h)
    return torch.minimum(torch.minimum(parts["skin"], parts["eyes"]), torch.minimum(parts["hair"], parts["glasses"]))


def rough_distance(p: V, h: HeadShape) -> torch.Tensor:
    """A cheaper distance [B,M] without the small features (lids, lips, nostrils, ear bowls, glasses, hair relief).

    Good for soft shadows and ambient occlusion, not for finding the surface.
    """
    pa = symmetric(p)
    d = smin(_masses(p, pa, h), sphere(p - h.nose_tip, h.nose_tip_r), 0.03)
    d = smin(d, capsule(p, h.nose_root, h.bridge_end, *h.bridge_r), 0.014)
    d = smin(d, ellipsoid(_ear_frame(pa, h), h.ear_r), 0.008)
    d = smin(d, _neck(p, h), 0.03)
    return torch.minimum(d, _hair_shell(own_frame(p, h), h) + h.no_hair)


def sdf(points: torch.Tensor, params: HeadParams, threads: int | None = 1) -> torch.Tensor:
    """Signed distance [B,M] of world points [B,M,3] to the heads ``params`` (batch B); negative inside.

    Evaluated in chunks on ``threads`` threads (see :func:`.trace.limit_threads`).
    """
    shape = HeadShape(params)
    with limit_threads(threads):
        return evaluate(lambda p: distance(p, shape), split_points(points))


def landmarks(params: HeadParams) -> torch.Tensor:
    """World landmarks [B,5,3]: eye centres (-x, +x), nose tip, mouth corners (-x, +x).

    The order is image left to right for a frontal camera (image x is world x).
    The eye centre is the front of the eyeball, the nose tip the front of its tip.
    """
    h = HeadShape(params)
    tip = h.nose_tip + V(0.0, 0.0, h.nose_tip_r)
    flip = V(-1.0, 1.0, 1.0)
    ones = torch.ones(params.batch, 1)
    rows = [h.eye * flip, h.eye, tip, h.mouth_corner * flip, h.mouth_corner]
    return torch.stack([torch.cat([ones * v.x, ones * v.y, ones * v.z], dim=1) for v in rows], dim=1)
