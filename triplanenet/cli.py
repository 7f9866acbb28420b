"""The ``triplanenet`` command line.

Each sub-command is a module under :mod:`triplanenet.commands` (the two training
commands are still in ``training/*_cli.py``) exposing ``add_arguments(parser)``
and ``run(args) -> int``, wrapped by :func:`triplanenet.commands.guarded` (one
error policy: a readable line and exit code 2). Those modules keep their heavy
imports inside ``run`` so that ``triplanenet --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("triplanenet.commands.info", "load a checkpoint and describe it"),
    "align": ("triplanenet.commands.align", "detect, crop and pose a face photo (or a folder)"),
    "invert": ("triplanenet.commands.invert", "photo -> inversion, views, depth and mesh in a folder"),
    "invert-video": ("triplanenet.commands.invert_video", "face video -> a 3D head per frame, re-rendered: "
                                                          "side_by_side.mp4, rendered.mp4, frames.json"),
    "views": ("triplanenet.commands.views", "render a yaw sweep of a saved inversion, with depth"),
    "mesh": ("triplanenet.commands.mesh", "coloured mesh (.glb/.ply/.obj) of a saved inversion"),
    "video": ("triplanenet.commands.video", "turntable video of a saved inversion"),
    "edit": ("triplanenet.commands.edit", "edit a saved inversion with semantic sliders (smile, glasses, ...)"),
    "evaluate": ("triplanenet.commands.evaluate", "benchmark w+, v1 and v2 on held-out synthetic heads or photos"),
    "train-encoder": ("triplanenet.training.encoder_cli", "train TriPlaneNet's encoders (stage 1: pSp, 2: tri-planes)"),
    "train-generator": ("triplanenet.training.generator_cli", "train the bundled model's generator on synthetic heads"),
    "pack-bundled": ("triplanenet.commands.pack_bundled", "pack trained v2/v1 runs as the bundled model"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triplanenet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return importlib.import_module(args._module).run(args)


if __name__ == "__main__":
    sys.exit(main())
