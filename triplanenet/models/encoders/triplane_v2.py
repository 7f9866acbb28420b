"""TriPlaneNet v2 tri-plane encoder: refines the initial tri-planes.

Input is 9 channels at 256x256 plus the initial tri-planes [B,96,256,256]; the
output is the refined tri-planes ``triplanes + final_head_two(cat([triplanes, up5(decoded)]))``
(not an offset). Two published decoder variants exist, chosen by the training
option ``use_pixelshuffle``:

* ``True``: PixelShuffle up blocks with widths 512/384/256/96, ``up5`` a PixelShuffle
  (96 -> 24 channels), so ``final_head_two`` takes 96 + 24 = 120 channels;
* ``False``: nearest-upsampling blocks with widths 512/256/128/64, ``up5`` a nearest
  2x upsample, so ``final_head_two`` takes 96 + 64 = 160 channels.

:func:`detect_use_pixelshuffle` tells the two apart from a state dict.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .irse import IRSE50_CHANNELS, IRSE50_UNITS
from .triplane_unet import TriPlaneUNet, make_planes_head, make_upsampler

V2_PIXELSHUFFLE_DECODER_CHANNELS: tuple[int, ...] = (512, 384, 256, 96)
V2_UPSAMPLE_DECODER_CHANNELS: tuple[int, ...] = (512, 256, 128, 64)
HEAD_WEIGHT_KEY = "final_head_two.0.weight"
UP4_WEIGHT_KEY = "up4.conv.double_conv.1.weight"


class TriPlaneEncoderV2(TriPlaneUNet):
    """([B,in_channels,R,R], triplanes [B,planes_channels,R,R]) -> refined tri-planes [B,planes_channels,R,R].

    Published configuration: ``in_channels=9``, ``planes_channels=96``, R = 256,
    IR-SE50; ``use_pixelshuffle`` defaults to False like the official option.
    ``decoder_channels`` defaults to the published widths of the chosen variant.
    """

    def __init__(self, use_pixelshuffle: bool = False, in_channels: int = 9, planes_channels: int = 96,
                 decoder_channels: Sequence[int] | None = None,
                 units: Sequence[int] = IRSE50_UNITS, channels: Sequence[int] = IRSE50_CHANNELS) -> None:
        if decoder_channels is None:
            decoder_channels = (V2_PIXELSHUFFLE_DECODER_CHANNELS if use_pixelshuffle
                                else V2_UPSAMPLE_DECODER_CHANNELS)
        super().__init__(in_channels, decoder_channels, use_pixelshuffle, units=units, channels=channels)
        self.up5 = make_upsampler(2, use_pixelshuffle)
        self.final_head_two = make_planes_head(planes_channels + self.head_input_channels, planes_channels)

    def delta(self, x: torch.Tensor, triplanes: torch.Tensor) -> torch.Tensor:
        """The predicted change ``final_head_two(...)`` [B,planes_channels,R,R]."""
        decoded = self.up5(self.decode(x))
        return self.final_head_two(torch.cat([triplanes, decoded], dim=1))

    def forward(self, x: torch.Tensor, triplanes: torch.Tensor) -> torch.Tensor:
        """x [B,in_channels,R,R], tri-planes [B,planes_channels,R,R] -> refined tri-planes, same shape."""
        return triplanes + self.delta(x, triplanes)


def _shape(value: Any) -> tuple[int, ...]:
    """Shape of a tensor, or a shape given directly as a sequence of ints."""
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def detect_use_pixelshuffle(state_dict: Mapping[str, Any]) -> bool:
    """Which v2 decoder variant a state dict (or a name -> shape mapping) holds.

    Works on encoder-only dicts and on full checkpoints (``triplanenet_encoder.`` prefix).
    ``final_head_two`` takes the tri-planes plus the upsampled ``up4`` output: ``up4``
    width / 4 extra channels with PixelShuffle (published: 96 + 24 = 120), the full
    ``up4`` width with nearest upsampling (published: 96 + 64 = 160).
    """
    head_keys = [k for k in state_dict if k.endswith(HEAD_WEIGHT_KEY)]
    if len(head_keys) != 1:
        raise KeyError(f"expected exactly one '*{HEAD_WEIGHT_KEY}' entry, found {head_keys}")
    prefix = head_keys[0][: -len(HEAD_WEIGHT_KEY)]
    head_out, head_in = _shape(state_dict[head_keys[0]])[:2]
    up4_out = _shape(state_dict[prefix + UP4_WEIGHT_KEY])[0]
    extra = head_in - head_out
    if up4_out % 4 == 0 and extra == up4_out // 4:
        return True
    if extra == up4_out:
        return False
    raise ValueError(f"final_head_two takes {head_in} channels, which fits neither variant "
                     f"(planes {head_out}, up4 width {up4_out})")
