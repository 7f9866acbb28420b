"""TriPlaneNet (v1 and v2): a photo and its camera -> w+ codes and corrected EG3D tri-planes.

Method (Bhattarai, Niessner, Sevastopolsky, WACV 2024), with R = 256 the
tri-plane resolution and x the photo resized to R:

1. ``ws = psp_encoder(x) + latent_avg`` ([N,14,512]); ``latent_avg`` is the
   generator's ``backbone.mapping.w_avg`` (the mapping network is not used).
2. ``planes_initial = decoder.planes(ws)``; the render ``y`` of those planes at
   the input camera (512, resized to R like x) is the initial reconstruction.
3. The tri-plane branch looks at ``x``, ``y`` and their difference:

   * v1: ``offsets = triplanenet_encoder([y, x - y])`` [N,96,R,R];
     ``planes = planes_initial + offsets``. Cascaded test-time refinement (CTTR)
     runs the branch once more on the render of those planes, and the new
     offsets replace the first ones.
   * v2 adds a "probably symmetric" prior: with ``y_m`` the render at the
     mirrored camera, ``planes = triplanenet_encoder([y, x - y, flip(x) - y_m],
     planes_initial)`` (full tri-planes, not offsets).

The submodules are named as in the published checkpoints, so ``state_dict()``
has their layout (``psp_encoder.``, ``triplanenet_encoder.``, ``decoder.``).
:func:`triplanenet.loading.load_inverter` reads those checkpoints, safely.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from .. import cameras, configs
from ..image_tensors import ImageInput, as_images, resize_images
from ..cameras import CameraInput, as_cameras
from ..pretrained import Pretrained
from .encoders import GradualStyleEncoder, TriPlaneEncoderV1, TriPlaneEncoderV2
from .generator import TriPlaneGenerator

PLANE_RESOLUTION = 256
"""Side of EG3D's tri-planes, and so of the tri-plane encoders' inputs and outputs."""


def ffhq_generator_config() -> dict[str, Any]:
    """Generator config (``TriPlaneGenerator.get_config()`` form) of the published FFHQ-512 EG3D."""
    init_kwargs, resolution = configs.get("ffhq512-128")
    return {"init_kwargs": init_kwargs, "rendering_kwargs": copy.deepcopy(init_kwargs["rendering_kwargs"]),
            "neural_rendering_resolution": resolution}


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Encoder inputs channels-last: the convolutions then run 1.2-1.3x faster on CPU, same numbers."""
    return x.contiguous(memory_format=torch.channels_last)


class Inverted(NamedTuple):
    """What the inverter computes for N crops (:class:`triplanenet.inversion.Inversion` wraps it for people).

    ``ws`` [N,n_styles,512], ``planes_initial`` and ``planes`` [N,3,32,256,256] (equal
    without the tri-plane branch), ``camera`` [N,25], ``image`` [N,3,R,R] in [-1, 1] (the
    crops at the generator's resolution), ``method`` ``"v2"``, ``"v1"``, ``"v1+cttr"`` or ``"w+"``.
    """

    ws: torch.Tensor
    planes_initial: torch.Tensor
    planes: torch.Tensor
    camera: torch.Tensor
    image: torch.Tensor
    method: str


class LoadReport(NamedTuple):
    """State-dict keys a checkpoint lacked or had in excess when it was loaded."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class TriPlaneNet(nn.Module, Pretrained):
    """The inverter: ``inverter(image, camera) -> Inverted`` (w+ codes and tri-planes).

    ``version`` 1 or 2; ``use_pixelshuffle`` picks the v2 decoder variant (v1
    always uses PixelShuffle). ``generator`` is a generator config as
    ``TriPlaneGenerator.get_config()`` returns it (default: FFHQ-512, neural
    rendering resolution 128); ``n_styles`` must equal its ``num_ws``.
    ``psp_kwargs`` / ``triplane_kwargs`` are extra constructor arguments of the
    encoders (e.g. smaller widths for tests); the defaults are the published sizes.
    The module is built in eval mode (call ``.train()`` to train it).
    """

    def __init__(self, version: int = 2, use_pixelshuffle: bool = False, generator: Mapping | None = None,
                 n_styles: int = 14, psp_kwargs: Mapping | None = None, triplane_kwargs: Mapping | None = None):
        super().__init__()
        if version not in (1, 2):
            raise ValueError(f"version must be 1 or 2, got {version!r}")
        generator = copy.deepcopy(dict(generator)) if generator else ffhq_generator_config()
        self.version, self.n_styles = version, n_styles
        self.use_pixelshuffle = True if version == 1 else bool(use_pixelshuffle)
        self.psp_kwargs, self.triplane_kwargs = dict(psp_kwargs or {}), dict(triplane_kwargs or {})
        self.psp_encoder = GradualStyleEncoder(n_styles=n_styles, style_dim=generator["init_kwargs"]["w_dim"],
                                               **self.psp_kwargs)
        self.triplanenet_encoder = (TriPlaneEncoderV1(**self.triplane_kwargs) if version == 1 else
                                    TriPlaneEncoderV2(self.use_pixelshuffle, **self.triplane_kwargs))
        self.decoder = TriPlaneGenerator.from_config(generator).requires_grad_(False)
        if self.decoder.num_ws != n_styles:
            raise ValueError(f"the generator takes {self.decoder.num_ws} w vectors, the encoder makes {n_styles}")
        self.load_report: LoadReport | None = None
        self.eval()

    def get_config(self) -> dict[str, Any]:
        return {"version": self.version, "use_pixelshuffle": self.use_pixelshuffle, "n_styles": self.n_styles,
                "generator": self.decoder.get_config(), "psp_kwargs": self.psp_kwargs,
                "triplane_kwargs": self.triplane_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TriPlaneNet":
        keys = ("version", "use_pixelshuffle", "generator", "n_styles", "psp_kwargs", "triplane_kwargs")
        return cls(**{key: config[key] for key in keys if key in config})

    @property
    def latent_avg(self) -> torch.Tensor:
        """The generator's average latent, once per style: [n_styles,512]."""
        return self.decoder.backbone.mapping.w_avg.expand(self.n_styles, -1)

    @property
    def psp_resolution(self) -> int:
        """Side of the pSp encoder's input (256 published)."""
        return self.psp_kwargs.get("input_size", PLANE_RESOLUTION)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N,3,256,256] in [-1, 1] -> w+ codes [N,n_styles,512] (pSp output + average latent)."""
        return self.psp_encoder(channels_last(resize_images(x, self.psp_resolution))) + self.latent_avg

    def render_small(self, ws: torch.Tensor, planes: torch.Tensor, camera: torch.Tensor,
                     deterministic: bool) -> torch.Tensor:
        """The generator's image of ``planes`` [N,3,32,256,256] from ``camera`` [N,25], resized to [N,3,256,256]."""
        image = self.decoder.synthesis(ws, camera, planes=planes, deterministic=deterministic)["image"]
        return resize_images(image, PLANE_RESOLUTION)

    def branch_v1(self, x: torch.Tensor, ws: torch.Tensor, planes_initial: torch.Tensor, camera: torch.Tensor,
                  cttr: bool, deterministic: bool) -> torch.Tensor:
        """v1: ``planes_initial`` + offsets predicted from ``[y, x - y]`` (y: render at ``camera``).

        With ``cttr`` the branch runs again on the render of the corrected planes;
        its offsets replace the first ones. Shapes as in :meth:`branch_v2`.
        """
        planes = planes_initial
        for _ in range(2 if cttr else 1):
            y = self.render_small(ws, planes, camera, deterministic)
            offsets = self.triplanenet_encoder(channels_last(torch.cat([y, x - y], dim=1)))
            planes = planes_initial + offsets.view_as(planes_initial)
        return planes

    def branch_v2(self, x: torch.Tensor, ws: torch.Tensor, planes_initial: torch.Tensor, camera: torch.Tensor,
                  deterministic: bool) -> torch.Tensor:
        """v2: corrected tri-planes [N,3,32,256,256] from ``x`` [N,3,256,256], ``ws`` [N,14,512],
        ``planes_initial`` [N,3,32,256,256] and ``camera`` [N,25].

        The encoder sees ``[y, x - y, flip(x) - y_m]`` where ``y`` and ``y_m`` render
        ``planes_initial`` at ``camera`` and at its mirror image (two renders: as fast
        as one batched render, with half the peak memory).
        """
        y = self.render_small(ws, planes_initial, camera, deterministic)
        y_mirror = self.render_small(ws, planes_initial, cameras.mirror(camera), deterministic)
        inputs = torch.cat([y, x - y, x.flip(-1) - y_mirror], dim=1)
        planes = self.triplanenet_encoder(channels_last(inputs), channels_last(planes_initial.flatten(1, 2)))
        return planes.contiguous().view_as(planes_initial)

    @torch.no_grad()
    def forward(self, image: ImageInput, camera: CameraInput, branch: bool = True, cttr: bool = False,
                deterministic: bool = True) -> Inverted:
        """Aligned face crop(s) seen from ``camera`` -> w+ codes and tri-planes (:class:`Inverted`).

        ``image``: a PIL image (or a list), an HxWx3 / NxHxWx3 uint8 array or a
        float tensor [3,H,W] / [N,3,H,W] in [-1, 1], square, resized to the
        generator's resolution if needed. ``camera``: 25 numbers or [N,25].
        ``branch=False`` is the "w+ only" mode: pSp codes and their tri-planes,
        no tri-plane branch (and no render). ``cttr`` (v1 only) runs cascaded
        test-time refinement. ``deterministic=False`` renders the encoder inputs
        with the official renderer's random sample jitter.
        """
        if cttr and self.version != 1:
            raise ValueError("cttr (cascaded test-time refinement) is a TriPlaneNet v1 option")
        device = self.latent_avg.device
        full = as_images(image, self.decoder.img_resolution).to(device)
        c = as_cameras(camera, len(full)).to(device)
        x = resize_images(full, PLANE_RESOLUTION)
        ws = self.encode(x)
        planes_initial = self.decoder.planes(ws)
        if not branch:
            planes, method = planes_initial, "w+"
        elif self.version == 1:
            planes, method = self.branch_v1(x, ws, planes_initial, c, cttr, deterministic), "v1+cttr" if cttr else "v1"
        else:
            planes, method = self.branch_v2(x, ws, planes_initial, c, deterministic), "v2"
        return Inverted(ws, planes_initial, planes, c, full, method)
