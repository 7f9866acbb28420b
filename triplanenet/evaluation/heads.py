"""The held-out synthetic heads: which heads, and their exact ground truth (images, depth, mask, surface)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import cameras
from ..outputs.surface import extract_mesh
from ..outputs.meshes import Mesh
from ..synthetic import HeadParams, render, sample_cameras, sample_params, sdf
from ..synthetic.dataset import item_seed
from ..image_tensors import EMPTY_SPACE as BACKGROUND, with_background

EVALUATION_STREAM = 0x7E57_4EBA
"""Stream key of held-out heads: head ``seed`` comes from ``manual_seed(item_seed(EVALUATION_STREAM, seed))``.

Training draws heads from other keys of the same hash: ``seed * 1_000_003 + rank``
(:func:`triplanenet.training.data.step_generator`, the generator trainer) and the
dataset seed (:class:`triplanenet.synthetic.SyntheticHeads`, the encoder trainer),
small numbers (0-7 with the default seed 0 and up to 8 processes). The hash keeps
32 bits (all a ``torch.Generator`` uses), so distinct keys alone could still meet
by chance; this key was chosen so that the first 10,000 evaluation seeds share no
generator seed with the first 100,000 draws of streams 0-7 (every item of the
default 100,000-head encoder dataset, and 100,000 generator steps on 8 processes),
which the tests check.
"""
SEED_LIMIT = 1 << 32
NOVEL_YAWS = (0.5, -0.5)


def parse_seeds(text: str) -> range:
    """``"A-B"`` (inclusive) or ``"A"`` -> the seeds ``range(A, B + 1)``; readable ``ValueError`` otherwise."""
    parts = text.strip().split("-")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"seeds must be 'A-B' or 'A' with whole numbers A <= B (e.g. 0-99), got {text!r}")
    first, last = int(parts[0]), int(parts[-1])
    if first > last:
        raise ValueError(f"seeds {text!r}: the first seed must not exceed the last")
    if last >= SEED_LIMIT:
        raise ValueError(f"seeds {text!r}: seeds must be below 2**32")
    return range(first, last + 1)


def evaluation_head(seed: int) -> tuple[HeadParams, torch.Tensor]:
    """Held-out head ``seed``: its parameters (batch of one) and FFHQ-like input camera [1,25]."""
    generator = torch.Generator().manual_seed(item_seed(EVALUATION_STREAM, seed))
    return sample_params(1, generator), sample_cameras(1, generator)


@dataclass
class GroundTruth:
    """Renders of one held-out head from its ``cameras`` [V,25] (input view first, then the novel views).

    ``image`` [V,3,R,R] in [-1, 1] on black, ``depth`` and ``mask`` [V,1,R,R].
    """

    seed: int
    params: HeadParams
    cameras: torch.Tensor
    image: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor


def ground_truth(seed: int, resolution: int) -> GroundTruth:
    """Render held-out head ``seed`` at ``resolution`` from its input camera and yaw ``NOVEL_YAWS`` (pitch 0)."""
    params, camera = evaluation_head(seed)
    novel = cameras.camera(torch.tensor(NOVEL_YAWS), torch.zeros(len(NOVEL_YAWS)))
    views = torch.cat([camera, novel])
    image, out = render_truth(params, views, resolution)
    return GroundTruth(seed, params, views, image, out["depth"], out["mask"])


def render_truth(params: HeadParams, views: torch.Tensor, resolution: int) -> tuple[torch.Tensor, dict]:
    """One head (``params``, a batch of one) from ``views`` [V,25]: its image [V,3,R,R] in [-1, 1] on the
    generator's empty-space colour, and the renderer's whole output (``depth``, ``mask`` [V,1,R,R])."""
    out = render(HeadParams.from_tensor(params.to_tensor().expand(len(views), -1)), views, resolution)
    return with_background(out["image"], out["mask"], BACKGROUND), out


def surface_mesh(params: HeadParams, resolution: int, box: float) -> Mesh:
    """The ground-truth surface (zero level set of the SDF) of one head, meshed like the model's.

    Same lattice over ``[-box/2, box/2]^3`` and the same EG3D border trim as
    :func:`triplanenet.outputs.surface.extract_mesh` applies to the model's density.
    """
    def field(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return -sdf(points[None], params)[0][:, None], points.new_zeros(len(points), 3)

    return extract_mesh(field, resolution, box, level=0.0, colors=False)
