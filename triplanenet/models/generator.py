"""EG3D's tri-plane generator, assembled from the backbone, decoder, renderer
and super-resolution modules.

Glossary (used throughout the package):

* ``z`` [N,z_dim]: the latent code; ``c`` [N,25]: a camera label (see
  :mod:`triplanenet.cameras`), used both to condition the mapping network and
  to render.
* ``ws`` [N,num_ws,w_dim]: one w vector per synthesis layer (w+ space, 14 for
  FFHQ-512). Inversion encoders predict these.
* ``planes`` [N,3,32,256,256]: the tri-plane, the backbone's 96-channel output
  viewed as 3 planes of 32 channels.
* ``neural_rendering_resolution``: the side of the volume-rendered feature
  image (128 or 64 for FFHQ), which super-resolution lifts to
  ``img_resolution`` (512).
* ``sigma``: raw decoder density at a point; the renderer uses
  ``softplus(sigma - 1)``.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .. import cameras
from ..devices import autocast
from ..pretrained import Pretrained
from ..rendering import ImportanceRenderer, ray_bundle
from .decoder import OSGDecoder
from .stylegan2 import StyleGAN2Backbone
from .superresolution import SuperResolution

PLANE_FEATURES = 32


class TriPlaneGenerator(nn.Module, Pretrained):
    """``(z, c) -> image [N,3,512,512]`` via tri-planes, volume rendering and super-resolution.

    Constructed from the official ``init_kwargs`` (the published snapshots
    store them), so sizes are configuration: the full FFHQ model and the small
    bundled one are this class with two configs (:mod:`triplanenet.configs`).
    ``rendering_kwargs`` holds the renderer's options; checkpoints may carry an
    updated copy, which the loader installs.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int = 3,
                 sr_num_fp16_res: int = 0, mapping_kwargs: dict | None = None,
                 rendering_kwargs: dict | None = None, sr_kwargs: dict | None = None, **synthesis_kwargs):
        super().__init__()
        self.init_kwargs = copy.deepcopy(dict(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            sr_num_fp16_res=sr_num_fp16_res, mapping_kwargs=mapping_kwargs or {},
            rendering_kwargs=rendering_kwargs or {}, sr_kwargs=sr_kwargs or {}, **synthesis_kwargs))
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.rendering_kwargs = copy.deepcopy(rendering_kwargs or {})
        self.backbone = StyleGAN2Backbone(z_dim, c_dim, w_dim, img_resolution=256,
                                          img_channels=3 * PLANE_FEATURES, mapping_kwargs=mapping_kwargs,
                                          **synthesis_kwargs)
        self.superresolution = SuperResolution(
            self.rendering_kwargs["superresolution_module"], channels=PLANE_FEATURES,
            img_resolution=img_resolution, sr_num_fp16_res=sr_num_fp16_res,
            sr_antialias=self.rendering_kwargs.get("sr_antialias", True), w_dim=w_dim, **(sr_kwargs or {}))
        self.decoder = OSGDecoder(PLANE_FEATURES, self.rendering_kwargs.get("decoder_lr_mul", 1.0), PLANE_FEATURES)
        self.neural_rendering_resolution = 64
        self.num_ws = self.backbone.num_ws

    def get_config(self) -> dict[str, Any]:
        return {"init_kwargs": self.init_kwargs, "rendering_kwargs": self.rendering_kwargs,
                "neural_rendering_resolution": self.neural_rendering_resolution}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TriPlaneGenerator":
        G = cls(**config["init_kwargs"])
        G.rendering_kwargs = copy.deepcopy(config.get("rendering_kwargs", G.rendering_kwargs))
        G.neural_rendering_resolution = config.get("neural_rendering_resolution", G.neural_rendering_resolution)
        return G

    @property
    def renderer(self) -> ImportanceRenderer:
        return ImportanceRenderer(self.rendering_kwargs)

    def mapping(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        """``z`` [N,z_dim], ``c`` [N,25] -> ``ws`` [N,num_ws,w_dim] (truncated toward ``w_avg`` by psi)."""
        if self.rendering_kwargs.get("c_gen_conditioning_zero"):
            c = torch.zeros_like(c)
        c = c * self.rendering_kwargs.get("c_scale", 0)
        return self.backbone.mapping(z, c, truncation_psi=truncation_psi,
                                     truncation_cutoff=truncation_cutoff, update_emas=update_emas)

    def planes(self, ws: torch.Tensor, noise_mode: str = "const", fast: bool = False) -> torch.Tensor:
        """``ws`` [N,num_ws,w_dim] -> tri-planes [N,3,32,256,256] (float32)."""
        with autocast(ws.device, fast):
            planes = self.backbone.synthesis(ws, noise_mode=noise_mode)
        return planes.float().contiguous().reshape(len(planes), 3, PLANE_FEATURES, *planes.shape[-2:])

    def synthesis(self, ws: torch.Tensor, c: torch.Tensor, neural_rendering_resolution: int | None = None,
                  noise_mode: str = "const", deterministic: bool = False, planes: torch.Tensor | None = None,
                  fast: bool = False, update_emas: bool = False, **_official_only: Any) -> dict[str, torch.Tensor]:
        """Render ``ws`` from cameras ``c`` [N,25].

        Pass ``planes`` (e.g. cached, or corrected by an inversion network) to
        skip the backbone. ``deterministic`` removes the renderer's random
        sampling; ``fast`` runs the convolutions and MLP in bfloat16 (CPU) or
        float16 (CUDA). Returns ``image`` [N,3,R,R] in [-1, 1], ``image_raw``
        [N,3,r,r], ``image_depth`` [N,1,r,r], ``image_opacity`` [N,1,r,r],
        ``feature_image`` [N,32,r,r] and ``planes``, with R =
        ``img_resolution`` and r = ``neural_rendering_resolution``.
        Other keyword arguments of the official method (``cache_backbone``,
        ``use_cached_backbone``) are accepted and ignored: pass ``planes`` instead.
        """
        r = neural_rendering_resolution or self.neural_rendering_resolution
        if planes is None:
            planes = self.planes(ws, noise_mode, fast)
        cam2world, intrinsics = cameras.split(c)
        origins, directions = ray_bundle(cam2world, intrinsics, r)
        with autocast(ws.device, fast):
            out = self.renderer(planes, self.decoder, origins, directions, deterministic)
        n = len(c)
        feature_image = out.features.permute(0, 2, 1).reshape(n, -1, r, r).float().contiguous()
        with autocast(ws.device, fast):
            image, image_raw = self.superresolution(
                feature_image[:, :3], feature_image, ws,
                noise_mode=self.rendering_kwargs.get("superresolution_noise_mode", "none"))
        return {
            "image": image.float(),
            "image_raw": image_raw.float(),
            "image_depth": out.depth.permute(0, 2, 1).reshape(n, 1, r, r).float(),
            "image_opacity": out.opacity.permute(0, 2, 1).reshape(n, 1, r, r).float(),
            "feature_image": feature_image,
            "planes": planes,
        }

    def synthesis_scenes(self, ws: torch.Tensor, planes: torch.Tensor, c: torch.Tensor,
                         neural_rendering_resolution: int | None = None, rays: torch.Tensor | None = None,
                         super_resolve: bool = True, deterministic: bool = False) -> dict[str, torch.Tensor]:
        """Each head's tri-plane ``planes`` [B,3,C,H,W] seen from its ``V`` cameras ``c`` [B*V,25] (head-major)
        as one scene: the views' rays are concatenated, so the planes are never copied per view (training
        and per-photo refinement render several views of one head at every step).

        With ``rays`` [B,K] (indices into a head's V*r*r pixel rays, view-major) only those rays are rendered
        and the outputs are per ray: ``image_raw`` [B,K,3], ``image_depth``, ``image_opacity`` and
        ``image_distortion`` (how far each ray's weight spreads along it) [B,K,1].
        Otherwise images: ``image_raw`` [N,3,r,r], ``image_depth`` / ``image_opacity`` / ``image_distortion``
        [N,1,r,r] (N = B*V)
        and, when ``super_resolve``, ``image`` [N,3,R,R] (what :meth:`synthesis` returns for the same
        cameras). ``image_raw`` is always the volume-rendered colour itself (the 2X module's raw output adds
        its first block's RGB at r = 64).
        """
        b, r = len(planes), neural_rendering_resolution or self.neural_rendering_resolution
        views = len(c) // b
        cam2world, intrinsics = cameras.split(c)
        origins, directions = (x.reshape(b, views * r * r, 3) for x in ray_bundle(cam2world, intrinsics, r))
        if rays is not None:
            index = rays.unsqueeze(-1).expand(-1, -1, 3)
            origins, directions = origins.gather(1, index), directions.gather(1, index)
        out = self.renderer(planes, self.decoder, origins, directions, deterministic)
        if rays is not None:
            return {"image_raw": out.features[..., :3], "image_depth": out.depth, "image_opacity": out.opacity,
                    "image_distortion": out.distortion}

        def image(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(b * views, r * r, -1).permute(0, 2, 1).reshape(b * views, -1, r, r)

        features = image(out.features)
        result = {"image_raw": features[:, :3], "image_depth": image(out.depth), "image_opacity": image(out.opacity),
                  "image_distortion": image(out.distortion)}
        if super_resolve:
            result["image"], _ = self.superresolution(
                features[:, :3], features, ws.repeat_interleave(views, dim=0),
                noise_mode=self.rendering_kwargs.get("superresolution_noise_mode", "none"))
        return result

    def sample_mixed(self, coordinates: torch.Tensor, directions: torch.Tensor | None, ws: torch.Tensor,
                     planes: torch.Tensor | None = None, noise_mode: str = "const",
                     **_official_only: Any) -> dict[str, torch.Tensor]:
        """Decode points ``coordinates`` [N,M,3] (world units) -> ``sigma`` [N,M,1], ``rgb`` [N,M,32].

        ``directions`` is accepted for compatibility; the decoder ignores view
        direction. Pass ``planes`` to avoid re-running the backbone.
        """
        if planes is None:
            planes = self.planes(ws, noise_mode)
        return self.renderer.query(planes, self.decoder, coordinates)

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, neural_rendering_resolution: int | None = None,
                **synthesis_kwargs: Any) -> dict[str, torch.Tensor]:
        """``G(z, c)``: mapping then synthesis, conditioned on and rendered from ``c``."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, c, neural_rendering_resolution=neural_rendering_resolution, **synthesis_kwargs)
