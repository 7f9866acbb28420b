"""``triplanenet evaluate --seeds A-B [--json OUT.json]``: benchmark w+, v1 and v2 on held-out synthetic heads.

Prints one table (methods as rows) and optionally writes the per-method means
and per-head values as JSON. ``--photos FOLDER`` evaluates aligned photos
instead (image, face-region and identity metrics; ``--people`` adds cross-photo
identity). ``--refine`` adds the checkpoint's own version refined per photo, and
``--true-params`` the generator given each synthetic head's true parameters. ``--edits``
measures the edit directions instead (:mod:`triplanenet.evaluation.edits`): gain and leak
against the procedural truth on ``--seeds``, identity after an edit on ``--photos``. The
protocol is in :mod:`triplanenet.evaluation`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from .common import add_checkpoint_argument, add_refine_arguments, guarded

if TYPE_CHECKING:
    from ..evaluation import Report
    from ..evaluation.edits import EditReport


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
    parser.add_argument("--people", type=Path, metavar="PEOPLE.json",
                        help="with --photos: a JSON object mapping file names of the dataset to a person, "
                             "for cross-photo identity (one photo's head rendered at another's camera)")
    add_refine_arguments(parser, "also evaluate the checkpoint's own version refined per photo ('v2+refined')")
    parser.add_argument("--true-params", action="store_true",
                        help="with --seeds: also render the generator from each head's true parameters (the reference "
                             "for inversions; generators trained on synthetic heads, e.g. the bundled model)")
    parser.add_argument("--edits", action="store_true",
                        help="measure the edit directions instead: with --seeds gain_db and leak_db per attribute "
                             "against the truth moved +1 spread, with --photos the identity kept by an edit "
                             "(bundled attribute directions)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write means and per-head values here")
    parser.add_argument("--mesh-resolution", type=int, default=128,
                        help="marching-cubes grid points per axis for the Chamfer distance, 32..512 (default 128)")
    parser.add_argument("--mesh-level", type=float, default=10.0,
                        help="density iso-level of the model's surface (EG3D uses 10)")
    parser.add_argument("--chamfer-points", type=int, default=20_000,
                        help="surface samples per mesh for the Chamfer distance (default 20000)")
    parser.add_argument("--lpips-weights", help="LPIPS linear weights (alex.pth) or their folder (else: LPIPS n/a)")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet weights or their folder (default: hub cache)")


def read_people(path: Path) -> dict[str, str]:
    """``--people``: a JSON object of file name -> person name, checked."""
    try:
        people = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from exc
    if not isinstance(people, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in people.items()):
        raise ValueError(f"{path} must be a JSON object mapping file names to person names")
    return people


@guarded
def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_photos, evaluate_synthetic, load_metric_lpips, methods_for
    from ..refinement.fit import DEFAULT_STEPS

    if not 32 <= args.mesh_resolution <= 512:
        raise ValueError(f"--mesh-resolution must be between 32 and 512, got {args.mesh_resolution}")
    if args.chamfer_points < 1:
        raise ValueError(f"--chamfer-points must be positive, got {args.chamfer_points}")
    if args.people is not None and args.photos is None:
        raise ValueError("--people goes with --photos")
    if args.true_params and args.photos is not None:
        raise ValueError("--true-params goes with --seeds (photos have no true head parameters)")
    if args.edits:
        return run_edits(args)
    methods = methods_for(args.checkpoint, (args.refine_steps or DEFAULT_STEPS) if args.refine else None,
                          args.true_params)
    lpips = load_metric_lpips(args.lpips_weights, args.lpips_backbone)

    if args.photos is not None:
        people = read_people(args.people) if args.people is not None else None
        report = evaluate_photos(methods, args.photos, args.checkpoint, lpips=lpips, people=people,
                                 progress=_progress)
    else:
        report = evaluate_synthetic(methods, args.seeds, args.checkpoint, lpips=lpips,
                                    mesh_resolution=args.mesh_resolution, mesh_level=args.mesh_level,
                                    chamfer_points=args.chamfer_points,
                                    progress=_progress)
    return print_report(report, args.json)


def run_edits(args: argparse.Namespace) -> int:
    """``--edits``: the edit evaluation of :mod:`triplanenet.evaluation.edits` on the heads or photos given."""
    from ..evaluation.edits import evaluate_edit_identity, evaluate_edits

    if args.people is not None or args.true_params:
        raise ValueError("--edits goes with --seeds or --photos alone (not --people or --true-params)")
    if args.photos is not None:
        report = evaluate_edit_identity(args.checkpoint, args.photos, args.refine_steps, progress=_progress)
    else:
        report = evaluate_edits(args.checkpoint, args.seeds, progress=_progress)
    return print_report(report, args.json)


def _progress(message: str) -> None:
    print(message, file=sys.stderr)


def print_report(report: Report | EditReport, path: Path | None) -> int:
    """Print ``report``'s table and write its JSON to ``path`` when given."""
    print(report.table())
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_json(), indent=2, allow_nan=False))
        print(f"wrote {path}")
    return 0
