"""``triplanenet edit INVERSION --set smile=1.5 --set glasses=1 --out DIR``: a saved inversion edited along
named directions, written like ``invert`` writes a head (inversion.safetensors, views/, mesh.glb, mesh.ply);
``triplanenet edit --list [--checkpoint C]`` prints the checkpoint's directions (see :mod:`triplanenet.editing`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_checkpoint_argument, guarded

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inversion", type=Path, nargs="?", help="a saved Inversion (.safetensors or .npz)")
    add_checkpoint_argument(parser)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=AMOUNT", dest="settings",
                        help="move along direction NAME by AMOUNT spreads, -3..3 (repeatable; e.g. --set smile=1.5)")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--list", action="store_true", help="print the checkpoint's edit directions and exit")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--mesh-resolution", type=int, default=256)


def list_directions(checkpoint: str) -> int:
    """Print one line per direction: its name and what it does."""
    from ..editing import ATTRIBUTES, directions_for
    from ..loading import load_inverter

    directions = directions_for(checkpoint, load_inverter(checkpoint).decoder)
    for name in directions.names:
        what = ATTRIBUTES[name] if directions.kind == "attributes" else "a principal component of w"
        print(f"{name:<14}{what}")
    return 0


@guarded
def run(args: argparse.Namespace) -> int:
    if args.list:
        return list_directions(args.checkpoint)
    if args.inversion is None or args.out is None or not args.settings:
        raise ValueError("edit needs INVERSION, --out DIR and at least one --set NAME=AMOUNT (or --list); "
                         "invert a photo first: triplanenet invert PHOTO --out DIR")
    from ..editing import check_generator, directions_for, edit, parse_settings
    from ..inversion.result import Inversion
    from ..loading import load_inverter
    from ..outputs.saving import write_meshes, write_views
    from ..outputs.surface import head_mesh
    from ..pipeline import MESH_FORMATS

    if not args.inversion.is_file():
        raise ValueError(f"{args.inversion} does not exist: invert a photo first (triplanenet invert PHOTO --out DIR)")
    generator = load_inverter(args.checkpoint).decoder
    inversion = Inversion.load(args.inversion, generator)
    check_generator(inversion, generator, str(args.inversion), args.checkpoint)
    directions = directions_for(args.checkpoint, generator)
    edited = edit(inversion, directions, parse_settings(args.settings, directions))
    args.out.mkdir(parents=True, exist_ok=True)
    edited.save(args.out / "inversion.safetensors")
    write_views(edited, args.out / "views", args.views, normals=True)
    try:
        mesh, _ = head_mesh(edited, args.mesh_resolution)
        write_meshes(mesh, [args.out / f"mesh{suffix}" for suffix in MESH_FORMATS])
    except ValueError as exc:
        print(f"warning: no mesh written: {exc}", file=sys.stderr)
    print(args.out)
    return 0
