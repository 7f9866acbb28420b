"""EG3D's tri-plane decoder (``OSGDecoder``): features -> density and colour."""
from __future__ import annotations

import torch
from torch import nn

from .stylegan2 import FullyConnectedLayer


class OSGDecoder(nn.Module):
    """A 2-layer MLP applied to the mean of the three planes' features.

    Input ``features`` [N,3,M,C] (N scenes, 3 planes, M points, C=32 channels).
    Returns ``sigma`` [N,M,1], the raw density (the ray marcher applies
    ``softplus(sigma - 1)``), and ``rgb`` [N,M,out_dim], features squashed to
    (-0.001, 1.001) whose first three channels are the colour.
    """

    hidden_dim = 64

    def __init__(self, n_features: int = 32, decoder_lr_mul: float = 1.0, decoder_output_dim: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            FullyConnectedLayer(n_features, self.hidden_dim, lr_multiplier=decoder_lr_mul),
            nn.Softplus(),
            FullyConnectedLayer(self.hidden_dim, 1 + decoder_output_dim, lr_multiplier=decoder_lr_mul),
        )

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, m, c = features.shape
        # Average the planes with points innermost: the sampler's output is
        # channel-major, so this is a contiguous reduction there (10x faster).
        x = features.transpose(2, 3).mean(1).transpose(1, 2)
        x = self.net(x.reshape(n * m, c)).reshape(n, m, -1)
        rgb = torch.sigmoid(x[..., 1:])
        rgb = rgb * (1 + 2 * 0.001) - 0.001 if rgb.requires_grad else rgb.mul_(1 + 2 * 0.001).sub_(0.001)
        return {"sigma": x[..., :1], "rgb": rgb}
