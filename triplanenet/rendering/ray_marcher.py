"""The ray marcher: samples along rays -> pixel colour, depth and weights."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ray_march(colors: torch.Tensor, densities: torch.Tensor, depths: torch.Tensor,
              white_back: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Alpha-composite samples along each ray (EG3D's MipRayMarcher2, softplus mode).

    colors [N,R,S,C], densities [N,R,S,1] (raw decoder ``sigma``) and sorted
    depths [N,R,S,1] for N scenes, R rays, S samples. Each of the S-1 intervals
    takes the mean colour, density and depth of its two end samples; density
    becomes ``softplus(sigma - 1)`` (the -1 makes empty space the default at
    initialisation). Returns ``rgb`` [N,R,C] scaled to [-1, 1], ``depth``
    [N,R,1] (weighted mean depth, clamped to the range of ``depths``; empty rays
    get the far end) and ``weights`` [N,R,S-1,1].
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
    densities_mid = F.softplus((densities[:, :, :-1] + densities[:, :, 1:]) / 2 - 1)
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    alpha = 1 - torch.exp(-densities_mid * deltas)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2), -2)
    weights = alpha * transmittance[:, :, :-1]
    rgb = torch.sum(weights * colors_mid, -2)
    weight_total = weights.sum(2)
    depth = torch.nan_to_num(torch.sum(weights * depths_mid, -2) / weight_total, float("inf"))
    depth = torch.clamp(depth, torch.min(depths), torch.max(depths))
    if white_back:
        rgb = rgb + 1 - weight_total
    return rgb * 2 - 1, depth, weights
