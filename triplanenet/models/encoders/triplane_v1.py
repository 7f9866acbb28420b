"""TriPlaneNet v1 tri-plane encoder: predicts offsets added to the EG3D tri-planes.

Input is 6 channels at 256x256 (in TriPlaneNet: the input image and the pSp
reconstruction, concatenated); output is [B,96,256,256] offsets (3 planes x 32
channels, the layout of EG3D's backbone output). The decoder is the shared
:class:`~.triplane_unet.TriPlaneUNet` with PixelShuffle up blocks, then ``head``
(PixelShuffle 2x: 96 -> 24 channels at full resolution) and ``final_head``
(3x3 conv, PReLU, 3x3 conv, PReLU, 1x1 conv to 96 channels).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .irse import IRSE50_CHANNELS, IRSE50_UNITS
from .triplane_unet import TriPlaneUNet, make_planes_head

V1_DECODER_CHANNELS: tuple[int, ...] = (512, 384, 256, 96)


class TriPlaneEncoderV1(TriPlaneUNet):
    """[B,in_channels,R,R] -> tri-plane offsets [B,out_channels,R,R].

    Published configuration: ``in_channels=6``, ``out_channels=96``, R = 256, IR-SE50.
    ``units`` / ``channels`` / ``decoder_channels`` allow smaller networks
    (decoder widths must be divisible by 4 for PixelShuffle; R divisible by 16).
    """

    def __init__(self, in_channels: int = 6, out_channels: int = 96,
                 decoder_channels: Sequence[int] = V1_DECODER_CHANNELS,
                 units: Sequence[int] = IRSE50_UNITS, channels: Sequence[int] = IRSE50_CHANNELS) -> None:
        super().__init__(in_channels, decoder_channels, use_pixelshuffle=True, units=units, channels=channels)
        self.head = nn.PixelShuffle(2)
        self.final_head = make_planes_head(self.head_input_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,in_channels,R,R] -> offsets [B,out_channels,R,R]."""
        return self.final_head(self.head(self.decode(x)))
