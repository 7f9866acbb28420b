"""``triplanenet video INVERSION --checkpoint CKPT --out turntable.mp4``: EG3D's turntable orbit."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_inversion_arguments, guarded, load_inversion


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inversion_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help=".mp4 (H.264) or .gif")
    parser.add_argument("--frames", type=int, default=120, help="frames in one orbit (default 120)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--neural-rendering-resolution", type=int, default=None,
                        help="lower for speed (default: the model's)")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..outputs.saving import write_turntable

    print(write_turntable(load_inversion(args), args.out, args.frames, args.fps, args.neural_rendering_resolution))
    return 0
