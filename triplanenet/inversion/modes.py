"""One checkpoint's inversion modes and their inverters, loaded once per process and shared.

:class:`triplanenet.pipeline.Pipeline` (what every front end runs) inverts through it.

A :class:`ModelSet` answers which inversion modes a checkpoint offers and which
inverter runs each:

* ``"v2"`` / ``"v1"``: TriPlaneNet of that version (pSp codes, then the tri-plane branch);
* ``"w+"``: the pSp codes and their tri-planes only, to show what the branch adds.

The bundled model ships both versions on one generator (``'bundled'`` and
``'bundled-v1'``), so it offers all three modes. A published or saved checkpoint
is one version: it offers that version and ``"w+"``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import torch

from ..devices import default_device
from ..loading import bundled, load_inverter
from ..models.triplanenet import TriPlaneNet

MODE_LABELS = {"v2": "TriPlaneNet v2", "v1": "TriPlaneNet v1", "w+": "w+ only (no tri-plane branch)"}
"""Inversion modes, by the value the API takes, with the label the page shows."""

BUNDLED_NOTE = ("The bundled model was trained on procedural synthetic heads only: it has never seen a "
                "photograph, so a real photo comes out as the closest synthetic head. Configure the published "
                "EG3D + TriPlaneNet weights (`--checkpoint` or `$TRIPLANENET_CHECKPOINT`) for photographs.")


@dataclass
class ModelSet:
    """The inverters of one checkpoint, by TriPlaneNet version (they share one generator's weights).

    ``source`` is the checkpoint as configured; ``default_version`` the version it names.
    """

    source: str
    inverters: dict[int, TriPlaneNet]
    default_version: int
    is_bundled: bool

    @property
    def modes(self) -> list[str]:
        """The modes this checkpoint can run, its own version first."""
        versions = sorted(self.inverters, key=lambda v: v != self.default_version)
        return [f"v{v}" for v in versions] + ["w+"]

    @property
    def default_mode(self) -> str:
        return f"v{self.default_version}"

    def inverter(self, mode: str) -> tuple[TriPlaneNet, bool]:
        """The inverter for ``mode`` and whether it runs the tri-plane branch."""
        if mode == "w+":
            return self.inverters[self.default_version], False
        if mode not in self.modes:
            raise ValueError(f"mode {mode!r} is not available with {self.source}: it offers "
                             f"{', '.join(self.modes)} (a published checkpoint is one TriPlaneNet version)")
        return self.inverters[int(mode[1:])], True

    @property
    def resolution(self) -> int:
        """Side of the generator's images (512 for FFHQ, 128 for the bundled model)."""
        return self.inverters[self.default_version].decoder.img_resolution

    @property
    def default_view_count(self) -> int:
        """Views in the first gallery: 5 for small generators, 3 for 512 px ones (about 2 s per view on a CPU)."""
        return 5 if self.resolution < 512 else 3

    def description(self) -> str:
        """Markdown for people: which model runs, what it is, which modes it offers and why."""
        if self.is_bundled:
            text = f"**Model:** {bundled.describe()}.\n\n{BUNDLED_NOTE}"
        else:
            inverter = self.inverters[self.default_version]
            G = inverter.decoder
            text = (f"**Model:** `{self.source}`: TriPlaneNet v{inverter.version} on an EG3D generator "
                    f"({G.img_resolution} px images, {G.neural_rendering_resolution} px neural rendering). "
                    f"Only its own version and \"w+ only\" are available: the other TriPlaneNet version "
                    "is a different checkpoint.")
        return f"{text}\n\nModes: {', '.join(MODE_LABELS[m] for m in self.modes)}."


def load_model_set(source: str, device: torch.device | str | None = None) -> ModelSet:
    """Load ``source`` (a bundled name, a path or a Hub id; see :func:`~triplanenet.load_inverter`)."""
    device = torch.device(device) if device is not None else default_device()
    if source in bundled.NAMES:
        inverters = bundled.load_versions(device)
        return ModelSet(source, inverters, bundled.NAMES[source], is_bundled=True)
    inverter = load_inverter(source, device)
    return ModelSet(source, {inverter.version: inverter}, inverter.version, is_bundled=False)


_LOADED: dict[tuple[str, str], ModelSet] = {}
_LOADING = threading.Lock()


def get_model_set(source: str | os.PathLike | None = None, device: torch.device | str | None = None) -> ModelSet:
    """The process-wide :class:`ModelSet` of ``source`` (default: ``$TRIPLANENET_CHECKPOINT`` or the bundled model).

    Loaded on first use and shared by every session afterwards.
    """
    source = str(source) if source else bundled.default_checkpoint()
    device = torch.device(device) if device is not None else default_device()
    key = (source, str(device))
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = load_model_set(source, device)
        return _LOADED[key]
