"""Score refinement variants: real-photo identity at the photo's camera and turned by yaw offsets (pitch kept),
and held-out synthetic heads' novel-view PSNR (yaw +-0.5, pitch 0) and Chamfer.

    python experiments/score.py VARIANT [VARIANT ...] [--photos 16] [--seeds 0-7] [--sheet]

Variants are named in ``VARIANTS`` (experiments/variants.py). Results: experiments/results/<variant>.json.
Turned-view identity: the render's face is cut along landmarks dlib finds on the render ("detected"); when it
finds none, along the photo's landmarks carried to the turned camera through the head's own depth
("reprojected", also reported for every view).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from triplanenet import cameras  # noqa: E402
from triplanenet.evaluation import ground_truth  # noqa: E402
from triplanenet.evaluation.heads import surface_mesh  # noqa: E402
from triplanenet.evaluation.metrics import chamfer_distance, psnr  # noqa: E402
from triplanenet.geometry import LEVEL, extract_mesh  # noqa: E402
from triplanenet.identity import SAME_PERSON, FaceIdentity  # noqa: E402
from triplanenet.loading import load_inverter  # noqa: E402
from triplanenet.training.data import FolderDataset  # noqa: E402
from triplanenet.views import Scene, to_uint8  # noqa: E402
from turnfit import turn_refine  # noqa: E402
from variants import VARIANTS  # noqa: E402

FACES = HERE.parent / "runs" / "faces"
OFFSETS = (0.0, -0.3, 0.3, -0.5, 0.5)
SHEET_OFFSETS = (-0.5, -0.3, 0.0, 0.3, 0.5)


def turned(c: torch.Tensor, offset: float) -> torch.Tensor:
    """The camera(s) [N,25] rotated by ``offset`` rad of yaw about the vertical axis through the pivot."""
    cam2world, K = cameras.split(c)
    pivot = torch.tensor(cameras.PIVOT)
    co, si = np.cos(offset), np.sin(offset)
    rot = torch.tensor([[co, 0, si], [0, 1, 0], [-si, 0, co]], dtype=torch.float32)
    m = cam2world.clone()
    m[:, :3, :3] = rot @ cam2world[:, :3, :3]
    m[:, :3, 3] = (rot @ (cam2world[:, :3, 3] - pivot)[..., None])[..., 0] + pivot
    return cameras.label(m, K)


def reproject(landmarks: np.ndarray, size: int, depth: torch.Tensor, c_from: torch.Tensor,
              c_to: torch.Tensor) -> np.ndarray:
    """Landmarks [68,2] (pixels of a ``size`` image seen from ``c_from``) lifted by ``depth`` [r,r] and
    projected into ``c_to``."""
    m_from, K = cameras.split(c_from)
    m_to, _ = cameras.split(c_to)
    uv = torch.from_numpy(landmarks / size).float()
    grid = (uv * 2 - 1)[None, None]
    d = torch.nn.functional.grid_sample(depth[None, None], grid, align_corners=False)[0, 0, 0]
    fx, fy, cx, cy = K[0, 0, 0], K[0, 1, 1], K[0, 0, 2], K[0, 1, 2]
    dirs = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones(len(uv))], -1)
    dirs = torch.nn.functional.normalize(dirs @ m_from[0, :3, :3].T, dim=-1)
    world = m_from[0, :3, 3] + d[:, None] * dirs
    to = torch.linalg.inv(m_to[0])
    cam = world @ to[:3, :3].T + to[:3, 3]
    u = fx * cam[:, 0] / cam[:, 2] + cx
    v = fy * cam[:, 1] / cam[:, 2] + cy
    return (torch.stack([u, v], -1) * size).numpy()


def photo_scores(identity: FaceIdentity, inversion, photo: np.ndarray, landmarks: np.ndarray):
    """Per offset: distance with detected (fallback reprojected) landmarks, reprojected distance, and the
    rendered uint8 images per sheet offset."""
    scene = Scene.from_inversion(inversion)
    c0 = inversion.camera[:1]
    cams = torch.cat([turned(c0, o) for o in OFFSETS])
    out = scene.render(cams)
    size = len(photo)
    depth0 = out["image_depth"][0, 0]
    result, images = {}, {}
    for i, offset in enumerate(OFFSETS):
        render = np.asarray(Image.fromarray(to_uint8(out["image"][i])).resize((size, size),
                                                                             Image.Resampling.BICUBIC))
        images[offset] = render
        if offset == 0.0:
            d = identity.distance(render, photo, landmarks)
            result["0"] = {"id": d, "reproj": d, "detected": True}
            continue
        moved = reproject(landmarks, size, depth0, c0, cams[i:i + 1])
        reproj = float(np.linalg.norm(identity.descriptor(render, moved) - identity.descriptor(photo, landmarks)))
        found = identity.landmarks(render)
        detected = (float(np.linalg.norm(identity.descriptor(render, found) - identity.descriptor(photo, landmarks)))
                    if found is not None else None)
        result[f"{offset:+.1f}"] = {"id": detected if detected is not None else reproj, "reproj": reproj,
                                    "detected": found is not None}
    return result, images


def synthetic_scores(inverter, settings, seed: int):
    truth = ground_truth(seed, inverter.decoder.img_resolution)
    inversion = inverter.invert(truth.image[:1], truth.cameras[:1])
    start = time.perf_counter()
    refined, _ = turn_refine(inversion, settings) if settings is not None else (inversion, None)
    seconds = time.perf_counter() - start
    scene = Scene.from_inversion(refined)
    out = scene.render(truth.cameras)
    novel = psnr(out["image"][1:], truth.image[1:])
    box = scene.box
    mesh = extract_mesh(scene.field, 128, box, level=LEVEL, colors=False)
    truth_mesh = surface_mesh(truth.params, 128, box)
    chamfer = 100 * chamfer_distance(mesh, truth_mesh) / box
    return {"seed": seed, "same": float(psnr(out["image"][:1], truth.image[:1])[0]),
            "psnr+0.5": float(novel[0]), "psnr-0.5": float(novel[1]), "chamfer": chamfer, "seconds": seconds}


def summarise(rows_photo, rows_syn) -> dict:
    s = {}
    if rows_photo:
        for key in rows_photo[0]["scores"]:
            d = [r["scores"][key]["id"] for r in rows_photo]
            rp = [r["scores"][key]["reproj"] for r in rows_photo]
            s[key] = {"median": statistics.median(d), "recognised": float(np.mean([x < SAME_PERSON for x in d])),
                      "reproj_median": statistics.median(rp),
                      "reproj_recognised": float(np.mean([x < SAME_PERSON for x in rp])),
                      "detected": float(np.mean([r["scores"][key]["detected"] for r in rows_photo]))}
        s["photo_seconds"] = statistics.median(r["seconds"] for r in rows_photo)
    if rows_syn:
        for key in ("same", "psnr+0.5", "psnr-0.5", "chamfer", "seconds"):
            s[f"syn_{key}"] = float(np.mean([r[key] for r in rows_syn]))
    return s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--photos", type=int, default=16, help="every (64 // N)-th photo; 0: none")
    parser.add_argument("--offset", type=int, default=0, help="first photo of the every-(64 // N)-th pick")
    parser.add_argument("--seeds", default="0-7", help="A-B, or 'none'")
    parser.add_argument("--sheet", action="store_true")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    torch.manual_seed(0)
    inverter = load_inverter("bundled")
    identity = FaceIdentity()
    data = FolderDataset(FACES, inverter.decoder.img_resolution)
    picks = list(range(args.offset, len(data), len(data) // args.photos))[:args.photos] if args.photos else []
    seeds = [] if args.seeds == "none" else range(int(args.seeds.split("-")[0]), int(args.seeds.split("-")[1]) + 1)
    photos = {}
    for i in picks:
        with Image.open(FACES / data.files[i]) as im:
            photo = np.asarray(im.convert("RGB"))
        photos[i] = photo, identity.landmarks(photo)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "sheets").mkdir(exist_ok=True)
    for name in args.variants:
        settings = VARIANTS[name]
        rows_photo, rows_syn, sheet = [], [], []
        start = time.perf_counter()
        for i in picks:
            photo, landmarks = photos[i]
            if landmarks is None:
                continue
            inversion = inverter.invert(data.image(i)[None], data.cameras[i:i + 1])
            t = time.perf_counter()
            refined, delta = turn_refine(inversion, settings) if settings is not None else (inversion, None)
            seconds = time.perf_counter() - t
            scores, images = photo_scores(identity, refined, photo, landmarks)
            rows_photo.append({"file": data.files[i], "scores": scores, "seconds": seconds,
                               "delta": None if delta is None else delta[0].tolist()})
            if args.sheet:
                row = [photo] + [images[o] for o in SHEET_OFFSETS]
                sheet.append(np.concatenate([np.asarray(Image.fromarray(x).resize((160, 160))) for x in row], 1))
        for seed in seeds:
            rows_syn.append(synthetic_scores(inverter, settings, seed))
        summary = summarise(rows_photo, rows_syn)
        summary["wall_seconds"] = time.perf_counter() - start
        out = {"variant": name, "settings": repr(settings), "photos": len(rows_photo), "seeds": list(seeds),
               "summary": summary, "rows_photo": rows_photo, "rows_synthetic": rows_syn}
        (HERE / "results" / f"{name}{args.tag}.json").write_text(json.dumps(out, indent=1))
        if sheet:
            Image.fromarray(np.concatenate(sheet, 0)).save(HERE / "sheets" / f"{name}{args.tag}.png")
        print(name, json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
