"""Head parameters: a named, batched layout, seeded sampling and mirroring.

A head is a flat float vector of :data:`SIZE` numbers; :class:`HeadParams`
names its slices. Every field is a tensor ``[B]`` (scalar fields) or ``[B,3]``
(vector fields), so one object describes a batch of ``B`` heads.

Conventions
-----------
* Shape fields are dimensionless: multipliers near 1 (``*_width``, ``*_size``...)
  or offsets near 0 (``chin_forward``, ``smile``...), applied by :mod:`.shape` to a
  template head in world units (EG3D's: +y up, the face looks toward +z, the
  head fills the FFHQ crop of a frontal camera at radius 2.7).
* Colours are linear RGB in [0, 1] (the renderer applies the display gamma).
* Asymmetric detail (hair parting, gaze, texture noise) is laid out in the
  head's own frame ``(handedness * x, y, z)``; lights and background are in
  world space. :meth:`HeadParams.mirror` flips ``handedness`` and the world-x
  of lights and background, which is exactly the head seen in a mirror.
* Style switches are stored as numbers so that the vector stays continuous:
  ``hair`` (0 bald, 1 hair), ``bun`` (0/1), ``glasses`` (0/1),
  ``hair_length`` (0 short ... 1 shoulder length).

Longer than most modules because the layout (every field with its range and meaning) is data held here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

FIELDS: tuple[tuple[str, int], ...] = (
    # skull and face proportions
    ("head_width", 1), ("head_height", 1), ("head_depth", 1), ("face_width", 1),
    ("cheek_fullness", 1), ("cheekbones", 1), ("brow_ridge", 1), ("forehead_slope", 1),
    ("jaw_width", 1), ("chin_length", 1), ("chin_width", 1), ("chin_forward", 1),
    # eyes and brows
    ("eye_spacing", 1), ("eye_size", 1), ("eye_open", 1), ("eye_tilt", 1), ("eye_depth", 1), ("gaze", 3),
    ("brow_height", 1), ("brow_thickness", 1), ("brow_arch", 1),
    # nose, mouth, ears, neck
    ("nose_length", 1), ("nose_width", 1), ("nose_forward", 1), ("nose_bridge", 1), ("nose_tip", 1),
    ("nose_hump", 1), ("mouth_width", 1), ("upper_lip", 1), ("lower_lip", 1), ("lip_forward", 1),
    ("smile", 1), ("ear_size", 1), ("ear_out", 1), ("ear_height", 1), ("neck_width", 1),
    # hair, beard, glasses
    ("hair", 1), ("hair_volume", 1), ("hair_length", 1), ("hairline", 1), ("recession", 1),
    ("fringe", 1), ("bun", 1), ("curl", 1), ("part", 1), ("beard", 1),
    ("glasses", 1), ("glasses_size", 1), ("glasses_round", 1), ("glasses_color", 3),
    # colours
    ("skin_color", 3), ("blush", 1), ("lip_color", 3), ("hair_color", 3), ("brow_color", 3),
    ("iris_color", 3), ("freckles", 1),
    # lighting and background (world space)
    ("key_dir", 3), ("key_color", 3), ("ambient", 1), ("rim", 1), ("exposure", 1),
    ("bg_top", 3), ("bg_bottom", 3), ("bg_tilt", 1), ("bg_spot", 3), ("bg_spot_dir", 3),
    # the head's handedness (+1 / -1) and the phases of its texture noise
    ("handedness", 1), ("phase", 3),
)
SIZE: int = sum(width for _, width in FIELDS)

# sRGB anchors (converted to linear on use), from very light to very dark skin.
SKIN_TONES = ((0.97, 0.82, 0.72), (0.93, 0.74, 0.62), (0.86, 0.64, 0.50), (0.76, 0.54, 0.40),
              (0.62, 0.42, 0.29), (0.47, 0.31, 0.21), (0.34, 0.22, 0.15), (0.24, 0.16, 0.11))
HAIR_COLORS = ((0.07, 0.06, 0.055), (0.14, 0.09, 0.06), (0.28, 0.18, 0.11), (0.45, 0.32, 0.20),
               (0.80, 0.66, 0.44), (0.58, 0.26, 0.12), (0.50, 0.49, 0.47), (0.72, 0.71, 0.69))
IRIS_COLORS = ((0.18, 0.10, 0.05), (0.36, 0.21, 0.10), (0.45, 0.38, 0.18), (0.30, 0.42, 0.26),
               (0.32, 0.48, 0.66), (0.45, 0.52, 0.58))
LIPSTICKS = ((0.62, 0.10, 0.14), (0.80, 0.36, 0.42), (0.45, 0.12, 0.20), (0.72, 0.40, 0.34))


@dataclass
class HeadParams:
    """A batch of head parameter vectors, one named tensor per field (see module doc).

    Build with :func:`sample_params`, :meth:`from_tensor` or field by field;
    ``to_tensor()`` gives the flat ``[B, SIZE]`` layout in :data:`FIELDS` order.
    """

    head_width: torch.Tensor
    head_height: torch.Tensor
    head_depth: torch.Tensor
    face_width: torch.Tensor
    cheek_fullness: torch.Tensor
    cheekbones: torch.Tensor
    brow_ridge: torch.Tensor
    forehead_slope: torch.Tensor
    jaw_width: torch.Tensor
    chin_length: torch.Tensor
    chin_width: torch.Tensor
    chin_forward: torch.Tensor
    eye_spacing: torch.Tensor
    eye_size: torch.Tensor
    eye_open: torch.Tensor
    eye_tilt: torch.Tensor
    eye_depth: torch.Tensor
    gaze: torch.Tensor
    brow_height: torch.Tensor
    brow_thickness: torch.Tensor
    brow_arch: torch.Tensor
    nose_length: torch.Tensor
    nose_width: torch.Tensor
    nose_forward: torch.Tensor
    nose_bridge: torch.Tensor
    nose_tip: torch.Tensor
    nose_hump: torch.Tensor
    mouth_width: torch.Tensor
    upper_lip: torch.Tensor
    lower_lip: torch.Tensor
    lip_forward: torch.Tensor
    smile: torch.Tensor
    ear_size: torch.Tensor
    ear_out: torch.Tensor
    ear_height: torch.Tensor
    neck_width: torch.Tensor
    hair: torch.Tensor
    hair_volume: torch.Tensor
    hair_length: torch.Tensor
    hairline: torch.Tensor
    recession: torch.Tensor
    fringe: torch.Tensor
    bun: torch.Tensor
    curl: torch.Tensor
    part: torch.Tensor
    beard: torch.Tensor
    glasses: torch.Tensor
    glasses_size: torch.Tensor
    glasses_round: torch.Tensor
    glasses_color: torch.Tensor
    skin_color: torch.Tensor
    blush: torch.Tensor
    lip_color: torch.Tensor
    hair_color: torch.Tensor
    brow_color: torch.Tensor
    iris_color: torch.Tensor
    freckles: torch.Tensor
    key_dir: torch.Tensor
    key_color: torch.Tensor
    ambient: torch.Tensor
    rim: torch.Tensor
    exposure: torch.Tensor
    bg_top: torch.Tensor
    bg_bottom: torch.Tensor
    bg_tilt: torch.Tensor
    bg_spot: torch.Tensor
    bg_spot_dir: torch.Tensor
    handedness: torch.Tensor
    phase: torch.Tensor

    @property
    def batch(self) -> int:
        """The number of heads ``B``."""
        return self.head_width.shape[0]

    def to_tensor(self) -> torch.Tensor:
        """The flat layout ``[B, SIZE]`` (fields in :data:`FIELDS` order)."""
        return torch.cat([getattr(self, name).reshape(self.batch, width) for name, width in FIELDS], dim=1)

    @classmethod
    def from_tensor(cls, flat: torch.Tensor) -> HeadParams:
        """Inverse of :meth:`to_tensor`: ``flat`` [B, SIZE] (or [SIZE]) -> params."""
        flat = flat.reshape(-1, SIZE)
        parts = torch.split(flat, [width for _, width in FIELDS], dim=1)
        return cls(**{name: part if width == 3 else part[:, 0] for (name, width), part in zip(FIELDS, parts)})

    def __getitem__(self, index: int | slice | torch.Tensor) -> HeadParams:
        """The heads ``index`` selects along the batch (an int keeps a batch of one)."""
        index = slice(index, index + 1) if isinstance(index, int) else index
        return HeadParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def cat(cls, heads: list[HeadParams]) -> HeadParams:
        """Concatenate batches along the batch dimension."""
        return cls.from_tensor(torch.cat([h.to_tensor() for h in heads]))

    def to(self, device: torch.device | str) -> HeadParams:
        """The same heads on ``device``."""
        return HeadParams.from_tensor(self.to_tensor().to(device))

    def mirror(self) -> HeadParams:
        """The mirror image of each head (world x -> -x); pair with :func:`triplanenet.cameras.mirror`."""
        flat = self.to_tensor().clone()
        offsets = _offsets()
        flat[:, offsets["handedness"]] *= -1
        for name in ("key_dir", "bg_spot_dir"):
            flat[:, offsets[name]] *= -1
        flat[:, offsets["bg_tilt"]] *= -1
        return HeadParams.from_tensor(flat)


def field_columns(name: str) -> slice:
    """The columns of field ``name`` in the flat ``[B, SIZE]`` layout; a ``ValueError`` naming the fields otherwise."""
    widths = dict(FIELDS)
    if name not in widths:
        raise ValueError(f"no head parameter {name!r}; the fields are {', '.join(widths)}")
    start = _offsets()[name]
    return slice(start, start + widths[name])


def _offsets() -> dict[str, int]:
    """Column of each field's first number (its world-x for vector fields) in the flat layout."""
    out, column = {}, 0
    for name, width in FIELDS:
        out[name] = column
        column += width
    return out


def to_linear(srgb: torch.Tensor) -> torch.Tensor:
    """Approximate sRGB -> linear (gamma 2.2), any shape."""
    return srgb.clamp(0, 1) ** 2.2


class _Sampler:
    """Draws ``[n]``/``[n,3]`` tensors from one ``torch.Generator``."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.g = n, generator

    def uniform(self, low: float, high: float, width: int = 0) -> torch.Tensor:
        shape = (self.n, width) if width else (self.n,)
        return low + (high - low) * torch.rand(shape, generator=self.g)

    def normal(self, mean: float | torch.Tensor, std: float, clip: float = 2.0) -> torch.Tensor:
        return mean + std * torch.randn(self.n, generator=self.g).clamp(-clip, clip)

    def chance(self, p: float | torch.Tensor) -> torch.Tensor:
        return (torch.rand(self.n, generator=self.g) < p).float()

    def choice(self, probs: torch.Tensor) -> torch.Tensor:
        """Indices [n] drawn from per-head probabilities ``probs`` [n,K] (or [K])."""
        return torch.multinomial(probs.expand(self.n, -1), 1, generator=self.g)[:, 0]


def _palette(colors: tuple, index: torch.Tensor) -> torch.Tensor:
    """Rows [n,3] of a colour table at ``index`` [n]."""
    return torch.tensor(colors)[index]


def _skin(s: _Sampler, tone: torch.Tensor) -> torch.Tensor:
    """Linear skin albedo [n,3] for tones in [0,1] (0 lightest), with a warm/rosy undertone jitter."""
    anchors = torch.tensor(SKIN_TONES)
    x = tone * (len(SKIN_TONES) - 1)
    low = x.floor().long().clamp(max=len(SKIN_TONES) - 2)
    frac = (x - low)[:, None]
    srgb = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    undertone = s.uniform(-1.0, 1.0)[:, None] * torch.tensor([0.015, -0.01, -0.03])
    return to_linear(srgb + undertone + s.uniform(-0.02, 0.02)[:, None])


def _hair_color(s: _Sampler, tone: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
    """Linear hair colour [n,3]: dark hair is common everywhere, fair and red hair only on fair skin."""
    fair = (1 - tone).clamp(0, 1) ** 2
    grey = (age - 0.75).clamp(min=0) * 4
    probs = torch.stack([0.3 + tone, torch.full_like(tone, 0.4), 0.25 * fair + 0.15, 0.3 * fair, 0.3 * fair,
                         0.1 * fair, 0.9 * grey, 0.4 * grey], dim=1)
    srgb = _palette(HAIR_COLORS, s.choice(probs)) * s.uniform(0.85, 1.15)[:, None]
    return to_linear(srgb)


def _iris_color(s: _Sampler, tone: torch.Tensor) -> torch.Tensor:
    """Linear iris colour [n,3]: brown everywhere, hazel, green, blue and grey mostly with fair skin."""
    fair = (1 - tone).clamp(0, 1) ** 2
    probs = torch.stack([0.5 + tone, torch.full_like(tone, 0.5), 0.25 * fair, 0.2 * fair, 0.45 * fair, 0.2 * fair],
                        dim=1)
    return to_linear(_palette(IRIS_COLORS, s.choice(probs)) * s.uniform(0.85, 1.15)[:, None])


def _lip_color(s: _Sampler, skin: torch.Tensor, feminine: torch.Tensor) -> torch.Tensor:
    """Natural lips (skin, redder and darker) or, sometimes, lipstick."""
    natural = skin * torch.tensor([0.85, 0.55, 0.57]) * s.uniform(0.75, 1.0)[:, None]
    lipstick = to_linear(_palette(LIPSTICKS, s.choice(torch.ones(len(LIPSTICKS)))))
    wears = s.chance(0.2 * feminine)[:, None]
    return natural * (1 - wears) + lipstick * wears


def _background(s: _Sampler) -> dict[str, torch.Tensor]:
    """Two-tone gradient plus a soft spot of light, in a random hue family."""
    hue = s.uniform(0, 2 * math.pi)
    base = 0.5 + 0.5 * torch.stack([torch.cos(hue), torch.cos(hue - 2.1), torch.cos(hue + 2.1)], dim=1)
    saturation = s.uniform(0.0, 0.6)[:, None]
    value = s.uniform(0.15, 0.9)[:, None]
    top = value * (1 - saturation + saturation * base)
    bottom = top * s.uniform(0.4, 1.1)[:, None] + s.uniform(-0.1, 0.1, 3)
    spot = top * s.uniform(0.8, 1.6)[:, None]
    spot_dir = torch.cat([s.uniform(-0.2, 0.2, 2), torch.zeros(s.n, 1)], dim=1)
    return {"bg_top": to_linear(top), "bg_bottom": to_linear(bottom), "bg_tilt": s.uniform(-0.6, 0.6),
            "bg_spot": to_linear(spot), "bg_spot_dir": spot_dir}


def _lighting(s: _Sampler) -> dict[str, torch.Tensor]:
    """A key light from the front half (mostly above), warm to cool, with ambient and rim."""
    azimuth = s.normal(0.0, 0.45, clip=2.2)
    elevation = s.uniform(0.05, 0.75)
    key_dir = torch.stack([torch.sin(azimuth) * torch.cos(elevation), torch.sin(elevation),
                           torch.cos(azimuth) * torch.cos(elevation)], dim=1)
    warmth = s.uniform(-1, 1)[:, None]
    key_color = (1 + warmth * torch.tensor([0.12, 0.0, -0.15])) * s.uniform(1.0, 1.7)[:, None]
    return {"key_dir": key_dir, "key_color": key_color, "ambient": s.uniform(0.3, 0.6),
            "rim": s.uniform(0.0, 0.6) * s.chance(0.6), "exposure": s.uniform(0.9, 1.2)}


def _shape(s: _Sampler, male: torch.Tensor) -> dict[str, torch.Tensor]:
    """Proportions around the template, shifted by masculinity (``male`` in [0,1])."""
    m = male - 0.5
    return {
        "head_width": s.normal(1.0 + 0.02 * m, 0.03), "head_height": s.normal(1.0, 0.03),
        "head_depth": s.normal(1.0, 0.03), "face_width": s.normal(1.0 + 0.03 * m, 0.05),
        "cheek_fullness": s.normal(1.0 - 0.03 * m, 0.1), "cheekbones": s.normal(1.0, 0.12),
        "brow_ridge": s.normal(1.0 + 0.3 * m, 0.12), "forehead_slope": s.normal(0.0 + 0.3 * m, 0.3),
        "jaw_width": s.normal(1.0 + 0.08 * m, 0.07), "chin_length": s.normal(1.0 + 0.04 * m, 0.05),
        "chin_width": s.normal(1.0 + 0.2 * m, 0.12), "chin_forward": s.normal(0.0, 0.3),
        "eye_spacing": s.normal(1.0, 0.025), "eye_size": s.normal(1.0 - 0.04 * m, 0.05),
        "eye_open": s.normal(1.0 - 0.1 * m, 0.12), "eye_tilt": s.normal(0.05, 0.06),
        "eye_depth": s.normal(1.0 + 0.2 * m, 0.15), "gaze": torch.cat([s.uniform(-0.12, 0.12, 2),
                                                                       torch.zeros(s.n, 1)], dim=1),
        "brow_height": s.normal(0.0 - 0.4 * m, 0.4), "brow_thickness": s.normal(1.0 + 0.3 * m, 0.18),
        "brow_arch": s.normal(1.0 - 0.4 * m, 0.3),
        "nose_length": s.normal(1.0 + 0.03 * m, 0.05), "nose_width": s.normal(1.0 + 0.06 * m, 0.08),
        "nose_forward": s.normal(1.0 + 0.05 * m, 0.08), "nose_bridge": s.normal(1.0 + 0.1 * m, 0.12),
        "nose_tip": s.normal(1.0, 0.1), "nose_hump": s.normal(0.0 + 0.3 * m, 0.35),
        "mouth_width": s.normal(1.0, 0.06), "upper_lip": s.normal(1.0 - 0.15 * m, 0.15),
        "lower_lip": s.normal(1.0 - 0.1 * m, 0.15), "lip_forward": s.normal(0.0, 0.3),
        "smile": s.uniform(-0.2, 1.0) * s.chance(0.7), "ear_size": s.normal(1.0 + 0.05 * m, 0.07),
        "ear_out": s.normal(1.0, 0.25), "ear_height": s.normal(0.0, 0.3),
        "neck_width": s.normal(1.0 + 0.12 * m, 0.05),
    }


def _hair(s: _Sampler, male: torch.Tensor, age: torch.Tensor) -> dict[str, torch.Tensor]:
    """Hair style: bald, buzz, short, medium or long; sometimes a bun or a fringe."""
    bald = s.chance(0.12 * male * (0.4 + age))
    long_hair = s.uniform(0.0, 1.0) < 0.15 + 0.65 * (1 - male)
    length = torch.where(long_hair, s.uniform(0.55, 1.0), s.uniform(0.0, 0.35))
    bun = s.chance(0.25) * long_hair.float()
    buzz = s.chance(0.15 * male)
    volume = torch.where(buzz > 0, s.uniform(0.0, 0.12), s.uniform(0.25, 1.0))
    return {"hair": 1 - bald, "hair_volume": volume * (1 - 0.6 * bun), "hair_length": length * (1 - bun),
            "hairline": s.normal(0.0, 0.3), "recession": s.uniform(0.0, 1.0) * male * age,
            "fringe": s.chance(0.3) * s.uniform(0.4, 1.0) * (1 - bun), "bun": bun,
            "curl": s.uniform(0.0, 1.0) * s.chance(0.3), "part": s.uniform(-1.0, 1.0),
            "beard": s.chance(0.35 * male) * s.uniform(0.2, 1.0)}


def _glasses(s: _Sampler) -> dict[str, torch.Tensor]:
    """One head in five wears glasses: black, tortoiseshell, gold, steel or red frames."""
    frame = to_linear(torch.tensor([[0.03, 0.03, 0.03], [0.25, 0.14, 0.07], [0.7, 0.62, 0.45],
                                    [0.55, 0.55, 0.58], [0.45, 0.08, 0.08]]))
    pick = s.choice(torch.tensor([0.45, 0.25, 0.1, 0.1, 0.1]))
    return {"glasses": s.chance(0.2), "glasses_size": s.normal(1.0, 0.07),
            "glasses_round": s.uniform(0.0, 1.0), "glasses_color": frame[pick]}


def sample_params(n: int, generator: torch.Generator | None = None) -> HeadParams:
    """``n`` random heads drawn from ``generator`` (CPU; deterministic given its seed).

    Latent traits (masculinity, age, skin tone) correlate the fields: e.g. jaw and
    brows with masculinity, hair and iris colour with skin tone, grey hair with age.
    """
    s = _Sampler(n, generator if generator is not None else torch.Generator().manual_seed(0))
    male = torch.where(s.chance(0.5) > 0, s.uniform(0.6, 1.0), s.uniform(0.0, 0.4))
    age = s.uniform(0.0, 1.0)
    tone = s.uniform(0.0, 1.0) ** 1.4
    skin = _skin(s, tone)
    hair_color = _hair_color(s, tone, age)
    values = {**_shape(s, male), **_hair(s, male, age), **_glasses(s), **_lighting(s), **_background(s)}
    values.update(
        skin_color=skin, blush=s.uniform(0.0, 1.0), lip_color=_lip_color(s, skin, 1 - male),
        hair_color=hair_color, brow_color=torch.minimum(hair_color * s.uniform(0.5, 0.8)[:, None], skin * 0.3),
        iris_color=_iris_color(s, tone), freckles=s.chance(0.3 * (1 - tone) ** 3) * s.uniform(0.3, 1.0),
        handedness=torch.where(s.chance(0.5) > 0, 1.0, -1.0), phase=s.uniform(0.0, 100.0, 3))
    return HeadParams(**{name: values[name].float() for name, _ in FIELDS})
