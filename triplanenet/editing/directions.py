"""Edit directions in w: what each slider moves, for any generator.

* **Attributes** (a generator trained on synthetic heads, e.g. the bundled model): its z *is* a
  head's parameters, normalised (:class:`~triplanenet.synthetic.codes.HeadCodes`), so the direction
  of parameter ``k`` is exact: the mean over sampled heads of ``w(z + e_k) - w(z)``, one spread of
  the parameter (its std over the training heads; every column of a colour). Shipped beside the
  weights (``edit_directions.safetensors``, float16), written by ``pack-bundled``.
* **Components** (any other checkpoint, e.g. FFHQ): the principal components of w sampled through
  the mapping network at a frontal camera (GANSpace), each scaled to its spread, named
  ``component_1`` .. ``component_10``; computed once per mapping network and cached on disk. A
  small ``edit_names.json`` beside the checkpoint (``{"component_3": "smile"}``) names them.

Every direction is ``[num_ws, w_dim]``: the move of the w+ codes for an amount of 1 (one spread).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..cameras import camera
from ..loading import bundled
from ..models.generator import TriPlaneGenerator
from ..synthetic.codes import HeadCodes
from ..synthetic.params import field_columns, sample_params

ATTRIBUTES: dict[str, str] = {
    "smile": "mouth corners up (a broader smile)",
    "glasses": "glasses on (a switch: about +2 puts them on a head without)",
    "beard": "a darker, fuller beard",
    "hair_volume": "more hair: higher and fuller",
    "hair_length": "longer hair, toward the shoulders",
    "nose_length": "a longer nose",
    "jaw_width": "a wider jaw",
    "eye_size": "larger eyes",
    "skin_color": "lighter skin (every colour channel up one spread)",
    "hair_color": "lighter hair colour",
}
"""The bundled model's edit directions: head parameters (:data:`~triplanenet.synthetic.params.FIELDS`) and what
moving one up does."""
SWITCHES = frozenset({"glasses"})
"""Attributes whose parameter is 0 or 1 in every head: their truth is the switch flipped, not one spread more."""
DIRECTIONS_NAME = "edit_directions.safetensors"
NAMES_FILE = "edit_names.json"
FORMAT = "triplanenet.EditDirections"
KINDS = ("attributes", "components")
ATTRIBUTE_SAMPLES = 1024
COMPONENT_COUNT = 10
COMPONENT_SAMPLES = 20_000
MAPPING_CHUNK = 4096
CACHE_ENV = "TRIPLANENET_CACHE"
"""Folder for computed component directions (default ``~/.cache/triplanenet``)."""


@dataclass(frozen=True)
class Directions:
    """Named edit directions of one generator: ``vectors`` [K,num_ws,w_dim], one spread each, in ``names`` order."""

    names: tuple[str, ...]
    vectors: torch.Tensor
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"edit directions are {' or '.join(KINDS)}, not {self.kind!r}")
        if self.vectors.ndim != 3 or len(self.vectors) != len(self.names) or not self.names:
            raise ValueError(f"edit directions need one [num_ws, w_dim] vector per name ({len(self.names)} names), "
                             f"got shape {tuple(self.vectors.shape)}")
        if len(set(self.names)) != len(self.names) or not torch.isfinite(self.vectors).all():
            raise ValueError("edit directions need distinct names and finite vectors")

    def vector(self, name: str) -> torch.Tensor:
        """The direction ``name`` [num_ws, w_dim]; an unknown name gets a ``ValueError`` listing the known ones."""
        if name not in self.names:
            raise ValueError(f"unknown edit {name!r}; this checkpoint offers {', '.join(self.names)}")
        return self.vectors[self.names.index(name)]

    def check_generator(self, generator: TriPlaneGenerator, what: str) -> None:
        """A ``ValueError`` naming both when these directions (from ``what``) do not fit ``generator``'s w+ codes."""
        expected = (generator.num_ws, generator.w_dim)
        if tuple(self.vectors.shape[1:]) != expected:
            raise ValueError(f"{what} holds directions of {tuple(self.vectors.shape[1:])} w codes, but the generator "
                             f"has {expected}: they belong to another checkpoint")

    def renamed(self, names: dict[str, str]) -> "Directions":
        """The same directions with some renamed (old -> new); unknown old names get a ``ValueError``."""
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise ValueError(f"{NAMES_FILE} names {', '.join(unknown)}, which do not exist; the directions are "
                             f"{', '.join(self.names)}")
        return Directions(tuple(names.get(n, n) for n in self.names), self.vectors, self.kind)

    def save(self, path: str | os.PathLike, dtype: torch.dtype = torch.float16) -> Path:
        """Write safetensors (float16 unless ``dtype`` says otherwise; names and kind in the metadata)."""
        path = Path(path)
        metadata = {"format": FORMAT, "kind": self.kind, "names": json.dumps(list(self.names))}
        save_file({"vectors": self.vectors.detach().to("cpu", dtype).contiguous()}, str(path), metadata)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Directions":
        """Read :meth:`save`'s file (float32); a missing or malformed file gets a ``ValueError`` that says why."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no edit directions: {path} is missing")
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata, vectors = dict(f.metadata() or {}), f.get_tensor("vectors").float()
            names = json.loads(metadata["names"])
        except (SafetensorError, KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path} is not an edit directions file ({exc})") from exc
        if metadata.get("format") != FORMAT or not isinstance(names, list):
            raise ValueError(f"{path} is not an edit directions file (format {metadata.get('format')!r})")
        try:
            return cls(tuple(str(n) for n in names), vectors, metadata.get("kind", ""))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc


def frontal_cameras(count: int) -> torch.Tensor:
    """``count`` copies of the frontal camera [count,25] (what the mapping network is conditioned on)."""
    return camera(0.0, 0.0).reshape(1, -1).expand(count, -1)


@torch.no_grad()
def attribute_directions(generator: TriPlaneGenerator, codes: HeadCodes, samples: int = ATTRIBUTE_SAMPLES,
                         seed: int = 0) -> Directions:
    """Exact directions of :data:`ATTRIBUTES` for a generator whose z is ``codes.z(params)``: the mean over
    ``samples`` seeded heads of ``w(z + e) - w(z)``, ``e`` one spread of the parameter (every column of it)."""
    z = codes.z(sample_params(samples, torch.Generator().manual_seed(seed)).to_tensor())
    c = frontal_cameras(samples)
    base = generator.mapping(z, c)
    vectors = []
    for name in ATTRIBUTES:
        step = torch.zeros(z.shape[1])
        step[field_columns(name)] = 1.0
        vectors.append((generator.mapping(z + step, c) - base).mean(0))
    return Directions(tuple(ATTRIBUTES), torch.stack(vectors), "attributes")


@torch.no_grad()
def component_directions(generator: TriPlaneGenerator, count: int = COMPONENT_COUNT,
                         samples: int = COMPONENT_SAMPLES, seed: int = 0) -> Directions:
    """The ``count`` principal components of w (``samples`` z ~ N(0, I) at a frontal camera), each scaled by its
    spread (standard deviation along it) and signed so that its largest entry is positive."""
    noise = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.z_dim, generator=noise)
    w = torch.cat([generator.mapping(chunk, frontal_cameras(len(chunk)))[:, 0]
                   for chunk in z.split(MAPPING_CHUNK)]).double()
    centred = w - w.mean(0)
    variances, eigenvectors = torch.linalg.eigh(centred.T @ centred / (samples - 1))
    spread = variances.flip(0)[:count].clamp(min=0).sqrt()
    axes = eigenvectors.flip(1)[:, :count].T
    axes = axes * axes.gather(1, axes.abs().argmax(1, keepdim=True)).sign()
    vectors = (axes * spread[:, None]).float()[:, None, :].expand(-1, generator.num_ws, -1)
    return Directions(tuple(f"component_{i + 1}" for i in range(count)), vectors.contiguous(), "components")


def mapping_fingerprint(generator: TriPlaneGenerator) -> str:
    """A hash of the mapping network's weights: which cached components belong to it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(generator.backbone.mapping.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_folder() -> Path:
    """``$TRIPLANENET_CACHE``, else ``~/.cache/triplanenet``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "triplanenet")


def cached_components(generator: TriPlaneGenerator, folder: Path | None = None) -> Directions:
    """:func:`component_directions` of ``generator``, read from the cache or computed and cached there (float32:
    a small generator's w spreads can be under float16's resolution)."""
    path = (folder or cache_folder()) / f"components-{mapping_fingerprint(generator)}.safetensors"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        component_directions(generator).save(path, torch.float32)
    return Directions.load(path)


def read_names(path: Path) -> dict[str, str]:
    """The optional names file: a JSON object of component -> name (``{}`` when missing), checked."""
    if not path.is_file():
        return {}
    try:
        names = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from exc
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                              for k, v in names.items()):
        raise ValueError(f"{path} must be a JSON object of component -> name, e.g. {{\"component_1\": \"age\"}}")
    return {k: v.strip() for k, v in names.items()}


def checkpoint_directory(checkpoint: str) -> Path | None:
    """Where a checkpoint's edit files live: the bundled model's folder, a folder, a file's folder (None: a Hub id)."""
    if checkpoint in bundled.NAMES:
        return bundled.BUNDLED_DIR
    path = Path(checkpoint)
    return path if path.is_dir() else path.parent if path.is_file() else None


def directions_for(checkpoint: str, generator: TriPlaneGenerator) -> Directions:
    """The edit directions of ``checkpoint`` (its generator ``generator``): the shipped attribute file when the
    checkpoint's folder has one (the bundled model must), else cached components, renamed by ``edit_names.json``.

    A missing, malformed or mismatched file gets a ``ValueError`` that says what is wrong.
    """
    folder = checkpoint_directory(checkpoint)
    shipped = folder / DIRECTIONS_NAME if folder is not None else None
    if checkpoint in bundled.NAMES or (shipped is not None and shipped.is_file()):
        directions = Directions.load(shipped)
        directions.check_generator(generator, str(shipped))
        return directions
    components = cached_components(generator)
    return components.renamed(read_names(folder / NAMES_FILE)) if folder is not None else components


def write_attribute_directions(generator: TriPlaneGenerator, folder: str | os.PathLike) -> Path:
    """:func:`attribute_directions` of a synthetic-head generator whose ``head_params.json`` is in ``folder``,
    written there as :data:`DIRECTIONS_NAME` (what ``pack-bundled`` ships)."""
    return attribute_directions(generator, HeadCodes.read(folder)).save(Path(folder) / DIRECTIONS_NAME)
