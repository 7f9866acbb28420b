"""``triplanenet evaluate --seeds A-B [--json OUT.json]``: benchmark w+, v1 and v2 on held-out synthetic heads.

Prints one table (methods as rows) and optionally writes the per-method means
and per-head values as JSON. ``--photos FOLDER`` evaluates aligned photos
instead (image metrics only). The protocol is in :mod:`triplanenet.evaluation`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_checkpoint_argument, guarded


def seeds_argument(text: str) -> range:
    """argparse type of ``--seeds``: a bad range becomes a usage error (exit code 2)."""
    from ..evaluation import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(parser)
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--seeds", type=seeds_argument, metavar="A-B",
                      help="held-out synthetic heads A..B inclusive (their own seed stream, apart from training's)")
    data.add_argument("--photos", type=Path, metavar="FOLDER",
                      help="aligned photos with dataset.json (triplanenet align PHOTOS --dataset FOLDER): "
                           "image metrics only")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write means and per-head values here")
    parser.add_argument("--mesh-resolution", type=int, default=128,
                        help="marching-cubes grid points per axis for the Chamfer distance, 32..512 (default 128)")
    parser.add_argument("--mesh-level", type=float, default=10.0,
                        help="density iso-level of the model's surface (EG3D uses 10)")
    parser.add_argument("--chamfer-points", type=int, default=20_000,
                        help="surface samples per mesh for the Chamfer distance (default 20000)")
    parser.add_argument("--lpips-weights", help="LPIPS linear weights (alex.pth) or their folder (else: LPIPS n/a)")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet weights or their folder (default: hub cache)")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_photos, evaluate_synthetic, load_metric_lpips, methods_for

    if not 32 <= args.mesh_resolution <= 512:
        raise ValueError(f"--mesh-resolution must be between 32 and 512, got {args.mesh_resolution}")
    if args.chamfer_points < 1:
        raise ValueError(f"--chamfer-points must be positive, got {args.chamfer_points}")
    methods = methods_for(args.checkpoint)
    lpips = load_metric_lpips(args.lpips_weights, args.lpips_backbone)

    def progress(message: str) -> None:
        print(message, file=sys.stderr)

    if args.photos is not None:
        report = evaluate_photos(methods, args.photos, args.checkpoint, lpips=lpips, progress=progress)
    else:
        report = evaluate_synthetic(methods, args.seeds, args.checkpoint, lpips=lpips,
                                    mesh_resolution=args.mesh_resolution, mesh_level=args.mesh_level,
                                    chamfer_points=args.chamfer_points,
                                    progress=progress)
    print(report.table())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2, allow_nan=False))
        print(f"wrote {args.json}")
    return 0
