"""Draw docs/edits.png: semantic edits of the bundled model, beside the truth where there is one.

A held-out synthetic head (seed 3): its truth with one parameter moved (+1 spread; glasses flipped), and its v2
inversion edited by the same amount (``triplanenet.editing``), all at the input camera. Then the astronaut
photo (``skimage.data.astronaut()``, public domain), inverted by v2 and refined, edited by :data:`PHOTO_AMOUNT`
spreads (glasses: on). Every tile is rendered at the photo's own camera; the first column is unedited.

    python docs/make_edit_figure.py [--out docs/edits.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.data import astronaut

from triplanenet import Inversion, invert, refine
from triplanenet.editing import Editor, directions_for
from triplanenet.evaluation.edits import moved_head, typical_amount
from triplanenet.evaluation.heads import evaluation_head, render_truth
from triplanenet.loading import bundled, load_inverter
from triplanenet.outputs.views import to_uint8
from triplanenet.preprocess import align_face
from triplanenet.synthetic.codes import HeadCodes

from figures import labelled_row, stacked  # docs/figures.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
SEED = 3
EDITS = ("smile", "glasses", "hair_color", "skin_color")
PHOTO_AMOUNT = 2.0
TILE = 160


def tile(image: torch.Tensor) -> np.ndarray:
    """An image [3,R,R] in [-1, 1] as a [TILE,TILE,3] uint8 tile."""
    return np.asarray(Image.fromarray(to_uint8(image)).resize((TILE, TILE), Image.Resampling.BICUBIC))


def at_camera(inversion: Inversion) -> np.ndarray:
    return tile(inversion.synthesis(inversion.camera)["image"][0])


def synthetic_rows(inverter, codes: HeadCodes) -> list[Image.Image]:
    """Truth row and edited-inversion row of held-out head :data:`SEED`."""
    params, camera = evaluation_head(SEED)
    resolution = inverter.decoder.img_resolution
    truth, _ = render_truth(params, camera, resolution)
    editor = Editor(invert(inverter, truth, camera), directions_for("bundled", inverter.decoder))
    truths, edits, labels = [tile(truth[0])], [at_camera(editor.inversion)], []
    for name in EDITS:
        moved, amount = moved_head(params, name, codes)
        truths.append(tile(render_truth(moved, camera, resolution)[0][0]))
        edits.append(at_camera(editor({name: amount})))
        labels.append(f"{name} {amount:+.1f}")
    return [labelled_row(f"held-out head {SEED}, truth: as is | {' | '.join(labels)}", truths),
            labelled_row("its v2 inversion, edited by the same amounts", edits)]


def photo_row(inverter, codes: HeadCodes) -> Image.Image:
    """The astronaut, inverted and refined, then edited."""
    face = align_face(astronaut())
    head = refine(invert(inverter, face.image, face.camera))
    editor = Editor(head, directions_for("bundled", inverter.decoder))
    amounts = {name: typical_amount(name, codes) if name == "glasses" else PHOTO_AMOUNT for name in EDITS}
    tiles = [at_camera(head), *(at_camera(editor({name: amount})) for name, amount in amounts.items())]
    labels = " | ".join(f"{name} {amount:+.1f}" for name, amount in amounts.items())
    return labelled_row(f"astronaut, v2 + refinement: as is | {labels}", tiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "edits.png")
    args = parser.parse_args()
    inverter = load_inverter("bundled")
    codes = HeadCodes.read(bundled.BUNDLED_DIR)
    stacked([*synthetic_rows(inverter, codes), photo_row(inverter, codes)]).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
