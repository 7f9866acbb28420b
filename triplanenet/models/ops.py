"""StyleGAN2 operations in plain PyTorch (no custom CUDA kernels).

The official code builds these from ``upfirdn2d`` and ``bias_act`` CUDA
extensions. Every one of them is a composition of ``conv2d``,
``conv_transpose2d`` and element-wise ops; written that way they run on any
device, need no compiler and compute the same numbers.

Resampling uses the 4-tap binomial FIR filter ``[1, 3, 3, 1]`` (outer product,
normalised to sum 1), stored in checkpoints as ``resample_filter`` buffers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)


def fir_filter(taps: tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The normalised 2-D FIR filter [k,k] built from 1-D ``taps``."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, gain: float, dtype: torch.dtype) -> torch.Tensor:
    """Filter [k,k] -> depthwise conv weight [C,1,k,k], flipped to turn correlation into convolution."""
    return (f * gain).flip([0, 1]).to(dtype)[None, None].expand(channels, 1, *f.shape)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling [N,C,H,W] -> [N,C,2H,2W]: zero insertion, then the FIR filter with gain 4.

    A stride-2 transposed depthwise convolution is exactly "insert zeros, pad,
    convolve"; its padding ``k - 1 - (k + 1) // 2`` reproduces StyleGAN2's
    alignment (1 for the 4-tap filter).
    """
    channels, k = x.shape[1], f.shape[0]
    w = (f * 4.0).to(x.dtype)[None, None].expand(channels, 1, k, k)
    return F.conv_transpose2d(x, w, stride=2, padding=k - 1 - (k + 1) // 2, groups=channels)


def blur2d(x: torch.Tensor, f: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
    """Depthwise FIR filtering with symmetric zero padding ``pad``."""
    return F.conv2d(x, _depthwise(f, x.shape[1], gain, x.dtype), padding=pad, groups=x.shape[1])


def conv2d_up2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """A kxk convolution (padding k//2) at twice the input resolution, StyleGAN2-style.

    Equivalent to upsampling by zero insertion, blurring with ``f`` (gain 4) and
    convolving, computed as a stride-2 transposed convolution followed by the
    blur. ``weight`` is [O,I,k,k]; x is [N,I,H,W]; returns [N,O,2H,2W].
    """
    k = weight.shape[-1]
    x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    pad_total = (f.shape[0] + 1) // 2 + k // 2 - (k - 1)
    return blur2d(x, f, pad=pad_total, gain=4.0)


def bias_lrelu(x: torch.Tensor, bias: torch.Tensor, gain: float = LRELU_GAIN,
               clamp: float | None = None) -> torch.Tensor:
    """``clamp(leaky_relu(x + bias, 0.2) * gain)``, bias broadcast over channel dim 1."""
    x = F.leaky_relu(x + bias.reshape(1, -1, *([1] * (x.ndim - 2))), LRELU_SLOPE) * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit root-mean-square along ``dim`` (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, up: bool = False,
                     resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2's modulated convolution, batched by modulating activations.

    x [N,I,H,W], weight [O,I,k,k], styles [N,I]. The weight seen by sample n is
    ``weight * styles[n]`` over the input channels, optionally demodulated to
    unit L2 norm per output channel. Scaling the input by the styles and the
    output by the demodulation coefficients is the same linear map and lets
    the whole batch share one ordinary convolution.
    """
    x = x * styles.reshape(styles.shape[0], -1, 1, 1)
    if up:
        x = conv2d_up2(x, weight, resample_filter)
    else:
        x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
    if demodulate:
        dcoefs = ((weight[None] * styles[:, None, :, None, None]).square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        x = x * dcoefs.reshape(x.shape[0], -1, 1, 1)
    return x
