"""The U-Net shared by the TriPlaneNet v1 and v2 tri-plane encoders.

An IR-SE50 backbone (``input_layer``, ``body``) is tapped at five units; for a
256x256 input with the published layout these are

====  ==========  ==========================================
tap   body index  features
====  ==========  ==========================================
c0    2           64 @ 128x128 (end of stage 1)
c1    6           128 @ 64x64 (end of stage 2)
c2    20          256 @ 32x32 (end of stage 3)
c3    21          512 @ 16x16 (first unit of stage 4)
x     23          512 @ 16x16 (end of stage 4)
====  ==========  ==========================================

and decoded by four :class:`UpBlock` s: ``up1(x, c3)`` (no resampling),
``up2(., c2)``, ``up3(., c1)``, ``up4(., c0)`` (each 2x). Every up block resamples
its input, concatenates ``[skip, upsampled]`` along channels and applies a
:class:`DoubleConv`. Resampling is ``PixelShuffle`` (channels / 4) or nearest
``Upsample`` (channels kept). The decoder output is at half the input resolution;
the v1 / v2 heads bring it to full resolution.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .irse import IRSE50_CHANNELS, IRSE50_UNITS, make_body, make_input_layer, run_body, stage_indices


class DoubleConv(nn.Module):
    """``double_conv`` = BN(in), 3x3 conv, PReLU, 3x3 conv, PReLU, PReLU.

    [B,in_channels,H,W] -> [B,out_channels,H,W]. The two consecutive PReLUs are
    part of the published layout (``double_conv.4`` and ``double_conv.5``).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.PReLU(out_channels),
            nn.PReLU(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


def make_upsampler(factor: int, use_pixelshuffle: bool) -> nn.Module:
    """Parameter-free ``factor`` x upsampling: PixelShuffle ([B,C,H,W] -> [B,C/f^2,fH,fW]) or nearest."""
    if factor == 1:
        return nn.Identity()
    if use_pixelshuffle:
        return nn.PixelShuffle(factor)
    return nn.Upsample(scale_factor=factor, mode="nearest")


def upsampled_channels(channels: int, factor: int, use_pixelshuffle: bool) -> int:
    """Channel count after :func:`make_upsampler` (PixelShuffle divides by ``factor**2``)."""
    if not use_pixelshuffle or factor == 1:
        return channels
    if channels % (factor * factor):
        raise ValueError(f"PixelShuffle({factor}) needs channels divisible by {factor * factor}, "
                         f"got {channels}")
    return channels // (factor * factor)


class UpBlock(nn.Module):
    """``conv(cat([skip, up(x)], dim=1))``: x [B,C,h,w], skip [B,S,fh,fw] -> [B,out_channels,fh,fw]."""

    def __init__(self, in_channels: int, out_channels: int, factor: int = 2,
                 use_pixelshuffle: bool = True) -> None:
        super().__init__()
        self.up = make_upsampler(factor, use_pixelshuffle)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


def make_planes_head(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv, PReLU, 3x3 conv, PReLU, 1x1 conv: [B,in_channels,H,W] -> [B,out_channels,H,W]."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.PReLU(out_channels),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
        nn.PReLU(out_channels),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
    )


class TriPlaneUNet(nn.Module):
    """Backbone + decoder: [B,in_channels,R,R] -> [B,decoder_channels[-1],R/2,R/2].

    ``decoder_channels`` are the output widths of ``up1`` .. ``up4``. Subclasses add
    the full-resolution head; :meth:`decode` runs everything before it.
    """

    def __init__(self, in_channels: int, decoder_channels: Sequence[int], use_pixelshuffle: bool,
                 units: Sequence[int] = IRSE50_UNITS, channels: Sequence[int] = IRSE50_CHANNELS) -> None:
        super().__init__()
        if len(units) != 4 or len(channels) != 4 or len(decoder_channels) != 4:
            raise ValueError("the U-Net needs four backbone stages and four decoder widths")
        self.use_pixelshuffle = use_pixelshuffle
        self.decoder_channels = tuple(decoder_channels)
        stages = stage_indices(units)
        self.taps = (stages.last[0], stages.last[1], stages.last[2], stages.first[3], stages.last[3])
        self.input_layer = make_input_layer(in_channels, channels[0])
        self.body = make_body(units, channels)
        self.up1 = UpBlock(2 * channels[3], decoder_channels[0], factor=1, use_pixelshuffle=use_pixelshuffle)
        self.up2 = self._up_block(decoder_channels[0], channels[2], decoder_channels[1])
        self.up3 = self._up_block(decoder_channels[1], channels[1], decoder_channels[2])
        self.up4 = self._up_block(decoder_channels[2], channels[0], decoder_channels[3])

    def _up_block(self, below: int, skip: int, out: int) -> UpBlock:
        """A 2x :class:`UpBlock` fed ``below`` channels by the previous block and ``skip`` by the body."""
        below = upsampled_channels(below, 2, self.use_pixelshuffle)
        return UpBlock(skip + below, out, factor=2, use_pixelshuffle=self.use_pixelshuffle)

    @property
    def head_input_channels(self) -> int:
        """Channels of the decoder output after the final 2x upsampling."""
        return upsampled_channels(self.decoder_channels[-1], 2, self.use_pixelshuffle)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """[B,in_channels,R,R] -> up4 output [B,decoder_channels[-1],R/2,R/2]."""
        c0, c1, c2, c3, top = run_body(self.body, self.input_layer(x), self.taps)
        y = self.up1(top, c3)
        y = self.up2(y, c2)
        y = self.up3(y, c1)
        return self.up4(y, c0)
