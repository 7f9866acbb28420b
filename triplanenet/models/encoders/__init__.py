"""Encoders of TriPlaneNet: pSp (image -> W+ codes) and the v1 / v2 tri-plane encoders.

Module and parameter names match the published checkpoints, whose state dicts
hold them under ``psp_encoder.`` and ``triplanenet_encoder.``.
"""
from .irse import BottleneckIRSE, SEModule
from .psp import EqualLinear, GradualStyleBlock, GradualStyleEncoder
from .triplane_unet import DoubleConv, TriPlaneUNet, UpBlock
from .triplane_v1 import TriPlaneEncoderV1
from .triplane_v2 import TriPlaneEncoderV2, detect_use_pixelshuffle

__all__ = [
    "BottleneckIRSE",
    "DoubleConv",
    "EqualLinear",
    "GradualStyleBlock",
    "GradualStyleEncoder",
    "SEModule",
    "TriPlaneEncoderV1",
    "TriPlaneEncoderV2",
    "TriPlaneUNet",
    "UpBlock",
    "detect_use_pixelshuffle",
]
