"""Training losses: reconstruction (L2, smooth L1), LPIPS (:mod:`triplanenet.models.lpips`, shared with
evaluation) and ArcFace identity.

The identity loss needs a pretrained network, our own module reading the standard weight file:

* Identity (pSp / TriPlaneNet): an IR-SE50 ArcFace network at 112x112
  (``model_ir_se50.pth``, keys ``input_layer.*``, ``body.N.*``, ``output_layer.*``).

:func:`load_lpips` and :func:`load_identity` return ``None`` and log a notice when
the files are absent: a loss is then disabled, never computed with random weights.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.encoders.irse import IRSE50_CHANNELS, IRSE50_UNITS, make_body, make_input_layer
from ..models.lpips import find_weights, read_state_dict

log = logging.getLogger(__name__)

ID_FILE = "model_ir_se50.pth"
ID_CROP = (35, 223, 32, 220)
"""Rows and columns of the face in a 256 crop that the identity network sees (pSp's crop)."""


def l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of two image batches [N,3,H,W] (a scalar)."""
    return F.mse_loss(prediction, target)


def smooth_l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smooth L1 (Huber, beta 1) of two image batches [N,3,H,W] (a scalar)."""
    return F.smooth_l1_loss(prediction, target)


class ArcFace(nn.Module):
    """IR-SE50 ArcFace embedding (pSp's ``Backbone(112, 50, 'ir_se')``): [N,3,112,112] -> unit vectors [N,512].

    ``input_layer`` and ``body`` are the IR-SE units of :mod:`..models.encoders.irse`
    (112 -> 56 -> 28 -> 14 -> 7); ``output_layer`` is BN2d, dropout, flatten,
    linear 512*7*7 -> 512, BN1d (indices 0..4, as in ``model_ir_se50.pth``).
    """

    def __init__(self, units: Sequence[int] = IRSE50_UNITS, channels: Sequence[int] = IRSE50_CHANNELS,
                 embedding: int = 512) -> None:
        super().__init__()
        self.input_layer = make_input_layer(3, channels[0])
        self.body = make_body(units, channels)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.Dropout(0.6), nn.Flatten(),
                                          nn.Linear(channels[-1] * 7 * 7, embedding), nn.BatchNorm1d(embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


class IdentityLoss(nn.Module):
    """``1 - cos(ArcFace(crop(a)), ArcFace(crop(b)))`` averaged over the batch (a scalar).

    Inputs are 256x256 face crops [N,3,256,256] in [-1, 1] (other sizes are resized
    to 256 first); the face region ``ID_CROP`` is pooled to 112 like pSp's loss.
    The network is frozen and in eval mode.
    """

    def __init__(self, network: ArcFace | None = None) -> None:
        super().__init__()
        self.facenet = network or ArcFace()
        self.requires_grad_(False).eval()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Face crops [N,3,H,W] -> identity embeddings [N,512]."""
        if x.shape[-1] != 256:
            x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False, antialias=True)
        top, bottom, left, right = ID_CROP
        return self.facenet(F.adaptive_avg_pool2d(x[:, :, top:bottom, left:right], (112, 112)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (1 - (self.embed(a) * self.embed(b).detach()).sum(dim=1)).mean()

    def train(self, mode: bool = True) -> "IdentityLoss":
        """Always stays in eval mode (BatchNorm statistics and dropout of the pretrained network)."""
        return super().train(False)


def load_identity(path: str | os.PathLike | None = None) -> IdentityLoss | None:
    """The identity loss with ``model_ir_se50.pth`` (a file or a folder holding it), or ``None`` with a notice."""
    weights = find_weights(ID_FILE, path)
    if weights is None:
        log.warning("identity loss disabled: weight file %s not found (give its path; nothing is downloaded)",
                    ID_FILE)
        return None
    network = ArcFace()
    network.load_state_dict(read_state_dict(weights), strict=True)
    return IdentityLoss(network)
