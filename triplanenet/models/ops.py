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


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling [N,C,H,W] -> [N,C,2H,2W]: zero insertion, then the FIR filter with gain 4.

    A stride-2 transposed depthwise convolution is exactly "insert zeros, pad,
    convolve"; its padding ``k - 1 - (k + 1) // 2`` reproduces StyleGAN2's
    alignment (1 for the 4-tap filter).
    """
    channels, k = x.shape[1], f.shape[0]
    w = (f * 4.0).to(x.dtype)[None, None].expand(channels, 1, k, k)
    return F.conv_transpose2d(x, w, stride=2, padding=k - 1 - (k + 1) // 2, groups=channels)


def blur2d(x: torch.Tensor, f: torch.Tensor, pad: int, gain: float = 1.0,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """Depthwise FIR filtering with symmetric zero padding ``pad``, plus an optional per-channel bias."""
    k = f.shape[0]
    w = (f * gain).flip([0, 1]).to(x.dtype)[None, None].expand(x.shape[1], 1, k, k)
    return F.conv2d(x, w, bias, padding=pad, groups=x.shape[1])


def bias_lrelu(x: torch.Tensor, bias: torch.Tensor, gain: float = LRELU_GAIN) -> torch.Tensor:
    """``leaky_relu(x + bias, 0.2) * gain``, bias broadcast over dim 1 (fully connected layers)."""
    return F.leaky_relu(x + bias.reshape(1, -1, *([1] * (x.ndim - 2))), LRELU_SLOPE) * gain


def lrelu_clamp(x: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """``clamp(leaky_relu(x, 0.2), -clamp, clamp)``, in place when no gradient is needed."""
    in_place = not (torch.is_grad_enabled() and x.requires_grad)
    x = F.leaky_relu_(x, LRELU_SLOPE) if in_place else F.leaky_relu(x, LRELU_SLOPE)
    if clamp is None:
        return x
    return x.clamp_(-clamp, clamp) if in_place else x.clamp(-clamp, clamp)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit root-mean-square along ``dim`` (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def modulate(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool) -> torch.Tensor:
    """Per-sample weights [N,O,I,k,k]: ``weight`` [O,I,k,k] scaled by ``styles`` [N,I] over input channels.

    Demodulation rescales each output channel's weights to unit L2 norm, which
    keeps activations at unit variance whatever the styles (StyleGAN2).
    """
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    return w


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, up: bool = False, resample_filter: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None, gain: float = 1.0) -> torch.Tensor:
    """StyleGAN2's modulated convolution ``gain * (conv(x, modulated weight) + bias)``.

    x [N,I,H,W], weight [O,I,k,k] (padding k//2), styles [N,I], bias [O].
    With ``up`` the output is at twice the resolution: a stride-2 transposed
    convolution followed by the FIR blur, which equals zero insertion, blur and
    convolution. Each sample is convolved with its own weights (a loop over the
    batch is faster on CPU than one grouped convolution); channels-last inputs
    stay channels-last.
    """
    weights = modulate(weight, styles, demodulate) * gain
    bias = bias * gain if bias is not None else None
    pad = weight.shape[-1] // 2
    if up:
        out = [F.conv_transpose2d(xi, wi.transpose(0, 1), stride=2) for xi, wi in zip(x.split(1), weights)]
    else:
        out = [F.conv2d(xi, wi, bias, padding=pad) for xi, wi in zip(x.split(1), weights)]
    x = out[0] if len(out) == 1 else torch.cat(out)
    if up:
        f = resample_filter
        x = blur2d(x, f, pad=(f.shape[0] + 1) // 2 + pad - (weight.shape[-1] - 1), gain=4.0, bias=bias)
    return x
