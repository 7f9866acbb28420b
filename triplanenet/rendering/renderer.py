"""The importance renderer: tri-planes + decoder + rays -> feature image and depth."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import samplers
from .ray_marcher import distortion, expected_depth, finish_rgb, interval_weights, sample_weights
from .triplane import sample_planes, sampling_layout

QUERY_CHUNK = 1 << 16

Decoder = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class RenderOutput:
    """Per-ray results for N scenes and R rays."""

    features: torch.Tensor  # [N,R,C], composited decoder features in [-1, 1]
    depth: torch.Tensor  # [N,R,1], expected depth along the ray
    opacity: torch.Tensor  # [N,R,1], accumulated weight (0: the ray hit nothing)
    distortion: torch.Tensor  # [N,R,1], how far the ray's weight spreads along it (ray_marcher.distortion)


def composite(weights: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    """Per-sample weights [N,R,S,1] times colours [N,R,S,C], summed over samples -> [N,R,C]."""
    n, r, s, c = colors.shape
    return torch.bmm(weights.reshape(n * r, 1, s), colors.reshape(n * r, s, c)).reshape(n, r, c)


class ImportanceRenderer:
    """Two-pass volume rendering (EG3D's ``ImportanceRenderer``).

    A coarse pass decodes ``depth_resolution`` stratified samples per ray; a
    fine pass decodes ``depth_resolution_importance`` samples drawn from the
    coarse weights; both sets, sorted by depth, are ray-marched together.
    Only the one-channel densities are sorted: the compositing weights are
    mapped back to the unsorted samples, so the C-channel colours are reduced
    in place (same result as EG3D, far less memory traffic).
    Options come from the checkpoint's ``rendering_kwargs`` (``ray_start``,
    ``ray_end``, ``depth_resolution``, ``depth_resolution_importance``,
    ``box_warp``, ``white_back``).
    """

    def __init__(self, options: dict):
        if options.get("clamp_mode", "softplus") != "softplus" or options.get("disparity_space_sampling"):
            raise ValueError("only softplus density and depth-space sampling are supported (EG3D's FFHQ/AFHQ settings)")
        if options["ray_start"] == "auto":
            raise ValueError("automatic ray bounds (ShapeNet configs) are not supported")
        self.options = options

    def query(self, planes: torch.Tensor, decoder: Decoder, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decode ``points`` [N,M,3] against ``planes`` [N,3,C,H,W] -> ``sigma`` [N,M,1], ``rgb`` [N,M,C'].

        Points are decoded in chunks of about 64k so that the per-plane features
        and the MLP activations stay in cache (1.6x faster on CPU than one pass).
        """
        layout = sampling_layout(planes)
        chunk = max(1, QUERY_CHUNK // points.shape[0])
        outs = [decoder(sample_planes(layout, part, self.options["box_warp"])) for part in points.split(chunk, dim=1)]
        if len(outs) == 1:
            return outs[0]
        return {key: torch.cat([out[key] for out in outs], dim=1) for key in outs[0]}

    def _decode_along(self, planes, decoder, origins, directions, depths):
        n, rays, samples, _ = depths.shape
        points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(n, -1, 3)
        out = self.query(planes, decoder, points)
        return out["rgb"].reshape(n, rays, samples, -1), out["sigma"].reshape(n, rays, samples, 1)

    def __call__(self, planes: torch.Tensor, decoder: Decoder, origins: torch.Tensor,
                 directions: torch.Tensor, deterministic: bool = False) -> RenderOutput:
        """Render rays ``origins``/``directions`` [N,R,3] through ``planes`` [N,3,C,H,W]."""
        opt = self.options
        n, rays, _ = origins.shape
        depths = samplers.stratified(n, rays, opt["ray_start"], opt["ray_end"], opt["depth_resolution"],
                                     deterministic, origins.device)
        colors, densities = self._decode_along(planes, decoder, origins, directions, depths)
        n_fine = opt.get("depth_resolution_importance", 0)
        if n_fine > 0:
            fine = samplers.importance(depths, interval_weights(densities, depths), n_fine, deterministic)
            colors_fine, densities_fine = self._decode_along(planes, decoder, origins, directions, fine)
            depths, order = torch.sort(torch.cat([depths, fine], dim=-2), dim=-2)
            weights = interval_weights(torch.gather(torch.cat([densities, densities_fine], -2), -2, order), depths)
            per_sample = torch.zeros_like(depths).scatter_(-2, order, sample_weights(weights))
            s = colors.shape[2]
            rgb = composite(per_sample[:, :, :s], colors) + composite(per_sample[:, :, s:], colors_fine)
        else:
            weights = interval_weights(densities, depths)
            rgb = composite(sample_weights(weights), colors)
        opacity = weights.sum(2)
        return RenderOutput(finish_rgb(rgb, opacity, opt.get("white_back", False)),
                            expected_depth(weights, depths), opacity,
                            distortion(weights, depths, opt["ray_start"], opt["ray_end"]))
