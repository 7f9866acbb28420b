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
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import configs
from ..inversion import resize_images
from ..models.generator import TriPlaneGenerator
from ..synthetic import SIZE, HeadParams, render, sample_cameras, sample_params
from .data import EMPTY_SPACE, Batch, step_generator, with_background
from .losses import LPIPS

NORMALIZATION_NAME = "head_params.json"
STATISTICS_SAMPLES = 4096


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorTrainConfig":
        return cls(**{**data, "weights": GeneratorLossWeights(**data.get("weights", {}))})


class GeneratorTask:
    """Supervised training of ``generator`` on synthetic heads (a :class:`~.loop.Task`)."""

    def __init__(self, generator: TriPlaneGenerator, config: GeneratorTrainConfig, lpips: LPIPS | None = None,
                 statistics: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        if generator.z_dim != SIZE:
            raise ValueError(f"the generator's z_dim is {generator.z_dim}; head parameters have {SIZE} numbers")
        self.model, self.config, self.lpips = generator, config, lpips
        self.mean, self.std = statistics if statistics is not None else param_statistics()

    @property
    def device(self) -> torch.device:
        return self.model.backbone.mapping.w_avg.device

    def trainable(self) -> torch.nn.Module:
        return self.model

    def prepare(self) -> None:
        self.model.train().requires_grad_(True)
        if self.lpips is not None:
            self.lpips.to(self.device)

    def normalize(self, params: torch.Tensor) -> torch.Tensor:
        """Head parameters [B,97] -> the generator's z [B,97] (zero mean, unit variance over heads)."""
        return (params - self.mean.to(params.device)) / self.std.to(params.device)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        """``params`` [B,97], and per view (N = B*views, head-major): ``camera`` [N,25], ground-truth
        ``image`` [N,3,R,R] (background replaced when configured), ``depth`` and ``mask`` [N,1,R,R]."""
        g = step_generator(self.config.seed, step, rank)
        params = sample_params(self.config.batch, g)
        camera = sample_cameras(self.config.batch * self.config.views, g)
        per_view = HeadParams.from_tensor(params.to_tensor().repeat_interleave(self.config.views, dim=0))
        out = render(per_view, camera, self.model.img_resolution, shadows=self.config.shadows)
        image = out["image"]
        if self.config.background is not None:
            image = with_background(image, out["mask"], self.config.background)
        data = {"params": params.to_tensor(), "camera": camera, "image": image, "depth": out["depth"],
                "mask": out["mask"]}
        return {key: value.to(self.device) for key, value in data.items()}

    def forward(self, params: torch.Tensor, camera: torch.Tensor) -> dict[str, torch.Tensor]:
        """One tri-plane per head ``params`` [B,97], rendered from ``camera`` [B*views,25] (head-major)."""
        views = len(camera) // len(params)
        ws = self.model.mapping(self.normalize(params), camera[::views])
        planes = self.model.planes(ws)
        return self.model.synthesis(ws.repeat_interleave(views, dim=0), camera,
                                    planes=planes.repeat_interleave(views, dim=0),
                                    deterministic=self.config.deterministic_render)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the supervised terms (see module doc) and every term's value."""
        out = self.forward(batch["params"], batch["camera"])
        terms = self.terms(out, batch)
        w = asdict(self.config.weights)
        total = sum(w[name] * value for name, value in terms.items())
        return total, {"loss": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def terms(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        """Unweighted loss terms of generator outputs ``out`` against ``batch``."""
        r = out["image_depth"].shape[-1]
        mask = resize_images(batch["mask"], r)
        inside = (mask > 0.999).float()
        depth_error = (out["image_depth"] - resize_images(batch["depth"], r)).abs() * inside
        terms = {"image": F.l1_loss(out["image"], batch["image"]),
                 "image_raw": F.l1_loss(out["image_raw"], resize_images(batch["image"], out["image_raw"].shape[-1])),
                 "depth": depth_error.sum() / inside.sum().clamp(min=1),
                 "opacity": F.l1_loss(out["image_opacity"], mask)}
        if self.lpips is not None:
            terms["lpips"] = self.lpips(out["image"], batch["image"]).mean()
        return terms

    def config_dict(self) -> dict[str, Any]:
        return {"generator_training": asdict(self.config), "generator": self.model.get_config(),
                "param_mean": self.mean.tolist(), "param_std": self.std.tolist()}

    def finish(self, out_dir: Path) -> None:
        """Save the generator (``load_generator(out_dir)``) and the parameter normalisation next to it."""
        self.model.save_pretrained(out_dir)
        normalization = {"mean": self.mean.tolist(), "std": self.std.tolist()}
        (Path(out_dir) / NORMALIZATION_NAME).write_text(json.dumps(normalization))
