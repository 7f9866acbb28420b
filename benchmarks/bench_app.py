"""The app's speed on its own steps (:mod:`triplanenet.app.steps`, no web server): what a user waits for.

* photo -> first 3D result: face crop + camera, inversion with its render at the
  photo's camera, the input | reconstruction image and the gallery of views;
* a slider re-render: one new view (image + depth picture) from the cached tri-planes;
* and, for reference, each part and the coloured mesh.

Medians of ``--runs`` runs after one warm-up, on scikit-image's astronaut photo.
The bundled model by default; ``--checkpoint`` for another (a path or Hub id), or
``--full-size`` for the published FFHQ-512 architecture with random weights (timing
does not depend on their values).

    python benchmarks/bench_app.py [--runs 5] [--views 5] [--checkpoint CKPT | --full-size]
"""
from __future__ import annotations

import argparse

import torch
from PIL import Image
from skimage import data

from timing import median_seconds
from triplanenet import TriPlaneNet
from triplanenet.app import steps
from triplanenet.inversion.modes import ModelSet, get_model_set
from triplanenet.pipeline import Pipeline


def full_size_models() -> ModelSet:
    """TriPlaneNet v2 at the published sizes (FFHQ-512 EG3D, 96+96 samples as load_inverter uses), random weights."""
    torch.manual_seed(0)
    model = TriPlaneNet(version=2)
    for key in ("depth_resolution", "depth_resolution_importance"):
        model.decoder.rendering_kwargs[key] *= 2
    return ModelSet("FFHQ-512 TriPlaneNet v2 (random weights)", {2: model}, 2, is_bundled=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--views", type=int, default=None, help="views in the gallery (default: the app's)")
    parser.add_argument("--mesh-resolution", type=int, default=256)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--checkpoint", default="bundled")
    group.add_argument("--full-size", action="store_true")
    args = parser.parse_args()

    models = full_size_models() if args.full_size else get_model_set(args.checkpoint, "cpu")
    pipeline = Pipeline(models)
    args.views = args.views or models.default_view_count
    photo = Image.fromarray(data.astronaut())
    aligned = steps.align(pipeline, photo)
    inversion, view = steps.invert(pipeline, aligned.crop, aligned.camera, models.default_mode)

    def first_result() -> None:
        alignment = steps.align(pipeline, photo)
        result, input_view = steps.invert(pipeline, alignment.crop, alignment.camera, models.default_mode)
        steps.comparison(result, input_view)
        steps.views(result, args.views)

    rows = [
        ("photo -> first 3D result (crop + inversion + gallery)", first_result),
        ("  face crop + camera", lambda: steps.align(pipeline, photo)),
        ("  inversion + render at the photo's camera",
         lambda: steps.invert(pipeline, aligned.crop, aligned.camera, models.default_mode)),
        (f"  gallery of {args.views} views", lambda: steps.views(inversion, args.views)),
        ("slider re-render (view + depth picture)", lambda: steps.novel_view(inversion, 20.0, 5.0)),
        (f"coloured mesh at {args.mesh_resolution}^3", lambda: steps.mesh(inversion, args.mesh_resolution)),
    ]
    print(f"model: {models.source} ({models.resolution} px), {torch.get_num_threads()} threads, "
          f"median of {args.runs} runs\n")
    print("| step | seconds |\n| --- | --- |")
    for name, fn in rows:
        print(f"| {name} | {median_seconds(fn, args.runs):.2f} |", flush=True)


if __name__ == "__main__":
    with torch.no_grad():
        main()
