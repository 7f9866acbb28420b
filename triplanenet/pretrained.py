"""Our own checkpoint format: a folder with ``config.json`` + ``model.safetensors``.

Safetensors holds only tensors, so loading it cannot run code; the config is
plain JSON. A model class opts in by subclassing :class:`Pretrained` and
saying how to turn itself into a config and back.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file, save_file

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1

T = TypeVar("T", bound="Pretrained")


class Pretrained:
    """Mixin for ``nn.Module`` subclasses: ``save_pretrained(dir)`` / ``from_pretrained(dir)``."""

    def get_config(self) -> dict[str, Any]:
        """A JSON-serialisable description that :meth:`from_config` rebuilds the module from."""
        raise NotImplementedError

    @classmethod
    def from_config(cls: type[T], config: dict[str, Any]) -> T:
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed).

        ``dtype`` (e.g. ``torch.float16``) stores floating-point tensors at that
        precision, half the file for float16; loading casts them back to the
        module's own dtype.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"class": type(self).__name__, "format_version": FORMAT_VERSION, **self.get_config()}
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2))
        save_tensors(self.state_dict(), directory / WEIGHTS_NAME, dtype)
        return directory

    @classmethod
    def from_pretrained(cls: type[T], directory: str | Path, device: str | torch.device = "cpu") -> T:
        """Rebuild from a folder written by :meth:`save_pretrained`."""
        directory = Path(directory)
        config = json.loads((directory / CONFIG_NAME).read_text())
        if config.get("class") != cls.__name__:
            raise ValueError(f"{directory} holds a {config.get('class')!r}, not a {cls.__name__}")
        model = cls.from_config(config)
        model.load_state_dict(load_file(str(directory / WEIGHTS_NAME), device=str(device)))
        return model.to(device).eval()


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, dtype: torch.dtype | None = None) -> None:
    """Write ``tensors`` as safetensors, floating-point ones cast to ``dtype`` when given."""
    def stored(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().to("cpu")
        return (t.to(dtype) if dtype is not None and t.is_floating_point() else t).contiguous()

    save_file({k: stored(v) for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def read_config(directory: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a pretrained folder."""
    return json.loads((Path(directory) / CONFIG_NAME).read_text())
