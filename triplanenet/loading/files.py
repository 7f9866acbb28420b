"""What every loader does first: find the file, tell what it is, read it without running code.

* :func:`resolve` turns a path or a Hugging Face Hub id into a local path
  (``huggingface_hub`` honours ``HF_HUB_OFFLINE``).
* :func:`file_kind` tells a torch zip checkpoint, torch's legacy format and a
  plain pickle (an EG3D network snapshot) apart by their first bytes.
* :func:`read_torch` is ``torch.load(weights_only=True)``: tensors and plain
  containers only, plus the classes a caller allows; anything else is refused
  with the name the file references.
* :func:`load_folder` checks a ``save_pretrained`` folder holds the class asked for.

Every failure is a :class:`CheckpointError` whose message says what to do.
"""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..pretrained import CONFIG_NAME, WEIGHTS_NAME, Pretrained, read_config


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says why and what to do."""


HUB_ID = re.compile(r"^(hf://)?(?P<repo>[\w.-]+/[\w.-]+)(/(?P<file>.+))?$")
TORCH_ZIP = "torch zip"
TORCH_LEGACY = "torch legacy"
PICKLE = "pickle"
UNKNOWN = "unknown"
ZIP_HEAD = b"PK"
LEGACY_TORCH_HEAD = b"\x80\x02\x8a"
"""Start of torch's legacy format: a protocol-2 pickle of its magic number (a long)."""
PICKLE_HEAD = b"\x80"
"""Every pickle of protocol 2 or later starts with the PROTO opcode."""
REFERENCED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")

M = TypeVar("M", bound=Pretrained)


def resolve(source: str | os.PathLike) -> Path:
    """A local path for ``source``: an existing file/folder, or a Hub id downloaded (or found in the cache).

    Hub ids: ``owner/repo`` (our format: ``config.json`` + ``model.safetensors``)
    or ``owner/repo/file.pkl``, optionally prefixed ``hf://``.
    """
    path = Path(source).expanduser()
    if path.exists():
        return path
    match = HUB_ID.match(str(source))
    if not match or str(source).startswith((".", "/", "~")):
        raise CheckpointError(f"checkpoint not found: {source} (not a file, folder or Hugging Face Hub id)")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo, filename = match["repo"], match["file"]
    try:
        if filename:
            return Path(hf_hub_download(repo, filename))
        hf_hub_download(repo, CONFIG_NAME)
        return Path(hf_hub_download(repo, WEIGHTS_NAME)).parent
    except LocalEntryNotFoundError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        hint = ("HF_HUB_OFFLINE is set and it is not in the local cache: run once with network access, "
                "or download the file and pass its path" if offline else "check the network connection")
        raise CheckpointError(f"cannot fetch '{source}' from the Hugging Face Hub: {hint}") from exc
    except HfHubHTTPError as exc:
        raise CheckpointError(f"cannot fetch '{source}' from the Hugging Face Hub: {exc}") from exc


def file_kind(path: Path) -> str:
    """:data:`TORCH_ZIP`, :data:`TORCH_LEGACY`, :data:`PICKLE` or :data:`UNKNOWN`, from the first bytes."""
    with open(path, "rb") as f:
        head = f.read(len(LEGACY_TORCH_HEAD))
    if head.startswith(ZIP_HEAD):
        return TORCH_ZIP
    if head == LEGACY_TORCH_HEAD:
        return TORCH_LEGACY
    return PICKLE if head.startswith(PICKLE_HEAD) else UNKNOWN


def read_torch(path: Path, allowed: Sequence[type] = ()) -> Mapping[str, Any]:
    """``torch.load(weights_only=True)`` of a torch file holding a dict, memory-mapped when it is a zip.

    ``allowed``: classes accepted besides tensors and plain containers (e.g.
    ``argparse.Namespace``); any other object the file names is refused unbuilt.
    """
    allowed_names = "".join(f", {cls.__module__}.{cls.__qualname__}" for cls in allowed)
    try:
        with torch.serialization.safe_globals(list(allowed)):
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=file_kind(path) == TORCH_ZIP)
    except pickle.UnpicklingError as exc:
        found = REFERENCED_GLOBAL.search(str(exc))
        name = found[1] if found else "an unknown object"
        raise CheckpointError(f"refused to load {path}: it references '{name}', and only tensors, plain "
                              f"containers{allowed_names} are allowed (anything else could run code)") from exc
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"{path} does not hold a checkpoint dict")
    return ckpt


def load_folder(path: Path, cls: type[M], device: str | torch.device = "cpu",
                hints: Mapping[str, str] | None = None) -> M:
    """The ``cls`` saved in folder ``path`` by ``save_pretrained``, in eval mode.

    ``hints``: class name found -> what to use instead, appended to the refusal.
    """
    if not (path / CONFIG_NAME).exists():
        raise CheckpointError(f"{path} is a folder without {CONFIG_NAME} "
                              f"(expected {cls.__name__}.save_pretrained output)")
    found = read_config(path).get("class")
    if found != cls.__name__:
        hint = f" ({hints[found]})" if hints and found in hints else ""
        raise CheckpointError(f"{path} holds a {found!r}, not a {cls.__name__}{hint}")
    return cls.from_pretrained(path, device)
