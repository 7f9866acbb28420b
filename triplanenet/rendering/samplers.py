"""Where to sample along rays: stratified coarse depths, then importance samples.

``deterministic=True`` replaces the two random draws of the official renderer
by their expected placement (no jitter of the coarse depths, evenly spaced
quantiles for importance sampling), so a render is a pure function of its
inputs. This is the mode the parity references were produced in.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def stratified(n: int, rays: int, ray_start: float, ray_end: float, depth_resolution: int,
               deterministic: bool = False, device: torch.device | None = None) -> torch.Tensor:
    """Coarse depths [n, rays, depth_resolution, 1]: evenly spaced in [start, end], jittered by up to one step."""
    depths = torch.linspace(ray_start, ray_end, depth_resolution, device=device)
    depths = depths.reshape(1, 1, depth_resolution, 1).repeat(n, rays, 1, 1)
    if not deterministic:
        depths = depths + torch.rand_like(depths) * (ray_end - ray_start) / (depth_resolution - 1)
    return depths


def smooth_weights(weights: torch.Tensor) -> torch.Tensor:
    """Blur ray weights [R,S-1] with a max- then average-pool of width 2, plus 0.01 (keeps empty rays sampled)."""
    weights = F.max_pool1d(weights.unsqueeze(1), 2, 1, padding=1)
    return F.avg_pool1d(weights, 2, 1).squeeze(1) + 0.01


def sample_pdf(bins: torch.Tensor, weights: torch.Tensor, n_samples: int,
               deterministic: bool = False, eps: float = 1e-5) -> torch.Tensor:
    """Inverse-CDF sampling of depths [R,n_samples] from a piecewise-linear CDF.

    ``bins`` [R,K] are depths and ``weights`` [R,B] (B < K) the unnormalised
    mass of the interval from bin i to bin i+1. EG3D passes B = K-2 (the
    smoothed weights without their end entries), so the last bin is never reached.
    """
    weights = weights + eps
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    rays = weights.shape[0]
    if deterministic:
        u = torch.linspace(0, 1, n_samples, device=bins.device).expand(rays, n_samples).contiguous()
    else:
        u = torch.rand(rays, n_samples, device=bins.device)
    idx = torch.searchsorted(cdf, u, right=True)
    below = torch.clamp_min(idx - 1, 0)
    above = torch.clamp_max(idx, weights.shape[1])
    cdf_below, cdf_above = torch.gather(cdf, 1, below), torch.gather(cdf, 1, above)
    bin_below, bin_above = torch.gather(bins, 1, below), torch.gather(bins, 1, above)
    denom = cdf_above - cdf_below
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)
    return bin_below + (u - cdf_below) / denom * (bin_above - bin_below)


def importance(depths: torch.Tensor, weights: torch.Tensor, n_samples: int,
               deterministic: bool = False) -> torch.Tensor:
    """Fine depths [N,R,n_samples,1] concentrated where the coarse pass found mass.

    depths [N,R,S,1] are the coarse depths, weights [N,R,S-1,1] the ray
    marcher's weights for them.
    """
    n, rays, s, _ = depths.shape
    with torch.no_grad():
        z = depths.reshape(n * rays, s)
        w = smooth_weights(weights.reshape(n * rays, -1).float())
        mids = 0.5 * (z[:, :-1] + z[:, 1:])
        fine = sample_pdf(mids, w[:, 1:-1], n_samples, deterministic)
    return fine.reshape(n, rays, n_samples, 1)
