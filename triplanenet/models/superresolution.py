"""EG3D's "hybrid" super-resolution: feature image at the neural rendering
resolution -> final RGB image, with two StyleGAN2 synthesis blocks.

The raw RGB render (the first 3 feature channels) is the starting "image" of
the skip architecture, so the network only adds detail on top of it. Both
blocks are modulated by the generator's last w vector. The official code has
one class per variant; here a variant is a row of :data:`VARIANTS`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .stylegan2 import SynthesisBlock


@dataclass(frozen=True)
class Variant:
    """Shape of one super-resolution variant (names as in ``rendering_kwargs['superresolution_module']``)."""

    img_resolution: int
    input_resolution: int
    channels: tuple[int, int]
    block0_up: bool
    has_filter_buffer: bool


VARIANTS: dict[str, Variant] = {
    "SuperresolutionHybrid2X": Variant(128, 64, (128, 64), False, True),
    "SuperresolutionHybrid4X": Variant(256, 128, (128, 64), False, True),
    "SuperresolutionHybrid8X": Variant(512, 128, (128, 64), True, True),
    "SuperresolutionHybrid8XDC": Variant(512, 128, (256, 128), True, False),
}


def variant_name(module_path: str) -> str:
    """'training.superresolution.SuperresolutionHybrid8XDC' -> 'SuperresolutionHybrid8XDC' (checked)."""
    name = module_path.rsplit(".", 1)[-1]
    if name not in VARIANTS:
        raise ValueError(f"unknown super-resolution module {module_path!r}; known: {sorted(VARIANTS)}")
    return name


class SuperResolution(nn.Module):
    """``(rgb [N,3,r,r], features [N,C,r,r], ws [N,num_ws,w_dim]) -> image [N,3,R,R]``.

    Inputs at another resolution than the variant's ``input_resolution`` are
    first resized bilinearly (antialiased when ``sr_antialias``), as the
    official code does for neural rendering resolution 64 with a 128 variant.
    ``sr_num_fp16_res > 0`` marks the blocks as float16 in the official code,
    which implies a convolution clamp of 256; the clamp is kept (it changes
    results), the float16 storage is not.
    """

    def __init__(self, module: str, channels: int, img_resolution: int, sr_num_fp16_res: int = 0,
                 sr_antialias: bool = True, channel_base: int | None = None,
                 channel_max: int | None = None, fused_modconv_default: bool | str = True,
                 w_dim: int = 512):
        super().__init__()
        self.variant = VARIANTS[variant_name(module)]
        if img_resolution != self.variant.img_resolution:
            raise ValueError(f"{module} produces {self.variant.img_resolution}px images, not {img_resolution}px")
        self.sr_antialias = sr_antialias
        clamp = 256 if sr_num_fp16_res > 0 else None
        c0, c1 = self.variant.channels
        res0 = self.variant.input_resolution * (2 if self.variant.block0_up else 1)
        if self.variant.has_filter_buffer:
            self.register_buffer("resample_filter", ops.fir_filter())
        self.block0 = SynthesisBlock(channels, c0, w_dim, res0, img_channels=3, is_last=False,
                                     up=self.variant.block0_up, conv_clamp=clamp)
        self.block1 = SynthesisBlock(c0, c1, w_dim, img_resolution, img_channels=3, is_last=True,
                                     conv_clamp=clamp)

    def forward(self, rgb: torch.Tensor, features: torch.Tensor, ws: torch.Tensor,
                noise_mode: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the final image [N,3,R,R] and the raw image the generator reports.

        The raw image is ``rgb``, except for variants whose first block does not
        upsample (2X, 4X) fed at their native resolution: the official code adds
        that block's RGB output to the raw render in place, so EG3D's
        ``image_raw`` (which its discriminator was trained on) includes it.
        """
        ws = ws[:, -1:, :].expand(-1, 3, -1)
        size = self.variant.input_resolution
        resized = features.shape[-1] != size
        if resized:
            features = F.interpolate(features, size=(size, size), mode="bilinear", align_corners=False,
                                     antialias=self.sr_antialias)
            rgb = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False,
                                antialias=self.sr_antialias)
        x, img = self.block0(features.contiguous(memory_format=torch.channels_last), rgb, ws, noise_mode)
        _, image = self.block1(x, img, ws, noise_mode)
        raw = img if not (self.variant.block0_up or resized) else rgb
        return image, raw
