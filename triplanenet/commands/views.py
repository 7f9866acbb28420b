"""``triplanenet views INVERSION --checkpoint CKPT --out DIR``: a yaw sweep with depth (and normals)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..outputs.saving import write_views
from ..outputs.views import SWEEP_YAW
from .common import add_inversion_arguments, guarded, load_inversion


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inversion_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--count", type=int, default=8, help="number of views (default 8)")
    parser.add_argument("--yaw-range", type=float, default=SWEEP_YAW,
                        help=f"yaw from -R to +R radians (default {SWEEP_YAW:.3f}, the app's +-35 degrees)")
    parser.add_argument("--normals", action="store_true", help="also write normal maps")


@guarded
def run(args: argparse.Namespace) -> int:
    for path in write_views(load_inversion(args), args.out, args.count, args.yaw_range, args.normals):
        print(path)
    return 0
