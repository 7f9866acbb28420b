"""LPIPS (Zhang et al., CVPR 2018, v0.1): the perceptual distance, used as a training loss and a metric.

Our own modules reading the standard weight files: an AlexNet or VGG16 feature network
(torchvision's ``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``, keys
``features.N.weight``) plus the linear calibration layers of the LPIPS release
(``alex.pth`` / ``vgg.pth``, keys ``lin{i}.model.1.weight`` of shape [1,C,1,1]).
:func:`load_lpips` returns ``None`` and logs a notice when a file is absent: nothing
is downloaded, and the distance is never computed with random weights.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
LIN_FILES = {"alex": "alex.pth", "vgg": "vgg.pth"}
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
ALEX_TAPS = (1, 4, 7, 9, 11)
ALEX_CHANNELS = (64, 192, 384, 256, 256)
VGG_TAPS = (3, 8, 15, 22, 29)
VGG_CHANNELS = (64, 128, 256, 512, 512)
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), where torch caches weights."""
    home = os.environ.get("TORCH_HOME", os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(home).expanduser() / "hub" / "checkpoints"


def find_weights(name: str, path: str | os.PathLike | None, hub_cache: bool = False) -> Path | None:
    """The file ``name`` given as ``path`` itself or inside the folder ``path``; else, with ``hub_cache``,
    in the torch hub cache. ``None`` when it is nowhere."""
    candidates = []
    if path is not None:
        path = Path(path).expanduser()
        candidates.append(path / name if path.is_dir() else path)
    if hub_cache:
        candidates.append(torch_hub_checkpoints() / name)
    return next((c for c in candidates if c.is_file()), None)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weight file, read with ``torch.load(weights_only=True)`` (no code runs)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


class AlexNetFeatures(nn.Module):
    """torchvision's AlexNet ``features`` (same indices and names); returns the 5 ReLU outputs LPIPS uses.

    [N,3,H,W] -> list of [N,C_i,H_i,W_i] with C = 64, 192, 384, 256, 256.
    """

    channels = ALEX_CHANNELS

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU())
        self.taps = ALEX_TAPS

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return tap_outputs(self.features, x, self.taps)


class VGG16Features(nn.Module):
    """torchvision's VGG16 ``features`` up to ``relu5_3`` (same indices); returns relu1_2 .. relu5_3.

    [N,3,H,W] -> list of [N,C_i,H_i,W_i] with C = 64, 128, 256, 512, 512.
    """

    channels = VGG_CHANNELS

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = 3
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(width, int(item), 3, padding=1), nn.ReLU()]
                width = int(item)
        self.features = nn.Sequential(*layers)
        self.taps = VGG_TAPS

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return tap_outputs(self.features, x, self.taps)


def tap_outputs(features: nn.Sequential, x: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
    """Run ``x`` through ``features`` up to the last tap; the outputs of the layers at ``taps``."""
    outputs = []
    for index, layer in enumerate(features[: taps[-1] + 1]):
        x = layer(x)
        if index in taps:
            outputs.append(x)
    return outputs


class LinearLayer(nn.Module):
    """LPIPS calibration of one layer: dropout then a bias-free 1x1 conv C -> 1 (``model.1.weight`` [1,C,1,1])."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def unit_normalize(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Features [N,C,H,W] divided by their L2 norm over channels."""
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance: images [N,3,H,W] in [-1, 1] (two batches) -> [N].

    Both images are shifted and scaled like the LPIPS release, passed through the
    feature network, unit-normalised per position; the squared differences are
    weighted by ``lin{i}`` and averaged over space, then summed over layers.
    Frozen (no parameter requires grad); gradients flow to the inputs.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in BACKBONE_FILES:
            raise ValueError(f"LPIPS net must be one of {sorted(BACKBONE_FILES)}, got {net!r}")
        self.net_name = net
        self.net = AlexNetFeatures() if net == "alex" else VGG16Features()
        for i, channels in enumerate(self.net.channels):
            self.add_module(f"lin{i}", LinearLayer(channels))
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    def lin_state_dict(self) -> dict[str, torch.Tensor]:
        """The calibration weights in the layout of the LPIPS release file (``lin{i}.model.1.weight``)."""
        return {k: v for k, v in self.state_dict().items() if k.startswith("lin")}

    def load_weights(self, backbone: dict[str, torch.Tensor], lin: dict[str, torch.Tensor]) -> None:
        """Load a torchvision feature state dict (classifier keys ignored) and the LPIPS linear layers, strictly."""
        features = {k: v for k, v in backbone.items() if k.startswith("features.")}
        self.net.load_state_dict(features, strict=True)
        missing = set(self.lin_state_dict()) - set(lin)
        if missing:
            raise KeyError(f"LPIPS linear weights lack {sorted(missing)}")
        self.load_state_dict({**{f"net.{k}": v for k, v in features.items()}, **lin}, strict=True)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        feats_a = self.net((a - self.shift) / self.scale)
        feats_b = self.net((b - self.shift) / self.scale)
        total = a.new_zeros(len(a))
        for i, (fa, fb) in enumerate(zip(feats_a, feats_b)):
            diff = (unit_normalize(fa) - unit_normalize(fb)).pow(2)
            total = total + getattr(self, f"lin{i}")(diff).mean(dim=(1, 2, 3))
        return total

    def train(self, mode: bool = True) -> "LPIPS":
        """Always stays in eval mode (no dropout in the calibration layers)."""
        return super().train(False)


def load_lpips(net: str = "alex", lin_path: str | os.PathLike | None = None,
               backbone_path: str | os.PathLike | None = None) -> LPIPS | None:
    """LPIPS with pretrained weights, or ``None`` (with a logged notice) when a weight file is missing.

    ``lin_path``: the LPIPS release's ``alex.pth`` / ``vgg.pth`` or a folder holding it.
    ``backbone_path``: torchvision's feature weights or a folder holding them; the
    torch hub cache is searched too.
    """
    backbone_file = find_weights(BACKBONE_FILES[net], backbone_path, hub_cache=True)
    lin_file = find_weights(LIN_FILES[net], lin_path)
    if backbone_file is None or lin_file is None:
        absent = BACKBONE_FILES[net] if backbone_file is None else LIN_FILES[net]
        log.warning("LPIPS loss disabled: weight file %s not found (give its path; nothing is downloaded)", absent)
        return None
    model = LPIPS(net)
    model.load_weights(read_state_dict(backbone_file), read_state_dict(lin_file))
    return model
