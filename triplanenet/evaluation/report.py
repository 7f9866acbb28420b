"""An evaluation's results: per-head rows per method, their summaries, a text table and strict JSON."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..identity import SAME_PERSON
from .heads import NOVEL_YAWS

NOVEL_KEYS = tuple(f"psnr_yaw{yaw:+g}" for yaw in NOVEL_YAWS)
TURN_YAWS = (-0.3, 0.3, -0.5, 0.5)
"""Yaw offsets (radians) by which a photo's camera is turned (pitch kept) for novel-view identity."""
TURN_KEYS = tuple((f"identity_yaw{yaw:+g}", f"recognised_yaw{yaw:+g}") for yaw in TURN_YAWS)
"""Per turn: the keys of its identity distance and of its 'recognised' share."""
METRICS: dict[str, str] = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS",
                           **{key: f"PSNR {yaw:+g}" for key, yaw in zip(NOVEL_KEYS, NOVEL_YAWS)},
                           "depth_mae": "depth MAE", "depth_coverage": "opaque", "chamfer_percent": "Chamfer",
                           "seconds": "s/image"}
"""Metric keys (JSON) and their table headers, in table order: held-out synthetic heads."""
PHOTO_METRICS: dict[str, str] = {**METRICS, "face_psnr": "face PSNR", "face_ssim": "face SSIM",
                                 "identity": "ID", "recognised": "recognised", "cross_identity": "cross ID",
                                 "cross_recognised": "cross rec.",
                                 **{key: header for (distance, share), yaw in zip(TURN_KEYS, TURN_YAWS)
                                    for key, header in ((distance, f"ID {yaw:+g}"), (share, f"rec. {yaw:+g}"))}}
"""Metrics of real photos: the same keys (those that need ground truth stay ``None``) and identity."""
SHARES = {"depth_coverage", "recognised", "cross_recognised", *(share for _, share in TURN_KEYS)}
"""Metrics that are shares (a per-head 0/1 or fraction), shown in %."""
UNITS = {"psnr": "dB", **{key: "dB" for key in NOVEL_KEYS}, "depth_mae": "world units",
         "depth_coverage": "fraction of inside pixels", "chamfer_percent": "% of the box side", "seconds": "s",
         "face_psnr": "dB", "identity": "dlib descriptor distance (median)",
         "recognised": f"share with identity < {SAME_PERSON}", "cross_identity": "dlib descriptor distance (median)",
         "cross_recognised": f"share with cross identity < {SAME_PERSON}",
         **{distance: "dlib descriptor distance (median)" for distance, _ in TURN_KEYS},
         **{share: f"share with identity < {SAME_PERSON}" for _, share in TURN_KEYS}}
FORMATS = {"ssim": "{:.4f}", "lpips": "{:.4f}", "depth_mae": "{:.4f}", "seconds": "{:.2f}", "face_ssim": "{:.4f}",
           "identity": "{:.3f}", "cross_identity": "{:.3f}", **{distance: "{:.3f}" for distance, _ in TURN_KEYS}}

Row = dict[str, Any]


@dataclass
class Report:
    """Per-head metric rows of every method, with what was evaluated and how."""

    checkpoint: str
    data: dict[str, Any]
    settings: dict[str, Any]
    rows: dict[str, list[Row]] = field(default_factory=dict)
    pairs: dict[str, list[Row]] = field(default_factory=dict)
    """Cross-photo rows per method (photos of one person): ``from``, ``to`` and ``cross_identity``."""

    @property
    def metrics(self) -> dict[str, str]:
        """The metric keys of this kind of data, with their table headers."""
        return PHOTO_METRICS if self.data["kind"] == "photos" else METRICS

    def means(self) -> dict[str, dict[str, float | None]]:
        """Per method, each metric's summary over the heads where it was measured (``None``: nowhere):
        the mean, or the median for identity distances (a few failed faces must not hide the typical one)."""
        means = {}
        for name, rows in self.rows.items():
            rows = rows + self.pairs.get(name, [])
            means[name] = {key: SUMMARIES.get(key, mean_present)([row.get(key) for row in rows])
                           for key in self.metrics}
        return means

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: checkpoint, data (seeds or photos), settings, units, and per method the means and
        the per-head rows. ``null`` marks a metric not measured (or not finite, e.g. the PSNR of a perfect match)."""
        means = self.means()
        methods = {name: {"mean": means[name], "heads": rows, **({"pairs": self.pairs[name]} if name in self.pairs
                                                                   else {})}
                   for name, rows in self.rows.items()}
        return strict_json({"checkpoint": self.checkpoint, "data": self.data, "settings": self.settings,
                        "units": UNITS, "methods": methods})

    def table(self) -> str:
        """The means as one text table (methods as rows; ``n/a`` where not measured) and notes."""
        means = self.means()
        shown = [key for key in self.metrics
                 if self.data["kind"] != "photos" or any(means[name][key] is not None for name in self.rows)]
        headers = ["method", *(self.metrics[key] for key in shown)]
        body = [[name, *(_format(key, means[name][key]) for key in shown)] for name in self.rows]
        widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
                 for r in [headers, *body]]
        return "\n".join([self._title(), *lines, *self._notes()])

    def _title(self) -> str:
        if self.data["kind"] == "synthetic":
            seeds = self.data["seeds"]
            what = (f"{len(seeds)} held-out synthetic heads (evaluation seeds {seeds[0]}-{seeds[-1]}) at "
                    f"{self.data['resolution']} px, on black")
        else:
            count = len(self.data["files"])
            what = (f"{count} aligned photo{'' if count == 1 else 's'} from {self.data['folder']} at "
                    f"{self.data['resolution']} px")
        return f"checkpoint {self.checkpoint}: {what}"

    def _notes(self) -> list[str]:
        notes = ["PSNR in dB; depth MAE in world units; opaque: share of inside pixels the model covers; "
                 "Chamfer in % of the box side"]
        if self.data["kind"] == "photos":
            notes.append(f"face: inside the landmarks' hull; ID: median dlib descriptor distance to the photo "
                         f"(< {SAME_PERSON} is the same person; 'recognised' is that share); cross: the inversion "
                         "of one photo rendered at another photo's camera of the same person; ID +-0.3/0.5: the head at the "
                         "photo's camera turned by that yaw (rad, pitch kept) against the photo, cut along the photo's "
                         "landmarks carried through the head's depth")
        if self.settings.get("lpips") is None:
            notes.append("LPIPS n/a: weights not found (--lpips-weights alex.pth or its folder)")
        for name, rows in self.rows.items():
            missing = [row["seed"] for row in rows if "chamfer_percent" in row and row["chamfer_percent"] is None]
            if missing:
                notes.append(f"{name}: no surface at density {self.settings['mesh_level']:g} for {len(missing)} "
                             f"of {len(rows)} heads (seeds {', '.join(map(str, missing))}), left out of its "
                             "Chamfer mean")
        return notes


def mean_present(values: list[float | None]) -> float | None:
    """The mean of the values that are present (None: none is)."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def median_present(values: list[float | None]) -> float | None:
    """The median of the values that are present (None: none is)."""
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


SUMMARIES = {"identity": median_present, "cross_identity": median_present,
             **{distance: median_present for distance, _ in TURN_KEYS}}
"""Metrics summarised by their median instead of their mean."""


def _format(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key in SHARES:
        return f"{100 * value:.1f}%"
    if key == "chamfer_percent":
        return f"{value:.2f}%"
    return FORMATS.get(key, "{:.2f}").format(value)
