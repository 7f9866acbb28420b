"""``triplanenet mesh INVERSION --checkpoint CKPT --out head.glb``: the coloured marching-cubes mesh."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import add_inversion_arguments, guarded, load_scene, write_mesh


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inversion_arguments(parser)
    parser.add_argument("--out", type=Path, nargs="+", required=True,
                        help="one or more of .glb, .ply, .obj (world units, +y up, face toward +z)")
    parser.add_argument("--resolution", type=int, default=256, help="grid points per axis, 64..512 (default 256)")
    parser.add_argument("--keep-largest", action="store_true", help="drop all but the largest connected piece")
    parser.add_argument("--level", type=float, default=10.0, help="density iso-level (EG3D uses 10)")
    parser.add_argument("--smooth", type=int, default=0, help="Taubin smoothing iterations (default 0)")


@guarded
def run(args: argparse.Namespace) -> int:
    if not 64 <= args.resolution <= 512:
        raise ValueError(f"--resolution must be between 64 and 512, got {args.resolution}")
    for path in write_mesh(load_scene(args), args.out, args.resolution, args.keep_largest, args.smooth, args.level):
        print(path)
    return 0
