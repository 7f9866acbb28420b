"""``triplanenet invert PHOTO --checkpoint CKPT --out DIR [--refine]``: photo -> crop -> inversion
(-> per-photo refinement) -> views, depth, mesh."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from . import add_checkpoint_argument, add_refine_arguments, frame_renderer, guarded, write_mesh, write_views

if TYPE_CHECKING:
    from ..refinement import RefineProgress


def print_progress(state: RefineProgress) -> None:
    """Refinement progress on stderr, one line per step (overwritten in a terminal)."""
    end = "\n" if state.step == state.steps or not sys.stderr.isatty() else "\r"
    print(f"refining: step {state.step}/{state.steps}, photo error {state.loss:.4f}", end=end, file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photo", type=Path, help="any photo with a face")
    add_checkpoint_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--mode", default=None,
                        help="v2, v1 or w+ (default: the checkpoint's own version; 'w+' skips the tri-plane "
                             "branch, to see what it adds; the bundled model offers all three)")
    add_refine_arguments(parser, "fit the inversion to the photo with a few optimisation steps (sharper, "
                                 "recognisable)")
    parser.add_argument("--face-index", type=int, default=None, help="which face (0: the largest)")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--mesh-resolution", type=int, default=256)
    parser.add_argument("--video", action="store_true", help="also write turntable.mp4")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..pipeline import get_model_set
    from ..preprocess import align_face
    from ..views import Scene, gallery, to_uint8

    models = get_model_set(args.checkpoint, "cpu")
    inverter, branch = models.inverter(args.mode or models.default_mode)
    aligned = align_face(args.photo, face_index=args.face_index)
    inversion = inverter.invert(aligned.image, aligned.camera, refine=branch)
    if args.refine:
        inversion = inversion.refine(args.refine_steps, progress=print_progress)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    aligned.image.save(out / "crop.png")
    (out / "alignment.json").write_text(json.dumps(aligned.to_dict(), indent=2))
    inversion.save(out / "inversion.safetensors")
    image, _ = inversion.render()
    gallery([to_uint8(inversion.input_image[0]), to_uint8(image[0])], 2).save(out / "input_vs_reconstruction.png")
    scene = Scene.from_inversion(inversion)
    write_views(scene, out / "views", args.views, 0.6, normals=True)
    try:
        write_mesh(scene, [out / "mesh.glb", out / "mesh.ply"], args.mesh_resolution, keep_largest=True, smooth=0)
    except ValueError as exc:
        print(f"warning: no mesh written: {exc}", file=sys.stderr)
    if args.video:
        from ..video import turntable

        turntable(frame_renderer(scene, None), out / "turntable.mp4")
    print(out)
    return 0
