"""IR-SE50 backbone pieces (ArcFace-style improved residual units with squeeze-excitation).

The backbone is an ``input_layer`` (3x3 conv, BatchNorm, PReLU at full resolution)
followed by a ``body`` of :class:`BottleneckIRSE` units in four stages. The first
unit of every stage halves the resolution, so a 256x256 input gives stage outputs
at 128, 64, 32 and 16 pixels. The published IR-SE50 layout is 3/4/14/3 units with
64/128/256/512 channels (24 units, ``body.0`` .. ``body.23``).

Parameter names follow the pSp / TriPlaneNet checkpoints: ``input_layer.{0,1,2}``,
``body.N.shortcut_layer.{0,1}``, ``body.N.res_layer.{0..5}`` with the
squeeze-excitation block at ``res_layer.5.fc1`` / ``res_layer.5.fc2``.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

IRSE50_UNITS: tuple[int, ...] = (3, 4, 14, 3)
IRSE50_CHANNELS: tuple[int, ...] = (64, 128, 256, 512)
SE_REDUCTION = 16


class SEModule(nn.Module):
    """Squeeze-excitation: scale each channel by a gate computed from the global average.

    [B,C,H,W] -> [B,C,H,W]; the gate is ``sigmoid(fc2(relu(fc1(mean_hw(x)))))`` with
    bias-free 1x1 convolutions C -> C // reduction -> C.
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.adaptive_avg_pool2d(x, 1)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(gate))))
        return x * gate


class BottleneckIRSE(nn.Module):
    """One IR-SE unit: ``shortcut_layer(x) + res_layer(x)``.

    [B,in_channels,H,W] -> [B,depth,H/stride,W/stride]. The residual branch is
    BN, 3x3 conv, PReLU, 3x3 conv (carrying the stride), BN, squeeze-excitation.
    The shortcut is a strided subsampling when the width is unchanged, otherwise a
    strided 1x1 conv and BN.
    """

    def __init__(self, in_channels: int, depth: int, stride: int,
                 se_reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(kernel_size=1, stride=stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, kernel_size=3, stride=1, padding=1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(depth),
            SEModule(depth, se_reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_layer(x) + self.res_layer(x)


def make_input_layer(in_channels: int, out_channels: int) -> nn.Sequential:
    """The stem: 3x3 conv (no bias), BN, PReLU; [B,in_channels,H,W] -> [B,out_channels,H,W]."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.PReLU(out_channels),
    )


def make_body(units: Sequence[int] = IRSE50_UNITS, channels: Sequence[int] = IRSE50_CHANNELS,
              in_channels: int | None = None, se_reduction: int = SE_REDUCTION) -> nn.Sequential:
    """The stages of IR-SE units as one flat ``nn.Sequential`` (``body.0`` .. ``body.{sum(units)-1}``).

    Stage ``s`` has ``units[s]`` units of width ``channels[s]``; its first unit has
    stride 2 and takes ``channels[s-1]`` channels (``in_channels`` for stage 0,
    default ``channels[0]``).
    """
    if len(units) != len(channels):
        raise ValueError(f"units {tuple(units)} and channels {tuple(channels)} differ in length")
    modules: list[nn.Module] = []
    width = channels[0] if in_channels is None else in_channels
    for count, depth in zip(units, channels):
        modules.append(BottleneckIRSE(width, depth, stride=2, se_reduction=se_reduction))
        modules.extend(BottleneckIRSE(depth, depth, stride=1, se_reduction=se_reduction)
                       for _ in range(count - 1))
        width = depth
    return nn.Sequential(*modules)


class StageIndices(NamedTuple):
    """Indices into ``body`` of the first and last unit of every stage."""

    first: tuple[int, ...]
    last: tuple[int, ...]


def stage_indices(units: Sequence[int]) -> StageIndices:
    """Body indices of stage boundaries, e.g. (3, 4, 14, 3) -> first (0, 3, 7, 21), last (2, 6, 20, 23)."""
    ends = tuple(itertools.accumulate(units))
    return StageIndices(first=tuple(e - n for e, n in zip(ends, units)),
                        last=tuple(e - 1 for e in ends))


def run_body(body: nn.Sequential, x: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
    """Run ``x`` through every unit of ``body``; return the outputs of the units at ``taps``, in order."""
    wanted = set(taps)
    outputs: dict[int, torch.Tensor] = {}
    for index, unit in enumerate(body):
        x = unit(x)
        if index in wanted:
            outputs[index] = x
    return [outputs[index] for index in taps]
