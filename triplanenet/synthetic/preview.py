"""A contact sheet of synthetic heads, for looking at them."""
from __future__ import annotations

import torch

from .. import cameras
from .params import HeadParams, sample_params
from .imaging import render


def contact_sheet(seeds: list[int], yaws: list[float], resolution: int = 256, columns: int = 4,
                  supersample: int = 2) -> torch.Tensor:
    """Render head ``sample_params(1, seed)`` for each seed at the matching yaw; tile them -> uint8 [H,W,3].

    Rows hold ``columns`` images; ``len(seeds)`` must be a multiple of ``columns``.
    """
    params = HeadParams.cat([sample_params(1, torch.Generator().manual_seed(s)) for s in seeds])
    out = render(params, cameras.camera(torch.tensor(yaws), 0.0), resolution, supersample)
    images = ((out["image"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    rows = [torch.cat(list(images[i:i + columns]), dim=1) for i in range(0, len(seeds), columns)]
    return torch.cat(rows, dim=0)
