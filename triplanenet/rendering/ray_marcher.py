"""The ray marcher: samples along rays -> pixel colour, depth and weights.

EG3D's marcher (MipRayMarcher2, softplus mode) works on the S-1 intervals
between consecutive samples: each interval takes the mean colour, density and
depth of its two end samples, and its density becomes
``softplus(sigma - 1)`` (the -1 makes empty space the default at
initialisation). Because the interval colour is a mean of two samples, the
composited colour is also a weighted sum of the *samples* with weights
``(w[i-1] + w[i]) / 2``; :func:`sample_weights` gives those, so the renderer can
composite many feature channels without building per-interval copies.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def interval_weights(densities: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """Compositing weights [N,R,S-1,1] of the intervals between sorted samples.

    densities [N,R,S,1] are raw decoder ``sigma``, depths [N,R,S,1] sorted.
    ``weight_i = alpha_i * prod_{k<i} (1 - alpha_k + 1e-10)`` with
    ``alpha = 1 - exp(-softplus(mean sigma - 1) * delta)``.
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    densities_mid = F.softplus((densities[:, :, :-1] + densities[:, :, 1:]) / 2 - 1)
    alpha = 1 - torch.exp(-densities_mid * deltas)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2), -2)
    return alpha * transmittance[:, :, :-1]


def sample_weights(weights: torch.Tensor) -> torch.Tensor:
    """Interval weights [N,R,S-1,1] -> per-sample weights [N,R,S,1]: ``(w[i-1] + w[i]) / 2``."""
    return F.pad(weights, (0, 0, 1, 0)).add(F.pad(weights, (0, 0, 0, 1))) / 2


def expected_depth(weights: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """Weighted mean interval depth [N,R,1], clamped to the range of ``depths``; empty rays get the far end.

    Empty rays (total weight exactly 0) are selected, not divided by zero: the
    official ``nan_to_num(0 / 0)`` has the same values but a NaN gradient, which
    poisons training as soon as a generator learns truly empty background.
    """
    depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
    total = weights.sum(2)
    hit = total > 0
    depth = torch.where(hit, torch.sum(weights * depths_mid, -2) / torch.where(hit, total, 1), float("inf"))
    return torch.clamp(depth, torch.min(depths), torch.max(depths))


def distortion(weights: torch.Tensor, depths: torch.Tensor, near: float, far: float) -> torch.Tensor:
    """Per-ray distortion [N,R,1] of interval ``weights`` [N,R,S-1,1] between sorted ``depths`` [N,R,S,1]
    (mip-NeRF 360, Barron et al. 2022): ``sum_ij w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 (t_i+1 - t_i)`` with
    interval midpoints ``m`` and depths rescaled so that ``near``..``far`` is 0..1.

    It is small when a ray's weight gathers at one depth (a surface) and grows as the weight spreads along
    the ray; computed in O(S) with cumulative sums (the intervals are sorted).
    """
    t = (depths[..., 0] - near) / (far - near)
    w, mid, width = weights[..., 0], (t[..., 1:] + t[..., :-1]) / 2, t[..., 1:] - t[..., :-1]
    weight_before = torch.cumsum(w, -1) - w
    moment_before = torch.cumsum(w * mid, -1) - w * mid
    spread = 2 * (w * (mid * weight_before - moment_before)).sum(-1)
    return (spread + (w * w * width).sum(-1) / 3).unsqueeze(-1)


def finish_rgb(rgb: torch.Tensor, opacity: torch.Tensor, white_back: bool) -> torch.Tensor:
    """Composited colour in [0, 1] -> [-1, 1], over white if ``white_back``."""
    if white_back:
        rgb = rgb + 1 - opacity
    return rgb * 2 - 1


def ray_march(colors: torch.Tensor, densities: torch.Tensor, depths: torch.Tensor,
              white_back: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Alpha-composite samples along each ray.

    colors [N,R,S,C], densities [N,R,S,1], sorted depths [N,R,S,1] for N scenes,
    R rays, S samples. Returns ``rgb`` [N,R,C] in [-1, 1], ``depth`` [N,R,1]
    and the interval ``weights`` [N,R,S-1,1].
    """
    weights = interval_weights(densities, depths)
    rgb = torch.sum(sample_weights(weights) * colors, -2)
    return finish_rgb(rgb, weights.sum(2), white_back), expected_depth(weights, depths), weights
