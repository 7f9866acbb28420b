"""The result of inverting a photo: an :class:`Inversion`, the one object a reconstructed head is.

An inversion is the w+ codes and the tri-planes of one or more faces plus the
cameras they were photographed from. It keeps a reference to the generator
(not saved with it) so that it can render any camera and answer density/colour
queries without running the encoders again, and it round-trips bit-exactly
through a file (safetensors, or ``.npz``) so a user can come back to a result.
Every render of a head goes through :meth:`Inversion.synthesis`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field as dataclass_field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..cameras import CameraInput, as_cameras
from ..models.generator import TriPlaneGenerator

FORMAT = "triplanenet.Inversion"
FORMAT_VERSION = "1"
TENSOR_NAMES = ("ws", "planes_initial", "planes", "camera", "input_image", "photo_cameras", "photos")
TENSOR_NDIMS = {"ws": 3, "planes_initial": 5, "planes": 5, "camera": 2, "input_image": 4, "photo_cameras": 3,
                "photos": 5}
NPZ_METADATA_KEY = "__metadata__"
MAX_RENDERING_RESOLUTION = 1024

@dataclass
class Inversion:
    """Inverted face(s): what the encoders found, renderable from any camera.

    * ``ws`` [N,num_ws,512]: w+ codes (the pSp output plus the average latent);
    * ``planes_initial`` [N,3,32,256,256]: the generator's tri-planes for ``ws``;
    * ``planes`` [N,3,32,256,256]: the refined tri-planes (equal to
      ``planes_initial`` when the tri-plane branch was skipped);
    * ``camera`` [N,25]: the camera of each input photo;
    * ``input_image`` [N,3,R,R] in [-1, 1] or None: the photo as the network saw it;
    * ``photo_cameras`` [N,K,25] and ``photos`` [N,K,3,R,R] in [-1, 1], or None: the K photos of one
      person a head was fitted to together (:func:`triplanenet.refinement.refine_together`), each at
      its own camera; ``camera`` and ``input_image`` are then the photo the fit started from. Files
      saved before these existed load with None;
    * ``method``: how it was made (``"v1"``, ``"v1+cttr"``, ``"v2"`` or ``"w+"``; ``"+refined"``
      appended after :meth:`refine`);
    * ``neural_rendering_resolution``: the side it is volume-rendered at (None: the
      generator's own); a refined head is rendered at the resolution it was fitted at;
    * ``edits``: the semantic edit applied (direction name -> amount in spreads, see
      :mod:`triplanenet.editing`); empty for an unedited head. Saved with it.

    ``generator`` renders the result; it is not saved: pass it to :meth:`load`.
    """

    ws: torch.Tensor
    planes_initial: torch.Tensor
    planes: torch.Tensor
    camera: torch.Tensor
    input_image: torch.Tensor | None = None
    method: str = "v2"
    neural_rendering_resolution: int | None = None
    generator: TriPlaneGenerator | None = dataclass_field(default=None, repr=False, compare=False)
    edits: dict[str, float] = dataclass_field(default_factory=dict)
    photo_cameras: torch.Tensor | None = None
    photos: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.ws)
        for name, ndim in TENSOR_NDIMS.items():
            t = getattr(self, name)
            if t is not None and (t.ndim != ndim or len(t) != n):
                raise ValueError(f"Inversion.{name} must be {ndim}-D with one entry per face ({n}), "
                                 f"got shape {tuple(t.shape)}")
        if self.planes.shape != self.planes_initial.shape or self.camera.shape[1] != 25:
            raise ValueError("Inversion: planes and planes_initial must have the same shape, and cameras 25 numbers")
        if (self.photos is None) != (self.photo_cameras is None) or (
                self.photos is not None and (self.photo_cameras.shape[-1] != 25
                                             or self.photos.shape[:2] != self.photo_cameras.shape[:2])):
            raise ValueError("Inversion: photos [N,K,3,R,R] and photo_cameras [N,K,25] go together, "
                             "one camera per photo")

    def __len__(self) -> int:
        return len(self.ws)

    def _generator(self) -> TriPlaneGenerator:
        if self.generator is None:
            raise RuntimeError("this Inversion has no generator: use Inversion.load(path, generator) "
                               "or set .generator (e.g. inverter.decoder)")
        return self.generator

    def _for_views(self, cameras: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``ws``, ``planes`` and ``cameras`` [K,25] matched up: one camera for every face,
        one camera per face, or K cameras of a single face."""
        n, k = len(self), len(cameras)
        if k == 1:
            return self.ws, self.planes, cameras.expand(n, -1)
        if k == n:
            return self.ws, self.planes, cameras
        if n == 1:
            return self.ws.expand(k, -1, -1), self.planes.expand(k, -1, -1, -1, -1), cameras
        raise ValueError(f"got {k} cameras for {n} faces; pass one camera, one per face "
                         "or any number for a single face")

    @torch.no_grad()
    def synthesis(self, cameras: torch.Tensor, neural_rendering_resolution: int | None = None,
                  deterministic: bool = True, fast: bool = False) -> dict[str, torch.Tensor]:
        """The generator's output dict for ``cameras`` [K,25] (already checked): every render of a head goes here.

        One camera renders every face, one camera per face, or K cameras a single
        face. ``neural_rendering_resolution`` defaults to the inversion's own;
        ``deterministic=False`` uses the official renderer's random sample jitter;
        ``fast`` the generator's reduced-precision mode (47.6 dB PSNR against float32
        on FFHQ-512, a third faster).
        """
        ws, planes, cameras = self._for_views(cameras.to(self.ws.device))
        return self._generator().synthesis(
            ws, cameras, neural_rendering_resolution=neural_rendering_resolution or self.neural_rendering_resolution,
            planes=planes, deterministic=deterministic, fast=fast)

    def render(self, camera: CameraInput | None = None, neural_rendering_resolution: int | None = None,
               deterministic: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Render the tri-planes from ``camera`` ([25] or [K,25]; default: the input cameras).

        Returns ``image`` [K,3,R,R] in [-1, 1] (R = generator resolution, 512 for FFHQ)
        and ``depth`` [K,1,r,r] at the neural rendering resolution r (default: the
        inversion's :attr:`neural_rendering_resolution`). Cameras are matched to
        faces as in :meth:`synthesis`.
        """
        given = self.camera if camera is None else as_cameras(camera)
        out = self.synthesis(given, neural_rendering_resolution, deterministic)
        return out["image"], out["image_depth"]

    @torch.no_grad()
    def query(self, points: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Density and colour features at world points [M,3] (every face) or [N,M,3].

        Returns ``sigma`` [N,M,1] (raw density; the renderer uses ``softplus(sigma - 1)``)
        and ``rgb`` [N,M,32] (decoded features; the first 3 are colour, about [0, 1]).
        """
        p = torch.as_tensor(points, dtype=torch.float32, device=self.ws.device)
        if p.ndim == 2:
            p = p[None].expand(len(self), -1, -1)
        if p.ndim != 3 or p.shape[0] != len(self) or p.shape[-1] != 3:
            raise ValueError(f"points must be [M,3] or [{len(self)},M,3], got shape {tuple(p.shape)}")
        out = self._generator().sample_mixed(p, None, self.ws, planes=self.planes)
        return out["sigma"], out["rgb"]

    @torch.no_grad()
    def field(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A :class:`triplanenet.outputs.geometry.Field` of a one-face inversion: world points [M,3] ->
        ``sigma`` [M,1], ``rgb`` [M,32] (what meshes are made of)."""
        if len(self) != 1:
            raise ValueError(f"this inversion holds {len(self)} faces; mesh one of them: inversion.face(i)")
        sigma, rgb = self.query(points)
        return sigma[0], rgb[0]

    @property
    def box(self) -> float:
        """Side of the cube the tri-planes cover (EG3D's ``box_warp``)."""
        return float(self._generator().rendering_kwargs["box_warp"])

    def face(self, index: int) -> "Inversion":
        """Face ``index`` alone, as a one-face inversion (views of the same tensors)."""
        pick = slice(index, index + 1 if index != -1 else None)
        values = {name: getattr(self, name)[pick] if getattr(self, name) is not None else None
                  for name in TENSOR_NAMES}
        return replace(self, **values)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The stored tensors by name (``input_image`` only when present), on the CPU, contiguous."""
        values = {name: getattr(self, name) for name in TENSOR_NAMES if getattr(self, name) is not None}
        return {name: t.detach().to("cpu").contiguous() for name, t in values.items()}

    def save(self, path: str | Path) -> Path:
        """Write the inversion to ``path``: ``.npz`` (numpy, no pickle) or anything else as safetensors."""
        path = Path(path)
        metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "method": self.method}
        if self.neural_rendering_resolution is not None:
            metadata["neural_rendering_resolution"] = str(self.neural_rendering_resolution)
        if self.edits:
            metadata["edits"] = json.dumps(self.edits)
        tensors = self.tensors()
        if path.suffix == ".npz":
            arrays = {name: t.numpy() for name, t in tensors.items()}
            np.savez(path, **arrays, **{NPZ_METADATA_KEY: np.array(json.dumps(metadata))})
        else:
            save_file({name: t.clone() for name, t in tensors.items()}, str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | Path, generator: TriPlaneGenerator | None = None) -> "Inversion":
        """Read a file written by :meth:`save`; tensors go to ``generator``'s device (CPU without one)."""
        path = Path(path)
        try:
            tensors, metadata = _read_npz(path) if path.suffix == ".npz" else _read_safetensors(path)
        except (ValueError, SafetensorError) as exc:
            raise ValueError(f"{path} is not a readable saved Inversion ({exc})") from exc
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not a saved Inversion (format {metadata.get('format')!r})")
        missing = {"ws", "planes_initial", "planes", "camera"} - tensors.keys()
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}")
        device = next(generator.parameters()).device if generator is not None else torch.device("cpu")
        values = {name: t.to(device) for name, t in tensors.items() if name in TENSOR_NAMES}
        resolution = metadata.get("neural_rendering_resolution")
        return cls(**values, method=metadata.get("method", "v2"), generator=generator,
                   neural_rendering_resolution=_resolution(resolution, path) if resolution is not None else None,
                   edits=_edits(metadata.get("edits", "{}"), path))


def _edits(text: Any, path: Path) -> dict[str, float]:
    """The saved ``edits`` (a JSON object of name -> finite number), or a readable ``ValueError``."""
    try:
        edits = json.loads(str(text))
    except json.JSONDecodeError:
        edits = None
    if not isinstance(edits, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and np.isfinite(v) for k, v in edits.items()):
        raise ValueError(f"{path}: 'edits' must be a JSON object of name -> number, got {text!r}")
    return {name: float(amount) for name, amount in edits.items()}


def _resolution(text: Any, path: Path) -> int:
    """The saved ``neural_rendering_resolution`` as a positive int, or a readable ``ValueError``."""
    try:
        value = int(str(text))
    except ValueError:
        value = 0
    if not 0 < value <= MAX_RENDERING_RESOLUTION:
        raise ValueError(f"{path}: neural_rendering_resolution must be 1..{MAX_RENDERING_RESOLUTION}, got {text!r}")
    return value


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        return {name: f.get_tensor(name) for name in f.keys()}, dict(f.metadata() or {})


def _read_npz(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    metadata = json.loads(str(arrays.pop(NPZ_METADATA_KEY, np.array("{}"))))
    return {name: torch.from_numpy(a) for name, a in arrays.items()}, metadata
