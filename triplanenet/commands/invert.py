"""``triplanenet invert PHOTO --checkpoint CKPT --out DIR [--refine]``: photo -> crop -> inversion
(-> per-photo refinement) -> views, depth, mesh.

``triplanenet invert A.jpg B.jpg ... --same-person [--refine] --out DIR``: several photos of one person ->
one head fitted to all of them (:meth:`~triplanenet.pipeline.Pipeline.person`), written like one photo's,
plus every photo's crop and camera under ``DIR/photos/``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .common import add_checkpoint_argument, add_refine_arguments, guarded

if TYPE_CHECKING:
    from ..refinement import RefineProgress


def print_progress(state: RefineProgress) -> None:
    """Refinement progress on stderr, one line per step (overwritten in a terminal)."""
    end = "\n" if state.step == state.steps or not sys.stderr.isatty() else "\r"
    print(f"refining: step {state.step}/{state.steps}, photo error {state.loss:.4f}", end=end, file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photo", type=Path, nargs="+",
                        help="any photo with a face (several with --same-person: photos of one person)")
    add_checkpoint_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--mode", default=None,
                        help="v2, v1 or w+ (default: the checkpoint's own version; 'w+' skips the tri-plane "
                             "branch, to see what it adds; the bundled model offers all three)")
    add_refine_arguments(parser, "fit the inversion to the photo with a few optimisation steps (sharper, "
                                 "recognisable)")
    parser.add_argument("--face-index", type=int, default=None, help="which face (0: the largest)")
    parser.add_argument("--same-person", action="store_true",
                        help="the photos show one person: fit one head to all of them (1 to 8 photos; the "
                             "largest face of each)")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--mesh-resolution", type=int, default=256)
    parser.add_argument("--video", action="store_true", help="also write turntable.mp4")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..pipeline import Pipeline
    from ..refinement import DEFAULT_STEPS

    if len(args.photo) > 1 and not args.same_person:
        raise ValueError(f"{len(args.photo)} photos were given: add --same-person to fit one head to photos of "
                         "one person, or invert one photo at a time")
    if args.same_person and args.face_index is not None:
        raise ValueError("--face-index goes with one photo (--same-person takes the largest face of each)")
    pipeline = Pipeline.from_pretrained(args.checkpoint, "cpu")
    steps = (args.refine_steps or DEFAULT_STEPS) if args.refine else 0
    if args.same_person:
        head = pipeline.person(args.photo, args.mode, refine_steps=steps, progress=print_progress)
        for warning in head.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    else:
        head = pipeline(args.photo[0], args.mode, args.face_index, refine_steps=steps, progress=print_progress)
    try:
        head.save(args.out, views=args.views, mesh_resolution=args.mesh_resolution, video=args.video)
    except ValueError as exc:
        print(f"warning: no mesh written: {exc}", file=sys.stderr)
    print(args.out)
    return 0
