"""Edits measured against the truth (``triplanenet evaluate --edits``).

Held-out head ``seed`` (:func:`~.heads.evaluation_head`) is rendered at its input camera and inverted (the
checkpoint's own version, no refinement). For each attribute of the bundled directions the procedural renderer
draws the *same* head with that parameter moved by +1 spread (every column of a colour; a switch such as
``glasses`` is flipped instead, by ``(1 - 2p) / std`` spreads), and the inversion is edited by the same amount:

* ``gain_db``: PSNR of the edited inversion against the moved truth, minus the PSNR of the unedited inversion
  against it (whole image; > 0: the edit moves toward the truth);
* ``leak_db``: the same difference outside the attribute's region (the pixels where the two truths differ by
  more than :data:`REGION_THRESHOLD`, grown by :data:`REGION_GROWTH` pixels); near 0: the rest is left alone;
* ``region``: the share of the image in that region.

On aligned photos (``--photos``) each photo is inverted and refined, and ``identity`` is dlib's distance between
the refined head and its edit (amount: :func:`typical_amount`), both rendered at the photo's camera and cut
along the photo's landmarks, for :data:`IDENTITY_ATTRIBUTES` (median over the photos).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..editing.directions import ATTRIBUTES, SWITCHES, Directions, directions_for
from ..editing.edit import AMOUNT_LIMIT, Editor
from ..identity import FaceIdentity
from ..inversion.result import Inversion
from ..outputs.views import to_uint8
from ..pipeline import Pipeline
from ..preprocess.aligned_folder import FolderDataset
from ..synthetic.codes import HeadCodes
from ..synthetic.params import HeadParams, field_columns
from .heads import evaluation_head, render_truth
from .metrics import face_psnr, psnr, to_unit
from .protocol import checkpoint_folder
from .report import mean_present, median_present, strict_json

REGION_THRESHOLD = 0.02
"""Change in [0, 1] (any channel) from which a pixel belongs to the attribute's region."""
REGION_GROWTH = 2
"""Pixels the region is grown by on every side (the edit's own blur should not count as leak)."""
IDENTITY_ATTRIBUTES = ("smile", "glasses", "hair_volume")
"""Attributes that should keep the person: the ones scored by identity on photos."""
SUMMARY_KEYS = ("gain_db", "leak_db", "identity")


def moved_head(params: HeadParams, name: str, codes: HeadCodes) -> tuple[HeadParams, float]:
    """One head (batch of one) with parameter ``name`` moved +1 spread (a switch flipped), and the amount in
    spreads (what the edit is given)."""
    flat, columns = params.to_tensor().clone(), field_columns(name)
    value, spread = flat[0, columns].clone(), codes.std[columns]
    target = 1 - value if name in SWITCHES else value + spread
    flat[0, columns] = target
    return HeadParams.from_tensor(flat), float(((target - value) / spread).mean())


def typical_amount(name: str, codes: HeadCodes) -> float:
    """The edit shown on photos: +1 spread, or for a switch the move from its mean to on (within the limit)."""
    if name not in SWITCHES:
        return 1.0
    columns = field_columns(name)
    return float(min(((1 - codes.mean[columns]) / codes.std[columns]).mean(), AMOUNT_LIMIT))


def edit_region(truth: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Pixels [R,R] (bool) where two truths [1,3,R,R] differ, grown by :data:`REGION_GROWTH`."""
    changed = (to_unit(truth) - to_unit(moved)).abs().amax(dim=1, keepdim=True) > REGION_THRESHOLD
    size = 2 * REGION_GROWTH + 1
    return F.max_pool2d(changed.float(), size, stride=1, padding=REGION_GROWTH)[0, 0] > 0


def edit_scores(before: torch.Tensor, after: torch.Tensor, truth: torch.Tensor, moved: torch.Tensor) -> dict:
    """``gain_db``, ``leak_db`` and ``region`` of one edit: renders ``before``/``after`` [1,3,R,R] of the
    unedited and edited inversion, ``truth``/``moved`` [1,3,R,R] of the head and of the head moved."""
    region = edit_region(truth, moved)
    outside = ~region
    leak = face_psnr(after, moved, outside) - face_psnr(before, moved, outside) if outside.any() else None
    return {"gain_db": float(psnr(after, moved) - psnr(before, moved)), "leak_db": leak,
            "region": float(region.float().mean())}


@dataclass
class EditReport:
    """Per-attribute rows (one per head or photo) of an edit evaluation."""

    checkpoint: str
    data: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Attribute -> mean ``gain_db`` and ``leak_db``, median ``identity`` (None where not measured)."""
        summarise = {"gain_db": mean_present, "leak_db": mean_present, "identity": median_present}
        return {name: {key: summarise[key]([row.get(key) for row in rows]) for key in SUMMARY_KEYS}
                for name, rows in self.rows.items()}

    def table(self) -> str:
        """A text table: one attribute a row."""
        lines = [f"edits of {self.checkpoint} ({self.data['kind']}: {len(self.data['items'])})",
                 f"{'attribute':<14}{'gain dB':>9}{'leak dB':>9}{'identity':>10}"]
        for name, values in self.summary().items():
            cells = ["n/a" if values[k] is None else f"{values[k]:+.2f}" if k != "identity" else f"{values[k]:.3f}"
                     for k in SUMMARY_KEYS]
            lines.append(f"{name:<14}{cells[0]:>9}{cells[1]:>9}{cells[2]:>10}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return strict_json({"checkpoint": self.checkpoint, "data": self.data, "edits": self.summary(),
                            "rows": self.rows})


def _attribute_directions(pipeline: Pipeline, checkpoint: str) -> tuple[Directions, HeadCodes]:
    """The checkpoint's attribute directions and head normalisation; a ``ValueError`` for other checkpoints."""
    generator = pipeline.models.inverter(pipeline.models.default_mode)[0].decoder
    directions = directions_for(checkpoint, generator)
    if directions.kind != "attributes":
        raise ValueError(f"--edits measures attribute directions against synthetic truth; {checkpoint!r} has "
                         "principal components only (a generator trained on synthetic heads has attributes)")
    return directions, HeadCodes.read(checkpoint_folder(checkpoint))


def evaluate_edits(checkpoint: str, seeds: Sequence[int],
                   progress: Callable[[str], None] | None = None) -> EditReport:
    """``gain_db`` and ``leak_db`` of every attribute on held-out heads ``seeds`` (see the module)."""
    pipeline = Pipeline.from_pretrained(checkpoint)
    directions, codes = _attribute_directions(pipeline, checkpoint)
    names = [name for name in directions.names if name in ATTRIBUTES]
    report = EditReport(checkpoint, {"kind": "synthetic", "items": list(seeds)}, {name: [] for name in names})
    resolution = pipeline.models.resolution
    for i, seed in enumerate(seeds):
        params, camera = evaluation_head(seed)
        truth, _ = render_truth(params, camera, resolution)
        head = pipeline.invert(truth, camera)
        editor, before = Editor(head, directions), head.synthesis(camera)["image"]
        for name in names:
            moved_params, amount = moved_head(params, name, codes)
            moved, _ = render_truth(moved_params, camera, resolution)
            after = editor({name: amount}).synthesis(camera)["image"]
            report.rows[name].append({"seed": seed, "amount": amount, **edit_scores(before, after, truth, moved)})
        if progress is not None:
            progress(f"head {i + 1}/{len(seeds)} (seed {seed})")
    return report


def _render(head: Inversion, camera: torch.Tensor, size: int) -> np.ndarray:
    """``head`` at ``camera`` as [size,size,3] uint8 (the photo's size)."""
    image = Image.fromarray(to_uint8(head.synthesis(camera)["image"][0]))
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))


def evaluate_edit_identity(checkpoint: str, folder: str | Path, refine_steps: int | None = None,
                           progress: Callable[[str], None] | None = None) -> EditReport:
    """``identity`` between each photo's refined head and its edit, for :data:`IDENTITY_ATTRIBUTES`."""
    pipeline = Pipeline.from_pretrained(checkpoint)
    directions, codes = _attribute_directions(pipeline, checkpoint)
    photos, identity = FolderDataset(Path(folder)), FaceIdentity()
    report = EditReport(checkpoint, {"kind": "photos", "items": photos.files},
                        {name: [] for name in IDENTITY_ATTRIBUTES})
    for i, file in enumerate(photos.files):
        with Image.open(Path(folder) / file) as image:
            photo = np.asarray(image.convert("RGB"))
        landmarks, camera = identity.landmarks(photo), photos.cameras[i:i + 1]
        head = pipeline.refine(pipeline.invert(photos.image(i)[None], camera), refine_steps)
        editor, base = Editor(head, directions), _render(head, camera, len(photo))
        for name in IDENTITY_ATTRIBUTES:
            amount = typical_amount(name, codes)
            distance = None if landmarks is None else identity.distance(
                _render(editor({name: amount}), camera, len(photo)), base, landmarks)
            report.rows[name].append({"file": file, "amount": amount, "identity": distance})
        if progress is not None:
            progress(f"photo {i + 1}/{len(photos)}: {file}")
    return report
