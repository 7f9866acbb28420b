"""pSp's ``GradualStyleEncoder(50, 'ir_se')``: an image to W+ style codes.

An IR-SE50 backbone feeds a small feature pyramid built from three body taps
(the last units of stages 2, 3 and 4; for a 256x256 input: 128@64x64,
256@32x32, 512@16x16):

* ``c3`` (16x16) feeds the coarse style heads ``styles.0..2``;
* ``p2 = up(c3) + latlayer1(c2)`` (32x32) feeds the middle heads ``styles.3..6``;
* ``p1 = up(p2) + latlayer2(c1)`` (64x64) feeds the fine heads ``styles.7..13``;

where ``up`` is bilinear interpolation with ``align_corners=True``. Each head
halves the resolution with stride-2 3x3 convs + LeakyReLU(0.01) down to 1x1, then
applies an :class:`EqualLinear`. The output [B,n_styles,style_dim] is the raw code
(TriPlaneNet adds the generator's average latent afterwards).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .irse import IRSE50_CHANNELS, IRSE50_UNITS, make_body, make_input_layer, run_body, stage_indices


class EqualLinear(nn.Module):
    """StyleGAN2's equalised linear layer (no activation): [B,in_dim] -> [B,out_dim].

    ``y = x @ (weight * scale).T + bias * lr_mul`` with ``scale = lr_mul / sqrt(in_dim)``;
    ``weight`` is stored as N(0,1) / lr_mul and ``bias`` starts at ``bias_init``.
    """

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class GradualStyleBlock(nn.Module):
    """One style head: [B,in_channels,S,S] -> [B,out_channels] for a power-of-two ``spatial`` S.

    ``log2(S)`` stride-2 3x3 convs (each followed by LeakyReLU) bring S down to 1
    (``convs.0``, ``convs.2``, ...), then ``linear`` (an :class:`EqualLinear`).
    """

    def __init__(self, in_channels: int, out_channels: int, spatial: int) -> None:
        super().__init__()
        num_pools = int(math.log2(spatial))
        if num_pools < 1 or 2 ** num_pools != spatial:
            raise ValueError(f"spatial must be a power of two >= 2, got {spatial}")
        layers: list[nn.Module] = []
        for index in range(num_pools):
            layers += [nn.Conv2d(in_channels if index == 0 else out_channels, out_channels,
                                 kernel_size=3, stride=2, padding=1),
                       nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


def upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinearly resize ``x`` [B,C,h,w] to the size of ``y`` [B,C,H,W] (align_corners=True) and add ``y``."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


class GradualStyleEncoder(nn.Module):
    """pSp encoder: image [B,in_channels,R,R] -> style codes [B,n_styles,style_dim].

    Defaults are the published configuration (IR-SE50, 3 input channels, R = 256,
    14 styles of 512: 3 coarse heads at R/16, 4 middle at R/8, 7 fine at R/4).
    ``units`` / ``channels`` shrink the backbone for small test or training setups;
    the style heads take ``channels[-1]`` channels and the lateral 1x1 convs map
    ``channels[2]`` and ``channels[1]`` to that width. ``input_size`` only sets how
    many stride-2 convs each head has, so inputs must be ``input_size`` square.
    """

    def __init__(self, n_styles: int = 14, in_channels: int = 3, input_size: int = 256,
                 style_dim: int = 512, coarse_ind: int = 3, middle_ind: int = 7,
                 units: Sequence[int] = IRSE50_UNITS, channels: Sequence[int] = IRSE50_CHANNELS) -> None:
        super().__init__()
        if len(units) != 4 or len(channels) != 4:
            raise ValueError("the pyramid needs exactly four backbone stages")
        if not 0 <= coarse_ind <= middle_ind <= n_styles:
            raise ValueError(f"need 0 <= coarse_ind <= middle_ind <= n_styles, "
                             f"got {coarse_ind}, {middle_ind}, {n_styles}")
        self.n_styles = n_styles
        self.coarse_ind = coarse_ind
        self.middle_ind = middle_ind
        self.taps = stage_indices(units).last[1:]
        self.input_layer = make_input_layer(in_channels, channels[0])
        self.body = make_body(units, channels)
        top = channels[-1]
        self.styles = nn.ModuleList(
            GradualStyleBlock(top, style_dim, self._head_spatial(i, input_size)) for i in range(n_styles))
        self.latlayer1 = nn.Conv2d(channels[2], top, kernel_size=1)
        self.latlayer2 = nn.Conv2d(channels[1], top, kernel_size=1)

    def _head_spatial(self, index: int, input_size: int) -> int:
        """Input resolution of style head ``index``: R/16 coarse, R/8 middle, R/4 fine."""
        if index < self.coarse_ind:
            return input_size // 16
        if index < self.middle_ind:
            return input_size // 8
        return input_size // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,in_channels,R,R] -> [B,n_styles,style_dim] (raw, before adding the average latent)."""
        c1, c2, c3 = run_body(self.body, self.input_layer(x), self.taps)
        p2 = upsample_add(c3, self.latlayer1(c2))
        p1 = upsample_add(p2, self.latlayer2(c1))
        levels = ((c3,) * self.coarse_ind + (p2,) * (self.middle_ind - self.coarse_ind)
                  + (p1,) * (self.n_styles - self.middle_ind))
        return torch.stack([head(level) for head, level in zip(self.styles, levels)], dim=1)
