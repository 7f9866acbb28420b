"""How a generator trained on synthetic heads reads a head: its z is the head's parameters, normalised.

``head_params.json`` beside such a generator (``train-generator`` writes it, the bundled model ships it)
holds the ``mean`` and ``std`` [97] of the parameters over seeded heads; ``z = (params - mean) / std``.
Knowing it, a held-out head can be rendered from its *true* parameters: what the generator itself
makes of the head, the reference for inversions into it (``triplanenet evaluate --true-params``; an
encoder's w+ can leave the mapping's range and score higher).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .params import SIZE

NORMALIZATION_NAME = "head_params.json"


@dataclass(frozen=True)
class HeadCodes:
    """The normalisation of head parameters into z: ``mean`` and ``std`` [97] (std > 0)."""

    mean: torch.Tensor
    std: torch.Tensor

    def z(self, params: torch.Tensor) -> torch.Tensor:
        """Head parameters [B,97] -> the generator's z [B,97]."""
        return (params - self.mean.to(params.device)) / self.std.to(params.device)

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / NORMALIZATION_NAME
        path.write_text(json.dumps({"mean": self.mean.tolist(), "std": self.std.tolist()}))
        return path

    @classmethod
    def read(cls, folder: str | os.PathLike) -> "HeadCodes":
        """The normalisation saved in ``folder``; a ``ValueError`` that says why when it is missing or bad."""
        path = Path(folder) / NORMALIZATION_NAME
        if not path.is_file():
            raise ValueError(f"{folder} has no {NORMALIZATION_NAME}: true head parameters exist only for "
                             "generators trained on synthetic heads (train-generator, the bundled model)")
        try:
            data = json.loads(path.read_text())
            mean, std = (torch.tensor([float(v) for v in data[key]]) for key in ("mean", "std"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a head normalisation ({exc})") from exc
        if mean.shape != (SIZE,) or std.shape != (SIZE,) or not all(map(math.isfinite, [*mean, *std])) \
                or not (std > 0).all():
            raise ValueError(f"{path} must hold 'mean' and 'std' lists of {SIZE} finite numbers, std > 0")
        return cls(mean, std)
