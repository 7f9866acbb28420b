"""Prototype refinement with switchable levers for the turned views (issue 19), on top of ``triplanenet.refinement``.

Levers (all off reproduces today's refinement exactly):

* ``distortion_weight``: mip-NeRF 360's distortion loss on the ray weights of the photo views, so that each
  ray's weight gathers at one depth (a surface) instead of spreading colour along the ray;
* ``grazing``: (low, high) cosines between the view ray and the encoder's surface normal; pixels of the head
  below ``low`` get no weight, above ``high`` full weight (the photo's silhouette pixels are what the xy plane
  stretches along z over the side of the head);
* ``side_delta_weight``: L2 of the side planes' change (relative to the planes' spread);
* ``side_tv_weight``: total variation along z of the side planes' change;
* ``front_delta_weight``: L2 of the xy plane's change;
* ``camera_lr``: a joint correction of the photo's camera (yaw, pitch, roll about the pivot, distance);
* the existing ``side_planes_lr_scale``, ``mirror_weight``, ``ws_lr``, ``steps``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from triplanenet import cameras
from triplanenet.models.generator import autocast
from triplanenet.refinement import RefineSettings, _Fit, _refined_name, check_steps
from triplanenet.rendering import samplers
from triplanenet.rendering.ray_marcher import expected_depth, finish_rgb, interval_weights, sample_weights
from triplanenet.rendering.rays import ray_bundle
from triplanenet.rendering.renderer import composite
from triplanenet.views import depth_normals


@dataclass(frozen=True)
class TurnSettings(RefineSettings):
    distortion_weight: float = 0.0
    grazing: tuple[float, float] | None = None
    side_delta_weight: float = 0.0
    side_tv_weight: float = 0.0
    front_delta_weight: float = 0.0
    camera_lr: float = 0.0


def render_with_weights(G, ws, planes, c, r):
    """``synthesis_scenes`` (deterministic, super-resolved) plus the interval weights [B,R,S-1,1] and sorted
    normalised sample depths [B,R,S,1] of every ray."""
    opt = G.renderer.options
    b = len(planes)
    views = len(c) // b
    cam2world, intrinsics = cameras.split(c)
    origins, directions = (x.reshape(b, views * r * r, 3) for x in ray_bundle(cam2world, intrinsics, r))
    renderer, decoder = G.renderer, G.decoder
    n, rays, _ = origins.shape
    depths = samplers.stratified(n, rays, opt["ray_start"], opt["ray_end"], opt["depth_resolution"], True,
                                 origins.device)
    colors, densities = renderer._decode_along(planes, decoder, origins, directions, depths)
    fine = samplers.importance(depths, interval_weights(densities, depths), opt["depth_resolution_importance"], True)
    colors_fine, densities_fine = renderer._decode_along(planes, decoder, origins, directions, fine)
    depths, order = torch.sort(torch.cat([depths, fine], dim=-2), dim=-2)
    weights = interval_weights(torch.gather(torch.cat([densities, densities_fine], -2), -2, order), depths)
    per_sample = torch.zeros_like(depths).scatter_(-2, order, sample_weights(weights))
    s = colors.shape[2]
    feats = composite(per_sample[:, :, :s], colors) + composite(per_sample[:, :, s:], colors_fine)
    opacity = weights.sum(2)
    feats = finish_rgb(feats, opacity, False)

    def image(x):
        return x.reshape(b * views, r * r, -1).permute(0, 2, 1).reshape(b * views, -1, r, r)

    features = image(feats)
    out = {"image_raw": features[:, :3], "image_opacity": image(opacity),
           "image_depth": image(expected_depth(weights, depths))}
    out["image"], _ = G.superresolution(features[:, :3], features, ws.repeat_interleave(views, dim=0),
                                        noise_mode=G.rendering_kwargs.get("superresolution_noise_mode", "none"))
    span = opt["ray_end"] - opt["ray_start"]
    return out, weights, (depths - opt["ray_start"]) / span


def distortion(weights: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """Mean over rays of mip-NeRF 360's distortion: sum_ij w_i w_j |m_i - m_j| + 1/3 sum_i w_i^2 d_i."""
    w = weights[..., 0]
    mid = (depths[:, :, 1:, 0] + depths[:, :, :-1, 0]) / 2
    width = depths[:, :, 1:, 0] - depths[:, :, :-1, 0]
    w_before = torch.cumsum(w, -1) - w
    wm_before = torch.cumsum(w * mid, -1) - w * mid
    cross = 2 * (w * (mid * w_before - wm_before)).sum(-1)
    return (cross + (w * w * width).sum(-1) / 3).mean()


def grazing_weights(depth: torch.Tensor, opacity: torch.Tensor, c: torch.Tensor, low: float, high: float,
                    size: int) -> torch.Tensor:
    """Per-pixel weights [V,1,size,size]: 0 where the ray meets the encoder's surface at cos(angle) <= low,
    1 at >= high; pixels where the encoder's head is transparent get 0 too (silhouette band)."""
    maps = []
    for d, o, cam in zip(depth[:, 0], opacity[:, 0], c):
        cam2world, K = cameras.split(cam[None])
        _, directions = ray_bundle(cam2world, K, d.shape[-1])
        normals = depth_normals(d.cpu(), cam.cpu())
        cos = -(normals * directions.reshape(*d.shape, 3)).sum(-1)
        w = ((cos - low) / (high - low)).clamp(0, 1) * (o.cpu() > 0.5)
        maps.append(w)
    w = torch.stack(maps)[:, None]
    return F.interpolate(w, size=(size, size), mode="bilinear", align_corners=False)


def corrected_cameras(c: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Photo cameras (even rows) and mirrors (odd rows) [2N,25] moved by ``delta`` [N,4] = (yaw, pitch, roll,
    log distance): yaw/pitch rotate the camera about the pivot, roll about its axis; mirror rows get the
    mirrored correction."""
    cam2world, K = cameras.split(c)
    pivot = torch.tensor(cameras.PIVOT, dtype=c.dtype, device=c.device)
    sign = torch.tensor([1.0, -1.0], device=c.device).repeat(len(delta))
    d = delta.repeat_interleave(2, 0)
    yaw, pitch, roll, logd = d[:, 0] * sign, d[:, 1], d[:, 2] * sign, d[:, 3]
    rot = _rot_y(yaw) @ _rot_x(pitch)
    position = cam2world[:, :3, 3] - pivot
    new_pos = (rot @ (position * torch.exp(logd)[:, None])[..., None])[..., 0] + pivot
    new_rot = rot @ cam2world[:, :3, :3] @ _rot_z(roll)
    top = torch.cat([new_rot, new_pos[..., None]], -1)
    bottom = cam2world[:, 3:, :]
    return cameras.label(torch.cat([top, bottom], 1), K)


def _rot_y(a):
    c, s, z, o = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(-1, 3, 3)


def _rot_x(a):
    c, s, z, o = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(-1, 3, 3)


def _rot_z(a):
    c, s, z, o = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)


class TurnFit(_Fit):
    def __init__(self, inversion, settings: TurnSettings):
        super().__init__(inversion, settings)
        self.front_init, *self.sides_init = (p.detach() for p in inversion.planes.unbind(1))
        self.plane_scale = float(inversion.planes.detach().std()) ** 2
        self.pixel_weights = self.weights
        if settings.grazing is not None:
            with torch.no_grad():
                out = self.G.synthesis_scenes(inversion.ws, inversion.planes, self.cameras, self.r,
                                              deterministic=True)
            mask_inside = grazing_weights(out["image_depth"], out["image_opacity"], self.cameras,
                                          *settings.grazing, self.targets.shape[-1]).to(self.targets.device)
            from triplanenet.refinement import head_mask
            mask = head_mask(out["image_opacity"], self.targets.shape[-1])
            self.pixel_weights = self.weights * (mask * mask_inside + (1 - mask))
        self.delta = torch.zeros(len(inversion), 4, requires_grad=True)
        if settings.camera_lr > 0:
            self.optimizer.add_param_group({"params": [self.delta], "lr": settings.camera_lr})

    def step(self) -> float:
        G, settings, planes = self.G, self.settings, self.planes
        c = corrected_cameras(self.cameras, self.delta) if settings.camera_lr > 0 else self.cameras
        with autocast(planes.device, settings.fast):
            if settings.distortion_weight > 0:
                out, weights, depths = render_with_weights(G, self.ws, planes, c, self.r)
            else:
                out = G.synthesis_scenes(self.ws, planes, c, self.r, deterministic=True)
        image = out["image"]
        photo_loss = ((image.float() - self.targets).abs() * self.pixel_weights).mean()
        box = float(G.rendering_kwargs["box_warp"])
        points = (torch.rand(len(planes), settings.density_points, 3, generator=self.points) - 0.5) * box
        sigma = G.sample_mixed(points, None, self.ws, planes=planes)["sigma"]
        with torch.no_grad():
            sigma_initial = G.sample_mixed(points, None, self.inversion.ws, planes=self.inversion.planes)["sigma"]
        loss = photo_loss + settings.density_weight * (sigma - sigma_initial).abs().mean()
        if settings.distortion_weight > 0:
            loss = loss + settings.distortion_weight * distortion(weights.float(), depths)
        if settings.side_delta_weight > 0:
            loss = loss + settings.side_delta_weight * sum(
                (s - s0).pow(2).mean() for s, s0 in zip(self.sides, self.sides_init)) / self.plane_scale
        if settings.front_delta_weight > 0:
            loss = loss + settings.front_delta_weight * (self.front - self.front_init).pow(2).mean() / self.plane_scale
        if settings.side_tv_weight > 0:
            # plane 1 is (x, z): z along H; plane 2 is (z, x): z along W
            d1 = self.sides[0] - self.sides_init[0]
            d2 = self.sides[1] - self.sides_init[1]
            tv = (d1[..., 1:, :] - d1[..., :-1, :]).abs().mean() + (d2[..., 1:] - d2[..., :-1]).abs().mean()
            loss = loss + settings.side_tv_weight * tv / self.plane_scale ** 0.5
        variables = [self.front, *self.sides, self.ws] + ([self.delta] if settings.camera_lr > 0 else [])
        for variable, gradient in zip(variables, torch.autograd.grad(loss, variables, allow_unused=True)):
            variable.grad = gradient
        self.optimizer.step()
        return float(photo_loss.detach())

    def snapshot(self):
        camera = self.inversion.camera
        if self.settings.camera_lr > 0:
            camera = corrected_cameras(self.cameras, self.delta.detach())[0::2]
        return replace(self.inversion, ws=self.ws.detach().clone(), planes=self.planes.detach(), camera=camera,
                       method=_refined_name(self.inversion.method), neural_rendering_resolution=self.r)


def turn_refine(inversion, settings: TurnSettings):
    fit = TurnFit(inversion, settings)
    for _ in range(check_steps(settings.steps)):
        fit.step()
    return fit.snapshot(), fit.delta.detach().clone()
