"""Several photos of one person -> one head, measured: leave-one-out on real photos and held-out synthetic views.

* **People set** (:data:`people_dataset.PEOPLE`, ../shared/faces). For every photo B of a person, the head
  fitted to the person's *other* photos (:func:`~triplanenet.refinement.refine_together`) is rendered at B's
  camera and compared with B (dlib distance, cut along B's landmarks; < 0.6 = same person). Against it: each
  other photo A refined alone (:func:`~triplanenet.refinement.refine`) and rendered at B's camera (the
  median over A). With two photos the other photos are one photo, so leave-one-out is the single-photo figure.
* **Synthetic ground truth.** Held-out head ``seed`` (:func:`~triplanenet.evaluation.heads.evaluation_head`) is
  rendered at :data:`FITTED` and :data:`HELD_OUT` cameras; PSNR at the held-out camera of the encoder's head of
  the first view, of that head refined on the first view alone, and of the head fitted to both fitted views.
* **Time** of each refinement (wall seconds, default settings), by the number of photos fitted.

    python benchmarks/bench_people.py [--seeds 0-3] [--steps 20] [--skip-people] [--skip-synthetic]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np
import torch

from people_dataset import FACES, PEOPLE
from triplanenet import cameras
from triplanenet.evaluation import methods_for, parse_seeds, psnr
from triplanenet.evaluation.heads import evaluation_head, render_truth
from triplanenet.evaluation.protocol import identity_metrics
from triplanenet.identity import FaceIdentity
from triplanenet.inversion import Inversion
from triplanenet.pipeline import Pipeline
from triplanenet.preprocess import align_face
from triplanenet.refinement import RefineSettings, refine, refine_together

FITTED = ((0.0, 0.0), (0.45, 0.1))
"""(yaw, pitch) in radians of the synthetic head's fitted views: frontal, then turned and from above."""
HELD_OUT = (-0.3, -0.15)
"""(yaw, pitch) of the view no fit sees (nor its mirror)."""

times: dict[int, list[float]] = defaultdict(list)
"""Photos fitted -> wall seconds of each refinement."""


def timed(photos: list[Inversion], settings: RefineSettings) -> Inversion:
    """The head fitted to ``photos`` (one photo: the plain single-photo refinement), its time recorded."""
    start = time.perf_counter()
    head = refine(photos[0], settings=settings) if len(photos) == 1 else refine_together(photos, settings)
    times[len(photos)].append(time.perf_counter() - start)
    return head


def cross_distance(identity: FaceIdentity, head: Inversion, camera: torch.Tensor, photo: np.ndarray,
                   landmarks: np.ndarray | None) -> float | None:
    """dlib distance between ``head`` at ``camera`` [1,25] and ``photo`` [S,S,3] uint8."""
    row = identity_metrics(identity, head.synthesis(camera)["image"], photo, landmarks, key="cross_identity")
    return row["cross_identity"]


def people_rows(settings: RefineSettings) -> list[tuple[str, str, int, float | None, float | None]]:
    """(person, left-out photo, photos fitted, single-photo median distance, joint distance) per photo."""
    pipeline, identity, rows = Pipeline.from_pretrained("bundled", "cpu"), FaceIdentity(), []
    for person, photos in PEOPLE.items():
        faces = [align_face(FACES / photo, face_index=index) for photo, index in photos]
        names = [f"{photo.split('.')[0]}_{index}" for photo, index in photos]
        heads = [pipeline.invert(face.image, face.camera) for face in faces]
        singles = [timed([head], settings) for head in heads]
        for b, face in enumerate(faces):
            photo = np.asarray(face.image.convert("RGB"))
            landmarks, camera = identity.landmarks(photo), heads[b].camera
            others = [i for i in range(len(faces)) if i != b]
            single = [cross_distance(identity, singles[a], camera, photo, landmarks) for a in others]
            known = [d for d in single if d is not None]
            joint = (cross_distance(identity, timed([heads[a] for a in others], settings), camera, photo, landmarks)
                     if len(others) > 1 else None)
            rows.append((person, names[b], len(others), statistics.median(known) if known else None, joint))
            print(f"{person:12s} {names[b]:22s} fitted {len(others)}  single {_f(rows[-1][3])}  joint {_f(joint)}",
                  flush=True)
    return rows


def synthetic_rows(seeds: range, settings: RefineSettings) -> list[tuple[int, float, float, float]]:
    """(seed, encoder, single-view refined, two-view refined) PSNR at the held-out camera."""
    method = next(m for m in methods_for("bundled") if m.name == "v2")
    resolution = method.generator.img_resolution
    views = cameras.camera(torch.tensor([y for y, _ in (*FITTED, HELD_OUT)]),
                           torch.tensor([p for _, p in (*FITTED, HELD_OUT)]))
    rows = []
    for seed in seeds:
        params, _ = evaluation_head(seed)
        image, _ = render_truth(params, views, resolution)
        heads = [method.invert(image[i:i + 1], views[i:i + 1]) for i in range(len(FITTED))]
        held_out, truth = views[-1:], image[-1:]
        scores = [float(psnr(head.synthesis(held_out)["image"], truth))
                  for head in (heads[0], timed(heads[:1], settings), timed(heads, settings))]
        rows.append((seed, *scores))
        print(f"seed {seed}: encoder {scores[0]:.2f}  single {scores[1]:.2f}  two views {scores[2]:.2f} dB",
              flush=True)
    return rows


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-3"))
    parser.add_argument("--steps", type=int, default=RefineSettings().steps)
    parser.add_argument("--skip-people", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    settings = RefineSettings(steps=args.steps)
    if not args.skip_people:
        rows = people_rows(settings)
        print("\n| person | left out | photos fitted | single photo (median over the others) | all others together |")
        print("|---|---|---|---|---|")
        for person, name, fitted, single, joint in rows:
            print(f"| {person} | {name} | {fitted} | {_f(single)} | {_f(joint)} |")
        joint = [r[4] for r in rows if r[4] is not None]
        single = [r[3] for r in rows if r[4] is not None and r[3] is not None]
        if joint:
            print(f"\nleave-one-out with >= 2 photos fitted: median single {_f(statistics.median(single))}, "
                  f"joint {_f(statistics.median(joint))} ({len(joint)} photos)")
    if not args.skip_synthetic:
        rows = synthetic_rows(args.seeds, settings)
        print("\n| seed | encoder | refined, 1 view | refined, 2 views |\n|---|---|---|---|")
        for seed, *scores in rows:
            print(f"| {seed} | " + " | ".join(f"{s:.2f}" for s in scores) + " |")
        means = np.mean([r[1:] for r in rows], 0)
        print("| mean | " + " | ".join(f"{s:.2f}" for s in means) + " |")
    print("\n| photos fitted | refinements | median seconds | per photo |\n|---|---|---|---|")
    for count, seconds in sorted(times.items()):
        median = statistics.median(seconds)
        print(f"| {count} | {len(seconds)} | {median:.1f} | {median / count:.1f} |")


if __name__ == "__main__":
    main()
