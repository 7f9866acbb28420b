"""``triplanenet pack-bundled V2_RUN V1_RUN GENERATOR_RUN [OUT]``: pack trained runs as the bundled model.

The last step of ``make bundled``: the v2 and v1 ``train-encoder`` outputs (same
generator and pSp encoder; v2's super-resolution may be polished by stage 3, and v1
then uses it) and the ``train-generator`` run's ``head_params.json`` become
``assets/bundled`` (see :mod:`triplanenet.loading.bundled`), with the generator's edit directions
(``edit_directions.safetensors``, :func:`triplanenet.editing.write_attribute_directions`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import guarded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("v2", help="train-encoder output of the v2 tri-plane stage (or of its stage-3 polish)")
    parser.add_argument("v1", help="train-encoder output of the v1 tri-plane stage (same pSp encoder)")
    parser.add_argument("generator", type=Path, help="train-generator output (for head_params.json)")
    parser.add_argument("out", nargs="?", type=Path, default=None,
                        help="the folder to write (default: assets/bundled)")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..loading import load_inverter
    from ..editing import write_attribute_directions
    from ..loading.bundled import BUNDLED_DIR, save_bundled

    v2, v1 = load_inverter(args.v2), load_inverter(args.v1)
    folder = save_bundled(v2, v1, args.out or BUNDLED_DIR, args.generator / "head_params.json")
    write_attribute_directions(v2.decoder, folder)
    print(folder)
    return 0
