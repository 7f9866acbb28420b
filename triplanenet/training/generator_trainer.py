"""Training the bundled model's small EG3D generator on synthetic heads, with full supervision.

The generator is conditional: its ``z`` is a head's 97 parameters, normalised
with fixed statistics (:func:`param_statistics`), so a trained generator turns
parameters into tri-planes. Each step draws ``batch`` heads and ``views``
cameras per head (from ``(seed, step, rank)``), renders the ground truth with
:func:`triplanenet.synthetic.render` at the generator's resolution, computes one
tri-plane per head and renders it from every camera. Losses:

* L1 of ``image`` [N,3,R,R] and of ``image_raw`` against the ground truth (resized to
  the raw image's size: r, or the input size of 2X/4X super-resolution, which
  resamples the raw render), plus LPIPS of ``image`` when its weights exist;
* L1 of ``image_depth`` against the true depth, on pixels fully inside the head;
* L1 of ``image_opacity`` against the head's mask.

By default the ground-truth background is replaced by black (-1:
:data:`~.data.EMPTY_SPACE`, what the renderer shows through empty space), so
colours, depth and opacity agree.

The fast path (``cache_heads`` > 0, what ``make bundled`` uses) differs in four ways,
each measured in ``benchmarks/bench_training.py``:

* ground truth comes from a :class:`~.data.GroundTruthCache` rendered once
  (``cache_heads`` heads x ``cache_views`` cameras, reproducible by seed) instead of
  being sphere-traced every step; each step picks ``views`` of a head's cached cameras;
* all views of a head are rendered as one scene against its one tri-plane
  (:meth:`~triplanenet.models.generator.TriPlaneGenerator.synthesis_scenes`: rays concatenated, no
  per-view copies of the planes);
* before step ``sr_start`` only the raw render is supervised and super-resolution
  is not run at all (its terms and LPIPS join from ``sr_start`` on);
* with ``rays`` > 0, those steps render only ``rays`` random pixels per view.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import configs
from ..image_tensors import EMPTY_SPACE, resize_images, with_background
from ..models.generator import TriPlaneGenerator
from ..synthetic import SIZE, HeadParams, render, sample_cameras, sample_params
from ..synthetic.codes import HeadCodes
from .data import Batch, CacheSpec, GroundTruthCache, batch_indices, step_generator
from ..models.lpips import LPIPS

STATISTICS_SAMPLES = 4096
INSIDE = 0.999
"""Pixels whose (area-averaged) mask exceeds this are fully inside the head: depth is supervised there."""
EVAL_MESH_RESOLUTION = 64
"""Lattice of the Chamfer meshes logged during training (``triplanenet evaluate`` uses 128)."""


def param_statistics(samples: int = STATISTICS_SAMPLES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation [97] of the head parameters of ``samples`` seeded heads (std >= 1e-3)."""
    flat = sample_params(samples, torch.Generator().manual_seed(seed)).to_tensor()
    return flat.mean(dim=0), flat.std(dim=0).clamp(min=1e-3)


def build_generator(name: str = "bundled") -> TriPlaneGenerator:
    """A freshly initialised generator of the named config (:mod:`triplanenet.configs`)."""
    init_kwargs, resolution = configs.get(name)
    generator = TriPlaneGenerator(**init_kwargs)
    generator.neural_rendering_resolution = resolution
    return generator


@dataclass
class GeneratorLossWeights:
    """Multipliers of the supervised terms."""

    image: float = 1.0
    image_raw: float = 1.0
    lpips: float = 0.5
    depth: float = 1.0
    opacity: float = 2.0


@dataclass
class GeneratorTrainConfig:
    """Heads per step and process (``batch``), cameras per head (``views``), and the supervision."""

    batch: int = 4
    views: int = 2
    seed: int = 0
    background: float | None = EMPTY_SPACE
    shadows: bool = True
    deterministic_render: bool = False
    weights: GeneratorLossWeights = field(default_factory=GeneratorLossWeights)
    cache_heads: int = 0
    cache_views: int = 4
    cache_dir: str = ""
    one_scene: bool = False
    sr_start: int = 0
    rays: int = 0
    eval_heads: int = 4

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorTrainConfig":
        return cls(**{**data, "weights": GeneratorLossWeights(**data.get("weights", {}))})


def pixels_of(images: torch.Tensor, rays: torch.Tensor) -> torch.Tensor:
    """Images [B*V,C,r,r] (head-major) read at ray indices ``rays`` [B,K] (view-major per head) -> [B,K,C]."""
    b = len(rays)
    flat = images.reshape(b, -1, images.shape[1], images.shape[-2] * images.shape[-1])
    flat = flat.permute(0, 1, 3, 2).reshape(b, -1, images.shape[1])
    return flat.gather(1, rays.unsqueeze(-1).expand(-1, -1, images.shape[1]))


class GeneratorTask:
    """Supervised training of ``generator`` on synthetic heads (a :class:`~.loop.Task`)."""

    def __init__(self, generator: TriPlaneGenerator, config: GeneratorTrainConfig, lpips: LPIPS | None = None,
                 statistics: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        if generator.z_dim != SIZE:
            raise ValueError(f"the generator's z_dim is {generator.z_dim}; head parameters have {SIZE} numbers")
        if config.cache_heads and config.views > config.cache_views:
            raise ValueError(f"--views {config.views} exceeds the {config.cache_views} cached views per head: "
                             f"raise --cache-views or lower --views")
        self.model, self.config, self.lpips = generator, config, lpips
        self.codes = HeadCodes(*(statistics if statistics is not None else param_statistics()))
        self.cache = self._cache() if config.cache_heads else None
        self._held_out: list[tuple[Any, Any]] | None = None
        self.last_step = -1

    def _cache(self) -> GroundTruthCache:
        if not self.config.cache_dir:
            raise ValueError("a ground-truth cache needs a folder (cache_dir)")
        spec = CacheSpec(self.config.cache_heads, self.config.cache_views, self.model.img_resolution,
                         self.model.neural_rendering_resolution, self.config.seed, self.config.shadows,
                         self.config.background)
        return GroundTruthCache(self.config.cache_dir, spec)

    @property
    def device(self) -> torch.device:
        return self.model.backbone.mapping.w_avg.device

    def trainable(self) -> torch.nn.Module:
        return self.model

    def prepare(self) -> None:
        self.model.train().requires_grad_(True)
        if self.lpips is not None:
            self.lpips.to(self.device)
        if self.cache is not None and self.cache.data is None:
            self.cache.build(progress=True)
            self.cache.load()

    def normalize(self, params: torch.Tensor) -> torch.Tensor:
        """Head parameters [B,97] -> the generator's z [B,97] (zero mean, unit variance over heads)."""
        return self.codes.z(params)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        """``params`` [B,97], ``step`` [] and per view (N = B*views, head-major): ``camera`` [N,25],
        ground-truth ``image`` [N,3,R,R] (background replaced when configured), ``depth`` and ``mask``
        [N,1,R,R] (from the cache: [N,1,r,r], with ``raw`` [N,3,r,r]); with ray batches, ``rays`` [B,K]."""
        self.last_step = step
        data = self._cached_batch(step, rank, world) if self.cache is not None else self._rendered_batch(step, rank)
        data["step"] = torch.tensor(step)
        if self._ray_step(step):
            g = step_generator(self.config.seed, step, rank)
            total = self.config.views * self.model.neural_rendering_resolution ** 2
            rays = torch.rand(self.config.batch, total, generator=g).argsort(dim=1)
            data["rays"] = rays[:, :self.config.rays * self.config.views]
        return {key: value.to(self.device) for key, value in data.items()}

    def _ray_step(self, step: int) -> bool:
        return self.config.rays > 0 and step < self.config.sr_start

    def _cached_batch(self, step: int, rank: int, world: int) -> Batch:
        heads = batch_indices(len(self.cache), self.config.batch, self.config.seed, step, rank, world)
        g = step_generator(self.config.seed, step, rank)
        order = torch.rand(len(heads), self.config.cache_views, generator=g).argsort(dim=1)
        return self.cache.batch(heads, order[:, :self.config.views])

    def _rendered_batch(self, step: int, rank: int) -> Batch:
        g = step_generator(self.config.seed, step, rank)
        params = sample_params(self.config.batch, g)
        camera = sample_cameras(self.config.batch * self.config.views, g)
        per_view = HeadParams.from_tensor(params.to_tensor().repeat_interleave(self.config.views, dim=0))
        out = render(per_view, camera, self.model.img_resolution, shadows=self.config.shadows)
        image = out["image"]
        if self.config.background is not None:
            image = with_background(image, out["mask"], self.config.background)
        return {"params": params.to_tensor(), "camera": camera, "image": image, "depth": out["depth"],
                "mask": out["mask"]}

    def forward(self, params: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        """One tri-plane per head ``params`` [B,97], rendered from ``camera`` [B*views,25] (head-major)."""
        views = len(camera) // len(params)
        ws = self.model.mapping(self.normalize(params), camera[::views])
        planes = self.model.planes(ws)
        return self.model.synthesis(ws.repeat_interleave(views, dim=0), camera,
                                    planes=planes.repeat_interleave(views, dim=0),
                                    deterministic=self.config.deterministic_render)

    def forward_scene(self, params: torch.Tensor, camera: torch.Tensor, rays: torch.Tensor | None,
                      super_resolve: bool) -> dict[str, torch.Tensor]:
        """Like :meth:`forward`, every head's views rendered as one scene (``synthesis_scenes``)."""
        views = len(camera) // len(params)
        ws = self.model.mapping(self.normalize(params), camera[::views])
        return self.model.synthesis_scenes(ws, self.model.planes(ws), camera, rays=rays, super_resolve=super_resolve,
                                           deterministic=self.config.deterministic_render)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the supervised terms (see module doc) and every term's value."""
        if self.config.one_scene:
            super_resolve = int(batch["step"]) >= self.config.sr_start
            out = self.forward_scene(batch["params"], batch["camera"], batch.get("rays"), super_resolve)
        else:
            out = self.forward(batch["params"], batch["camera"])
        terms = self.ray_terms(out, batch) if "rays" in batch else self.terms(out, batch)
        w = asdict(self.config.weights)
        total = sum(w[name] * value for name, value in terms.items())
        return total, {"loss": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def terms(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        """Unweighted loss terms of generator outputs ``out`` against ``batch``."""
        r = out["image_depth"].shape[-1]
        mask = resize_images(batch["mask"], r)
        inside = (mask > INSIDE).float()
        depth_error = (out["image_depth"] - resize_images(batch["depth"], r)).abs() * inside
        raw_size = out["image_raw"].shape[-1]
        raw = batch["raw"] if "raw" in batch and batch["raw"].shape[-1] == raw_size else None
        terms = {"image_raw": F.l1_loss(out["image_raw"], raw if raw is not None
                                        else resize_images(batch["image"], raw_size)),
                 "depth": depth_error.sum() / inside.sum().clamp(min=1),
                 "opacity": F.l1_loss(out["image_opacity"], mask)}
        if "image" in out:
            terms["image"] = F.l1_loss(out["image"], batch["image"])
            if self.lpips is not None:
                terms["lpips"] = self.lpips(out["image"], batch["image"]).mean()
        return terms

    def ray_terms(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        """The raw, depth and opacity terms on the sampled rays ``batch["rays"]`` [B,K] only."""
        rays, r = batch["rays"], self.model.neural_rendering_resolution
        raw = batch["raw"] if "raw" in batch else resize_images(batch["image"], r)
        mask = pixels_of(resize_images(batch["mask"], r), rays)
        inside = (mask > INSIDE).float()
        depth_error = (out["image_depth"] - pixels_of(resize_images(batch["depth"], r), rays)).abs() * inside
        return {"image_raw": F.l1_loss(out["image_raw"], pixels_of(raw, rays)),
                "depth": depth_error.sum() / inside.sum().clamp(min=1),
                "opacity": F.l1_loss(out["image_opacity"], mask)}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out heads ``0..eval_heads-1`` of ``triplanenet evaluate`` rendered from their true parameters:
        mean same-view and novel-view PSNR (dB) and Chamfer (% of the box, meshes at
        :data:`EVAL_MESH_RESOLUTION`). ``psnr_sr`` scores the super-resolved image, ``psnr_raw`` the raw render
        upsampled bilinearly; ``psnr`` and ``psnr_novel`` score the image the model is trained to show: the
        super-resolved one once its training has started (``sr_start``), the upsampled raw one before."""
        from ..evaluation import chamfer_distance, ground_truth, psnr, surface_mesh
        from ..outputs.geometry import LEVEL
        from ..outputs.surface import extract_mesh

        self.model.eval()
        box = self.model.rendering_kwargs["box_warp"]
        if self._held_out is None:
            self._held_out = [(truth, surface_mesh(truth.params, EVAL_MESH_RESOLUTION, box))
                              for truth in (ground_truth(seed, self.model.img_resolution)
                                            for seed in range(self.config.eval_heads))]
        super_resolved = not self.config.one_scene or self.last_step >= self.config.sr_start
        same, novel, same_raw, same_sr, chamfer = [], [], [], [], []
        for truth, truth_mesh in self._held_out:
            ws = self.model.mapping(self.normalize(truth.params.to_tensor()), truth.cameras[:1])
            planes = self.model.planes(ws)
            out = self.model.synthesis(ws.expand(len(truth.cameras), -1, -1), truth.cameras,
                                       planes=planes.expand(len(truth.cameras), -1, -1, -1, -1), deterministic=True)
            raw = F.interpolate(out["feature_image"][:, :3], size=truth.image.shape[-1], mode="bilinear",
                                align_corners=False)
            sr_scores, raw_scores = psnr(out["image"], truth.image), psnr(raw, truth.image)
            scores = sr_scores if super_resolved else raw_scores
            same.append(float(scores[0]))
            novel.append(float(scores[1:].mean()))
            same_raw.append(float(raw_scores[0]))
            same_sr.append(float(sr_scores[0]))
            mesh = extract_mesh(lambda p: self._field(p, planes), EVAL_MESH_RESOLUTION, box, level=LEVEL,
                                colors=False)
            if len(mesh.faces) and len(truth_mesh.faces):
                chamfer.append(100 * chamfer_distance(mesh, truth_mesh) / box)
        return {"psnr": sum(same) / len(same), "psnr_novel": sum(novel) / len(novel),
                "psnr_raw": sum(same_raw) / len(same_raw), "psnr_sr": sum(same_sr) / len(same_sr),
                "chamfer_percent": sum(chamfer) / len(chamfer) if chamfer else float("nan"),
                "chamfer_heads": len(chamfer), "cache_cpu_hours": self.cache.cpu_hours if self.cache else 0.0}

    def _field(self, points: torch.Tensor, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Density and colour of points [M,3] in one head's ``planes`` [1,3,C,H,W]."""
        out = self.model.renderer.query(planes, self.model.decoder, points[None])
        return out["sigma"][0], out["rgb"][0, :, :3]

    def config_dict(self) -> dict[str, Any]:
        return {"generator_training": asdict(self.config), "generator": self.model.get_config(),
                "param_mean": self.codes.mean.tolist(), "param_std": self.codes.std.tolist()}

    def finish(self, out_dir: Path) -> None:
        """Save the generator (``load_generator(out_dir)``) and the parameter normalisation next to it."""
        self.model.save_pretrained(out_dir)
        self.codes.save(out_dir)
