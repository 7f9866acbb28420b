"""A deterministic, on-the-fly dataset of rendered synthetic heads.

Item ``i`` of ``SyntheticHeads(seed=s)`` is always the same head and camera:
both are drawn from a generator seeded with ``(s, i)``, so items do not depend on
batching, order or workers. ``DataLoader`` fetches a whole batch at once through
``__getitems__`` and renders it in one call.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .poses import sample_cameras
from .params import HeadParams, sample_params
from .imaging import render


def item_seed(seed: int, index: int) -> int:
    """A well-mixed 32-bit generator seed for item ``index`` of dataset ``seed`` (splitmix64's finaliser).

    ``torch.Generator`` keeps only 32 bits of a seed, so ``(seed, index)`` is mixed
    rather than packed into one integer.
    """
    mask = (1 << 64) - 1
    z = ((seed & 0xFFFFFFFF) << 32 | (index & 0xFFFFFFFF)) + 0x9E3779B97F4A7C15 & mask
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & mask
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & mask
    return (z ^ (z >> 31)) & 0xFFFFFFFF


class Sample(NamedTuple):
    """One rendered head: ``image`` [3,H,W] in [-1,1], ``camera`` [25], ``depth`` [1,H,W] (distance along
    the ray), ``mask`` [1,H,W] in [0,1], ``params`` [SIZE] (the flat :class:`HeadParams` layout)."""

    image: torch.Tensor
    camera: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    params: torch.Tensor


class SyntheticHeads(torch.utils.data.Dataset):
    """``length`` synthetic heads rendered at ``resolution`` (``supersample``^2 rays per pixel).

    ``shadows`` toggles the soft shadows of the key light (about a third of the
    shading cost).
    """

    def __init__(self, length: int, resolution: int = 128, seed: int = 0, supersample: int = 1,
                 shadows: bool = True):
        self.length, self.resolution, self.seed = length, resolution, seed
        self.supersample, self.shadows = supersample, shadows

    def __len__(self) -> int:
        return self.length

    def head(self, index: int) -> tuple[HeadParams, torch.Tensor]:
        """The parameters (batch of one) and camera label [1,25] of item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        generator = torch.Generator().manual_seed(item_seed(self.seed, index))
        return sample_params(1, generator), sample_cameras(1, generator)

    def render(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Render items ``indices`` in one batch: the dict of :func:`.renderer.render` plus ``params`` [B,SIZE]."""
        heads = [self.head(i) for i in indices]
        params = HeadParams.cat([h[0] for h in heads])
        out = render(params, torch.cat([h[1] for h in heads]), self.resolution, self.supersample, self.shadows)
        out["params"] = params.to_tensor()
        return out

    def __getitems__(self, indices: list[int]) -> list[Sample]:
        out = self.render(list(indices))
        return [Sample(*(out[k][j] for k in Sample._fields)) for j in range(len(indices))]

    def __getitem__(self, index: int) -> Sample:
        return self.__getitems__([index])[0]
