"""Training data: synthetic heads, deterministic batches and augmentations (folders of aligned photos are
:mod:`triplanenet.preprocess.aligned_folder`).

A *source* has ``len(source)`` and ``source.batch(indices) -> dict`` with at least
``image`` [B,3,H,W] in [-1, 1] and ``camera`` [B,25] (synthetic heads add
``mask``, ``depth`` [B,1,H,W] and ``params`` [B,97]). Batches are chosen by
:func:`batch_indices` from ``(seed, step, rank)`` alone, so a resumed or
distributed run draws exactly the batches an uninterrupted one would.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from ..image_tensors import EMPTY_SPACE, with_background
from ..synthetic import HeadParams, SyntheticHeads, render, sample_cameras, sample_params
from ..synthetic.dataset import item_seed

Batch = dict[str, torch.Tensor]

class Source(Protocol):
    """Anything that turns item indices into a batch dict."""

    def __len__(self) -> int: ...

    def batch(self, indices: list[int]) -> Batch: ...


class SyntheticSource:
    """Procedural heads (:class:`~triplanenet.synthetic.SyntheticHeads`) as a source, with their ground truth.

    ``background``: a grey level in [-1, 1] that replaces the procedural
    background (default :data:`EMPTY_SPACE`, what the bundled generator learned
    to show), or ``None`` to keep it.
    """

    def __init__(self, length: int, resolution: int = 128, seed: int = 0, shadows: bool = True,
                 background: float | None = EMPTY_SPACE) -> None:
        self.heads = SyntheticHeads(length, resolution, seed, shadows=shadows)
        self.background = background

    def __len__(self) -> int:
        return len(self.heads)

    def batch(self, indices: list[int]) -> Batch:
        """``image`` [B,3,R,R], ``camera`` [B,25], ``depth`` / ``mask`` [B,1,R,R], ``params`` [B,97]."""
        out = self.heads.render(list(indices))
        if self.background is not None:
            out["image"] = with_background(out["image"], out["mask"], self.background)
        return {key: out[key] for key in ("image", "camera", "depth", "mask", "params")}


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """A CPU generator determined by ``(seed, step, rank)`` only."""
    return torch.Generator().manual_seed(item_seed(seed * 1_000_003 + rank, step))


def batch_indices(length: int, batch: int, seed: int, step: int, rank: int = 0, world: int = 1) -> list[int]:
    """The ``batch`` item indices of ``rank`` at ``step``: one global draw of ``batch * world`` items, split by rank."""
    everything = torch.randint(length, (batch * world,), generator=step_generator(seed, step))
    return everything[rank * batch:(rank + 1) * batch].tolist()


@dataclass
class AugmentConfig:
    """Augmentations that make synthetic or small data look more like real photos (each with a probability)."""

    color_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.3
    blur_p: float = 0.2
    blur_sigma: float = 1.5
    noise_p: float = 0.2
    noise_std: float = 0.04
    background_p: float = 0.5


def augment(batch: Batch, config: AugmentConfig, generator: torch.Generator) -> Batch:
    """Augment ``batch["image"]`` [B,3,H,W] in [-1, 1] per image; the clean image is kept as ``target``.

    Random backgrounds need ``batch["mask"]`` [B,1,H,W] (synthetic heads); the
    geometry (camera, depth, mask) is never changed. Training feeds the augmented
    image to the encoders and compares renders with ``target``: the generator
    cannot render noise, blur or a backdrop, and need not learn to.
    """
    image = (batch["image"] + 1) / 2
    if "mask" in batch:
        image = random_background(image, batch["mask"], config.background_p, generator)
    image = color_jitter(image, config, generator)
    image = random_blur(image, config.blur_p, config.blur_sigma, generator)
    image = random_noise(image, config.noise_p, config.noise_std, generator)
    return {**batch, "image": image.clamp(0, 1) * 2 - 1, "target": batch["image"]}


def _chosen(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """Which of ``n`` images [n,1,1,1] (0/1 floats) an augmentation with probability ``p`` applies to."""
    return (torch.rand(n, generator=generator) < p).float().view(n, 1, 1, 1)


def _uniform(n: int, spread: float, generator: torch.Generator) -> torch.Tensor:
    """Factors [n,1,1,1] uniform in ``[1 - spread, 1 + spread]``."""
    return (1 + spread * (2 * torch.rand(n, generator=generator) - 1)).view(n, 1, 1, 1)


def color_jitter(image: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation jitter of images [B,3,H,W] in [0, 1]."""
    n = len(image)
    apply = _chosen(n, config.color_p, generator)
    gray = image.mean(dim=1, keepdim=True)
    jittered = gray + (image - gray) * _uniform(n, config.saturation, generator)
    mean = jittered.mean(dim=(1, 2, 3), keepdim=True)
    jittered = mean + (jittered - mean) * _uniform(n, config.contrast, generator)
    jittered = jittered * _uniform(n, config.brightness, generator)
    return apply * jittered + (1 - apply) * image


def gaussian_blur(image: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur images [B,C,H,W] with per-image Gaussian ``sigma`` [B] (pixels), separably, reflect padding."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernels = torch.exp(-0.5 * (offsets[None] / sigma[:, None].clamp(min=1e-3)) ** 2)
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    b, c, h, w = image.shape
    x = F.pad(image.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    weight = kernels.repeat_interleave(c, dim=0)
    x = F.conv2d(x, weight.view(b * c, 1, 1, -1), groups=b * c)
    x = F.conv2d(x, weight.view(b * c, 1, -1, 1), groups=b * c)
    return x.reshape(b, c, h, w)


def random_blur(image: torch.Tensor, p: float, max_sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with sigma in ``[0.3, max_sigma]`` on a fraction ``p`` of images [B,3,H,W]."""
    apply = _chosen(len(image), p, generator)
    sigma = 0.3 + (max_sigma - 0.3) * torch.rand(len(image), generator=generator)
    return apply * gaussian_blur(image, sigma) + (1 - apply) * image


def random_noise(image: torch.Tensor, p: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian pixel noise (std up to ``std``) on a fraction ``p`` of images [B,3,H,W]."""
    apply = _chosen(len(image), p, generator)
    scale = std * torch.rand(len(image), generator=generator).view(-1, 1, 1, 1)
    return image + apply * scale * torch.randn(image.shape, generator=generator)


def random_background(image: torch.Tensor, mask: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Replace the background (``1 - mask`` [B,1,H,W]) of a fraction ``p`` of images [B,3,H,W] by a random
    vertical two-colour gradient."""
    n, _, h, _ = image.shape
    apply = _chosen(n, p, generator)
    top, bottom = torch.rand(2, n, 3, 1, 1, generator=generator)
    t = torch.linspace(0, 1, h).view(1, 1, h, 1)
    backdrop = top + (bottom - top) * t
    replaced = mask * image + (1 - mask) * backdrop
    return apply * replaced + (1 - apply) * image


CACHE_SPEC = "spec.json"
CACHE_CHUNK = 16
"""Heads per cache file: a build interrupted mid-way loses at most one chunk's renders."""


@dataclass(frozen=True)
class CacheSpec:
    """What a ground-truth cache holds: ``heads`` heads seen from ``views`` cameras each, images at
    ``resolution`` and raw targets (image, depth, mask) at ``raw_resolution``, head ``i`` drawn from
    ``item_seed(seed, i)`` (the stream :class:`~triplanenet.synthetic.SyntheticHeads` uses)."""

    heads: int
    views: int
    resolution: int
    raw_resolution: int
    seed: int = 0
    shadows: bool = True
    background: float | None = EMPTY_SPACE

    def __post_init__(self) -> None:
        if self.heads < 1 or self.views < 1:
            raise ValueError(f"a ground-truth cache needs at least one head and one view, got {self.heads} heads "
                             f"and {self.views} views")
        if self.resolution % self.raw_resolution:
            raise ValueError(f"the image resolution {self.resolution} must be a multiple of the raw "
                             f"resolution {self.raw_resolution}")


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in [0, 255] (rounded)."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _from_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.float() / 127.5 - 1


class GroundTruthCache:
    """Synthetic ground truth rendered once into ``root`` and reused every epoch (reproducible by seed).

    Files: ``spec.json`` (the :class:`CacheSpec`) and one ``chunk_NNNNN.pt`` per
    :data:`CACHE_CHUNK` heads, written atomically, so :meth:`build` resumes where
    it stopped. Per view it keeps ``image`` [3,R,R] and ``raw`` [3,r,r] as uint8,
    ``depth`` and ``mask`` [1,r,r] as float16 (area-averaged to r like the trainer's
    losses do), so 1000 heads x 4 views at 128/64 px take about 300 MB.
    """

    def __init__(self, root: str | Path, spec: CacheSpec) -> None:
        self.root, self.spec = Path(root), spec
        self.data: dict[str, torch.Tensor] | None = None
        self.cpu_hours = 0.0

    def __len__(self) -> int:
        return self.spec.heads

    @property
    def chunks(self) -> int:
        return math.ceil(self.spec.heads / CACHE_CHUNK)

    def chunk_path(self, index: int) -> Path:
        return self.root / f"chunk_{index:05d}.pt"

    def head(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Head ``index``'s parameters [97] and its ``views`` cameras [V,25]."""
        generator = torch.Generator().manual_seed(item_seed(self.spec.seed, index))
        return sample_params(1, generator).to_tensor()[0], sample_cameras(self.spec.views, generator)

    def render_chunk(self, index: int) -> dict[str, torch.Tensor]:
        """Ground truth of the heads in chunk ``index``: ``params`` [H,97], ``camera`` [H,V,25], ``image``
        [H,V,3,R,R] and ``raw`` [H,V,3,r,r] (uint8), ``depth`` and ``mask`` [H,V,1,r,r] (float16)."""
        spec, started = self.spec, time.process_time()
        heads = [self.head(i) for i in range(index * CACHE_CHUNK, min(spec.heads, (index + 1) * CACHE_CHUNK))]
        params = torch.stack([p for p, _ in heads])
        camera = torch.stack([c for _, c in heads])
        h, v, r = len(heads), spec.views, spec.raw_resolution
        out = render(HeadParams.from_tensor(params.repeat_interleave(v, dim=0)), camera.reshape(h * v, 25),
                     spec.resolution, shadows=spec.shadows)
        image = out["image"]
        if spec.background is not None:
            image = with_background(image, out["mask"], spec.background)

        def per_head(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(h, v, *x.shape[1:])

        return {"params": params, "camera": camera, "image": per_head(_to_uint8(image)),
                "raw": per_head(_to_uint8(_area(image, r))), "depth": per_head(_area(out["depth"], r).half()),
                "mask": per_head(_area(out["mask"], r).half()),
                "cpu_seconds": torch.tensor(time.process_time() - started, dtype=torch.float64)}

    def build(self, progress: bool = False) -> None:
        """Render every missing chunk (``progress``: one line per chunk on stderr)."""
        self.root.mkdir(parents=True, exist_ok=True)
        spec_path = self.root / CACHE_SPEC
        if spec_path.exists() and CacheSpec(**json.loads(spec_path.read_text())) != self.spec:
            raise ValueError(f"{self.root} holds a ground-truth cache of another spec ({spec_path.read_text()}); "
                             f"delete it or choose another --cache-dir")
        spec_path.write_text(json.dumps(asdict(self.spec)))
        for index in range(self.chunks):
            path = self.chunk_path(index)
            if path.exists():
                continue
            tmp = path.with_name(path.name + ".tmp")
            torch.save(self.render_chunk(index), tmp)
            tmp.replace(path)
            if progress:
                sys.stderr.write(f"ground-truth cache: chunk {index + 1}/{self.chunks}\n")
                sys.stderr.flush()

    def load(self) -> None:
        """Read every chunk into memory (building the missing ones first)."""
        self.build()
        chunks = [torch.load(self.chunk_path(i), weights_only=True) for i in range(self.chunks)]
        self.cpu_hours = sum(float(chunk.pop("cpu_seconds")) for chunk in chunks) / 3600
        self.data = {key: torch.cat([chunk[key] for chunk in chunks]) for key in chunks[0]}

    def batch(self, heads: list[int], views: torch.Tensor) -> Batch:
        """Heads ``heads`` seen from their cached views ``views`` [B,V'] (indices < ``spec.views``), head-major
        (N = B*V'): ``params`` [B,97], ``camera`` [N,25], ``image`` [N,3,R,R], ``raw`` [N,3,r,r], ``depth``
        and ``mask`` [N,1,r,r], all float32."""
        if self.data is None:
            self.load()
        rows = torch.tensor(heads).view(-1, 1)

        def pick(key: str) -> torch.Tensor:
            x = self.data[key][rows, views]
            return x.reshape(-1, *x.shape[2:])

        return {"params": self.data["params"][heads], "camera": pick("camera"),
                "image": _from_uint8(pick("image")), "raw": _from_uint8(pick("raw")),
                "depth": pick("depth").float(), "mask": pick("mask").float()}


def _area(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images [N,C,H,W] average-pooled to [N,C,size,size] (H a multiple of size)."""
    return x if x.shape[-1] == size else F.adaptive_avg_pool2d(x, (size, size))
