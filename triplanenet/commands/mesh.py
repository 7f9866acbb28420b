"""``triplanenet mesh INVERSION --checkpoint CKPT --out head.glb``: the coloured marching-cubes mesh."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..outputs.geometry import LEVEL
from ..outputs.surface import MESH_RESOLUTION, MESH_RESOLUTIONS
from .common import add_inversion_arguments, guarded, load_inversion


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inversion_arguments(parser)
    parser.add_argument("--out", type=Path, nargs="+", required=True,
                        help="one or more of .glb, .ply, .obj (world units, +y up, face toward +z)")
    parser.add_argument("--resolution", type=int, default=MESH_RESOLUTION,
                        help="grid points per axis, %d..%d (default %%(default)s)" % MESH_RESOLUTIONS)
    parser.add_argument("--keep-largest", action="store_true", help="drop all but the largest connected piece")
    parser.add_argument("--level", type=float, default=None,
                        help=f"density iso-level (default: EG3D's {LEVEL:g}, or, where the density never gets "
                             "there, the level around the densest 10%% of the box, as the app does)")
    parser.add_argument("--smooth", type=int, default=0, help="Taubin smoothing iterations (default 0)")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..outputs.saving import write_meshes
    from ..outputs.surface import head_mesh

    low, high = MESH_RESOLUTIONS
    if not low <= args.resolution <= high:
        raise ValueError(f"--resolution must be between {low} and {high}, got {args.resolution}")
    mesh, note = head_mesh(load_inversion(args), args.resolution, LEVEL if args.level is None else args.level,
                           fallback=args.level is None, keep_largest=args.keep_largest, smooth_iterations=args.smooth)
    print(note)
    for path in write_meshes(mesh, args.out):
        print(path)
    return 0
