"""The StyleGAN2 generator that EG3D uses as its tri-plane backbone.

Read top to bottom: equalised fully connected layers, the mapping network
(``z`` + camera label ``c`` -> ``ws``, one w vector per layer), modulated
synthesis layers with per-pixel noise, ``toRGB`` layers whose outputs are summed
across resolutions ("skip" architecture), blocks that double the resolution,
and the synthesis network from a learned 4x4 constant to the output.

Names of modules, parameters and buffers are those of the official
checkpoints, so their state dicts load unchanged. Every layer is "equalised":
weights are stored N(0, 1) and scaled by ``1/sqrt(fan_in)`` at run time.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import ops


class FullyConnectedLayer(nn.Module):
    """Equalised linear layer: ``act(x @ (w * gain).T + b * lr_multiplier)``.

    ``lr_multiplier`` scales the effective learning rate (the mapping network
    uses 0.01); the stored weight is divided by it so the forward is unchanged.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: str = "linear", lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t()) if b is not None else x.matmul(w.t())
        return ops.bias_lrelu(x.matmul(w.t()), b if b is not None else torch.zeros_like(w[:, 0]))


class MappingNetwork(nn.Module):
    """``(z [N,z_dim], c [N,c_dim]) -> ws [N,num_ws,w_dim]``.

    z and the embedded label are each normalised to unit RMS, concatenated and
    passed through ``num_layers`` lrelu layers; the single w is broadcast to
    ``num_ws`` layers. ``w_avg`` (the tracked mean w) is the truncation centre.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        features = [z_dim + embed_features] + [w_dim] * num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(ops.normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            parts.append(ops.normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


def _noise(layer: nn.Module, x: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
    """Per-pixel noise [N or 1,1,H,W] for a synthesis layer: 'const', 'random' or 'none'."""
    if not layer.use_noise or noise_mode == "none":
        return None
    if noise_mode == "const":
        return layer.noise_const * layer.noise_strength
    res = layer.resolution
    return torch.randn([x.shape[0], 1, res, res], device=x.device, dtype=x.dtype) * layer.noise_strength


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally at 2x resolution) + noise + bias + lrelu.

    ``affine`` maps a w vector [N,w_dim] to per-input-channel styles [N,in_channels].
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 conv_clamp: float | None = None, resample_filter: tuple = (1, 3, 3, 1)):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.register_buffer("resample_filter", ops.fir_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """x [N,I,H,W], w [N,w_dim] -> [N,O,H*up,W*up]; the lrelu gain is folded into the convolution."""
        gain = ops.LRELU_GAIN
        x = ops.modulated_conv2d(x, self.weight, self.affine(w), up=self.up == 2,
                                 resample_filter=self.resample_filter, bias=self.bias, gain=gain)
        noise = _noise(self, x, noise_mode)
        if noise is not None:
            x = x + noise * gain
        return ops.lrelu_clamp(x, self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution without demodulation: features -> output channels."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, bias=self.bias)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network ("skip" architecture).

    ``in_channels == 0`` starts from the learned constant; otherwise ``conv0``
    doubles the resolution (``up=True``) or keeps it (the super-resolution
    "NoUp" block). ``conv1`` follows, then ``torgb``, whose output is added to
    the (upsampled) running image. Consumes ``num_conv + num_torgb`` ws.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, is_last: bool, up: bool = True, conv_clamp: float | None = None,
                 resample_filter: tuple = (1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.resolution, self.up, self.is_last = in_channels, resolution, up, is_last
        self.register_buffer("resample_filter", ops.fir_filter(resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2 if up else 1,
                                        conv_clamp=conv_clamp, resample_filter=resample_filter)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    conv_clamp=conv_clamp, resample_filter=resample_filter)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "const") -> tuple[torch.Tensor, torch.Tensor]:
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1).contiguous(memory_format=torch.channels_last)
        else:
            x = self.conv0(x, next(w_iter), noise_mode)
        x = self.conv1(x, next(w_iter), noise_mode)
        if img is not None and self.up:
            img = ops.upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter))
        return x, (img + y if img is not None else y)


class SynthesisNetwork(nn.Module):
    """``ws [N,num_ws,w_dim] -> image [N,img_channels,img_resolution,img_resolution]``.

    Blocks ``b4, b8, ..., b{img_resolution}`` with ``min(channel_base // res,
    channel_max)`` channels. Consecutive blocks share one w (a block's torgb
    uses the w of the next block's first conv), so num_ws = convs + 1.

    ``num_fp16_res`` and ``fused_modconv_default`` are accepted because the
    checkpoints' init arguments carry them; they select CUDA speed paths of the
    official code that compute the same function, so they are not used here.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512, conv_clamp: float | None = None,
                 num_fp16_res: int = 0, fused_modconv_default: bool | str = True):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res,
                                   img_channels, is_last=res == img_resolution, conv_clamp=conv_clamp)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode)
            w_idx += block.num_conv
        return img


class StyleGAN2Backbone(nn.Module):
    """Mapping + synthesis: the tri-plane backbone (``backbone.mapping``, ``backbone.synthesis``)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, **synthesis_kwargs):
        super().__init__()
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))
