"""``triplanenet info``: load a generator checkpoint and describe it as JSON."""
from __future__ import annotations

import argparse
import json

from .common import guarded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .pkl, .pth, pretrained folder or Hub id")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..loading import load_generator

    G = load_generator(args.checkpoint)
    print(json.dumps({
        "class": type(G).__name__,
        "parameters": sum(p.numel() for p in G.parameters()),
        "num_ws": G.num_ws,
        "img_resolution": G.img_resolution,
        "neural_rendering_resolution": G.neural_rendering_resolution,
        "superresolution": G.rendering_kwargs.get("superresolution_module"),
        "depth_samples": [G.rendering_kwargs.get("depth_resolution"),
                          G.rendering_kwargs.get("depth_resolution_importance")],
    }, indent=2))
    return 0
