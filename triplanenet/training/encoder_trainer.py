"""Training TriPlaneNet's encoders, in the paper's two stages, and a third that polishes the generator's
super-resolution for them.

With x the input resized to 256 and c its camera:

* stage 1 trains ``psp_encoder`` alone (generator frozen): the render ``y`` of
  ``planes(psp(x) + latent_avg)`` at c should match x (L2, LPIPS, identity);
  with augmentations, x is augmented and renders are compared with the clean image;
* stage 2 freezes pSp, computes the codes and initial tri-planes without
  gradients (detached), and trains ``triplanenet_encoder``: the render of the
  refined tri-planes at c should match x (smooth L1, LPIPS, identity);
* stage 3 (not in the paper) freezes both encoders and trains the generator's
  super-resolution (``decoder.superresolution``) with stage 2's losses on the
  tri-plane branch's inversions. Encoders adapt to the super-resolution they were
  trained through, so it is polished on their codes and planes, not the generator's own.

v2 adds mirror terms in every stage: the planes rendered at
``cameras.mirror(c)`` should match ``flip(x)`` (faces are probably symmetric),
with the same losses scaled by ``weights.mirror``. The default weights are the
official training options' (L2/smooth-L1 1, LPIPS 0.8, identity 0.1, mirror 0.1).
LPIPS and identity terms are left out when their networks are not given.

Not in the paper: ``weights.opacity`` (default 0) adds the L1 distance between the
rendered opacity at c and the ground-truth mask, for data that has masks (synthetic
heads). Image losses alone let a small generator paint a head with thin density
(codes whose density never reaches the mesh level); this term asks for an opaque head.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import cameras
from ..image_tensors import resize_images
from ..models.triplanenet import PLANE_RESOLUTION, TriPlaneNet
from .data import AugmentConfig, Batch, Source, augment, batch_indices, step_generator
from ..models.lpips import LPIPS
from .losses import IdentityLoss, l2_loss, smooth_l1_loss

AUGMENT_STREAM = 1 << 20
"""Rank offset of the augmentation generator, so it never coincides with the batch generator."""
STAGES = {1: "psp_encoder", 2: "triplanenet_encoder", 3: "decoder.superresolution"}
"""The module each stage trains (everything else is frozen)."""


@dataclass
class EncoderLossWeights:
    """Loss multipliers per branch (``psp``: stage 1, ``triplane``: stages 2 and 3); ``mirror`` scales v2's mirror
    terms."""

    l2_psp: float = 1.0
    lpips_psp: float = 0.8
    id_psp: float = 0.1
    l1_triplane: float = 1.0
    lpips_triplane: float = 0.8
    id_triplane: float = 0.1
    mirror: float = 0.1
    opacity: float = 0.0


@dataclass
class EncoderTrainConfig:
    """What stage to train and how (saved with checkpoints)."""

    stage: int = 1
    batch: int = 2
    loss_resolution: int = PLANE_RESOLUTION
    deterministic_render: bool = False
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    weights: EncoderLossWeights = field(default_factory=EncoderLossWeights)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {sorted(STAGES)}, got {self.stage!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EncoderTrainConfig":
        augment_data = data.get("augment")
        return cls(**{**data, "augment": AugmentConfig(**augment_data) if augment_data else None,
                      "weights": EncoderLossWeights(**data.get("weights", {}))})


@dataclass
class Outputs:
    """Renders of one training forward pass: ``image`` [N,3,256,256] and ``opacity`` [N,1,r,r] (r: neural
    rendering resolution) at c, and ``mirror`` at mirror(c) (v2)."""

    image: torch.Tensor
    opacity: torch.Tensor
    mirror: torch.Tensor | None
    codes: torch.Tensor


class EncoderTask:
    """Stage 1, 2 or 3 of TriPlaneNet training on ``source`` (a :class:`~.loop.Task`)."""

    def __init__(self, model: TriPlaneNet, source: Source, config: EncoderTrainConfig,
                 lpips: LPIPS | None = None, identity: IdentityLoss | None = None) -> None:
        self.model, self.source, self.config = model, source, config
        self.lpips, self.identity = lpips, identity

    @property
    def device(self) -> torch.device:
        return self.model.latent_avg.device

    def trainable(self) -> torch.nn.Module:
        return self.model.get_submodule(STAGES[self.config.stage])

    def prepare(self) -> None:
        """Everything frozen and in eval mode except the trained module; loss networks follow the device."""
        self.model.eval().requires_grad_(False)
        self.trainable().train().requires_grad_(True)
        for module in (self.lpips, self.identity):
            if module is not None:
                module.to(self.device)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> Batch:
        """This rank's (augmented) batch at ``step``, on the model's device."""
        indices = batch_indices(len(self.source), self.config.batch, self.config.seed, step, rank, world)
        data = self.source.batch(indices)
        if self.config.augment is not None:
            data = augment(data, self.config.augment, step_generator(self.config.seed, step, AUGMENT_STREAM + rank))
        return {key: value.to(self.device) for key, value in data.items()}

    def forward(self, x: torch.Tensor, camera: torch.Tensor) -> Outputs:
        """Renders of the trained branch for inputs ``x`` [N,3,256,256] and cameras [N,25]."""
        deterministic = self.config.deterministic_render
        if self.config.stage == 1:
            codes = self.model.encode(x)
            planes = self.model.decoder.planes(codes)
        else:
            with torch.no_grad():
                codes = self.model.encode(x)
                planes_initial = self.model.decoder.planes(codes)
            with torch.set_grad_enabled(self.config.stage == 2):
                planes = self.branch(x, codes, planes_initial, camera)
        out = self.model.decoder.synthesis(codes, camera, planes=planes, deterministic=deterministic)
        mirror = (self.model.render_small(codes, planes, cameras.mirror(camera), deterministic)
                  if self.model.version == 2 else None)
        return Outputs(resize_images(out["image"], PLANE_RESOLUTION), out["image_opacity"], mirror, codes)

    def branch(self, x: torch.Tensor, codes: torch.Tensor, planes_initial: torch.Tensor,
               camera: torch.Tensor) -> torch.Tensor:
        """The tri-plane branch's planes [N,3,32,256,256] (v1: offsets added, v2: full planes)."""
        deterministic = self.config.deterministic_render
        if self.model.version == 1:
            return self.model.branch_v1(x, codes, planes_initial, camera, cttr=False, deterministic=deterministic)
        return self.model.branch_v2(x, codes, planes_initial, camera, deterministic=deterministic)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the branch's terms for ``batch`` (image [N,3,H,W], camera [N,25], optional clean
        ``target`` [N,3,H,W] when the image is augmented); logs every term."""
        x = resize_images(batch["image"], PLANE_RESOLUTION)
        target = resize_images(batch["target"], PLANE_RESOLUTION) if "target" in batch else x
        out = self.forward(x, batch["camera"])
        terms = self.terms(out.image, target, "")
        if out.mirror is not None:
            terms.update(self.terms(out.mirror, target.flip(-1), "mirror_"))
        if self.config.weights.opacity:
            terms["opacity"] = (self.config.weights.opacity, self.opacity_term(out.opacity, batch))
        total = sum(weight * value for weight, value in terms.values())
        logs = {name: float(value.detach()) for name, (_, value) in terms.items()}
        return total, {"loss": float(total.detach()), **logs}

    @staticmethod
    def opacity_term(opacity: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean |opacity - mask| of renders [N,1,r,r] against the batch's masks [N,1,H,W] shrunk to r."""
        if "mask" not in batch:
            raise ValueError("the opacity loss needs masks: train on --data synthetic, or set its weight to 0")
        mask = resize_images(batch["mask"], opacity.shape[-1])
        return (opacity - mask).abs().mean()

    def terms(self, prediction: torch.Tensor, target: torch.Tensor,
              prefix: str) -> dict[str, tuple[float, torch.Tensor]]:
        """Named ``(weight, value)`` loss terms of images [N,3,256,256] (mirror terms scaled by ``weights.mirror``)."""
        w = self.config.weights
        scale = w.mirror if prefix else 1.0
        size = self.config.loss_resolution
        prediction, target = resize_images(prediction, size), resize_images(target, size)
        if self.config.stage == 1:
            named: dict[str, tuple[float, Callable]] = {"l2": (w.l2_psp, l2_loss)}
            lpips_weight, id_weight = w.lpips_psp, w.id_psp
        else:
            named = {"smooth_l1": (w.l1_triplane, smooth_l1_loss)}
            lpips_weight, id_weight = w.lpips_triplane, w.id_triplane
        if self.lpips is not None:
            named["lpips"] = (lpips_weight, lambda a, b: self.lpips(a, b).mean())
        if self.identity is not None:
            named["id"] = (id_weight, self.identity)
        return {prefix + name: (scale * weight, fn(prediction, target)) for name, (weight, fn) in named.items()}

    def config_dict(self) -> dict[str, Any]:
        return {"encoder": asdict(self.config), "model": self.model.get_config()}

    def finish(self, out_dir: Path) -> None:
        """Save the inverter with ``save_pretrained`` (``load_inverter(out_dir)`` reads it)."""
        self.model.save_pretrained(out_dir)
