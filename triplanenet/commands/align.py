"""``triplanenet align``: crop and pose one photo, or turn a folder of photos into an EG3D dataset.

One photo: prints the crop box, yaw/pitch/roll, the 25-number EG3D camera, the
backend that ran and the 68 landmarks (``--json``: one JSON object on stdout),
and writes the 512x512 crop with ``--out``. A folder (or a photo) with
``--dataset OUT/``: writes one 512x512 PNG per photo with a face and
``OUT/dataset.json`` holding ``{"labels": [[file, camera25], ...]}`` as EG3D's
training code reads it (``--mirror`` adds left-right flipped copies with
mirrored cameras). Problems are reported as one readable line on stderr with
exit code 2, never as a traceback (:func:`~triplanenet.commands.guarded`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import guarded

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``align`` options (no heavy imports here: ``--help`` stays instant)."""
    parser.add_argument("photo", metavar="PHOTO", help="a photo file, or a folder of photos with --dataset")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
    parser.add_argument("--out", metavar="CROP.png", help="write the 512x512 EG3D crop here (format from the suffix)")
    parser.add_argument("--dataset", metavar="OUT/", help="write an EG3D-style dataset (crops + dataset.json) here")
    parser.add_argument("--mirror", action="store_true", help="with --dataset: also write mirrored copies")
    parser.add_argument("--face-index", type=int, default=None, metavar="N",
                        help="which face to use when there are several (0 = largest, the default)")
    parser.add_argument("--backend", default="auto", choices=("auto", "dlib", "face-alignment"),
                        help="landmark backend (auto: face-alignment if its weights are cached, else dlib)")
    parser.add_argument("--fill", default="reflect", choices=("reflect", "black"),
                        help="how to fill crop pixels outside the photo (EG3D itself leaves black)")
    parser.add_argument("--min-face", type=int, default=None, metavar="PX",
                        help="smallest face width accepted, in pixels (default 48)")


@guarded
def run(args: argparse.Namespace) -> int:
    """Run ``align``; 0 on success, 2 with a one-line message on stderr otherwise."""
    from ..preprocess import FaceError

    if args.dataset:
        return _run_dataset(args)
    if args.mirror:
        raise FaceError("--mirror only applies with --dataset OUT/.")
    if Path(args.photo).is_dir():
        raise FaceError(f"{args.photo} is a folder. To align every photo in it, add --dataset OUT/.")
    return _run_single(args)


def _align_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`align_face` options the command line sets."""
    from ..preprocess import MIN_FACE_PX

    return {"backend": args.backend, "fill": args.fill,
            "min_face_px": MIN_FACE_PX if args.min_face is None else args.min_face}


def _run_single(args: argparse.Namespace) -> int:
    """Align one photo and report it (text or JSON); write the crop if asked."""
    from ..preprocess import align_face

    if args.out:
        _check_format(Path(args.out))
    face = align_face(args.photo, face_index=args.face_index, **_align_kwargs(args))
    if args.out:
        _save_image(face.image, Path(args.out))
    if args.json:
        record = face.to_dict()
        record["photo"] = str(args.photo)
        if args.out:
            record["crop"] = str(args.out)
        print(json.dumps(record))
        return 0
    lines = [
        f"{args.photo}: {face.which_face}",
        f"backend: {face.backend} (alignment points: {face.alignment_points})",
        "crop box (x0 y0 x1 y1, photo pixels): " + " ".join(f"{v:.1f}" for v in face.box),
        f"yaw {face.yaw_deg:+.1f} deg (+ = face turned toward image-left), "
        f"pitch {face.pitch_deg:+.1f} deg (+ = seen from above), roll {face.roll_deg:+.1f} deg",
        "camera (EG3D label, 25 numbers): " + " ".join(f"{v:.6g}" for v in face.camera),
        "landmarks (68 x,y photo pixels): " + " ".join(f"{x:.1f},{y:.1f}" for x, y in face.landmarks),
    ]
    if args.out:
        lines.append(f"wrote {args.out}")
    print("\n".join(lines))
    return 0


def _run_dataset(args: argparse.Namespace) -> int:
    """Align every photo under ``args.photo`` into ``args.dataset`` with an EG3D ``dataset.json``."""
    import numpy as np
    import torch
    from PIL import ImageOps

    from .. import cameras
    from ..preprocess import FaceError, align_face

    source = Path(args.photo)
    if not source.exists():
        raise FaceError(f"No such file or folder: {source}.")
    photos = [source] if source.is_file() else sorted(
        p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise FaceError(f"No photos ({', '.join(PHOTO_SUFFIXES)}) found in {source}.")
    out = Path(args.dataset)
    out.mkdir(parents=True, exist_ok=True)
    labels: list[list[Any]] = []
    skipped: list[dict[str, str]] = []
    used: set[str] = set()
    for photo in photos:
        try:
            face = align_face(photo, face_index=args.face_index, **_align_kwargs(args))
        except FaceError as err:
            skipped.append({"photo": str(photo), "error": str(err)})
            print(f"skipped {photo}: {err}", file=sys.stderr)
            continue
        relative = photo.relative_to(source).parent if source.is_dir() else Path()
        name = _unique_name(relative, photo.stem, used)
        _save_image(face.image, out / name)
        labels.append([name, [float(v) for v in face.camera]])
        if args.mirror:
            mirror_name = _unique_name(relative, f"{photo.stem}_mirror", used)
            _save_image(ImageOps.mirror(face.image), out / mirror_name)
            mirrored = cameras.mirror(torch.from_numpy(np.asarray(face.camera, dtype=np.float64)[None]))
            labels.append([mirror_name, [float(v) for v in mirrored[0]]])
    if not labels:
        raise FaceError(f"None of the {len(photos)} photos gave a face; nothing was written to {out}.")
    with open(out / "dataset.json", "w", encoding="utf-8") as handle:
        json.dump({"labels": labels}, handle)
    summary = {"dataset": str(out / "dataset.json"), "images": len(labels), "photos": len(photos),
               "skipped": skipped}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {len(labels)} crops and {out / 'dataset.json'} "
              f"({len(photos) - len(skipped)} of {len(photos)} photos aligned"
              f"{', mirrored copies included' if args.mirror else ''})")
    return 0


def _unique_name(folder: Path, stem: str, used: set[str]) -> str:
    """``folder/stem.png`` (POSIX separators), numbered if that name is already taken."""
    candidate, number = (folder / f"{stem}.png").as_posix(), 1
    while candidate in used:
        candidate = (folder / f"{stem}_{number}.png").as_posix()
        number += 1
    used.add(candidate)
    return candidate


def _check_format(path: Path) -> None:
    """Refuse an output name whose suffix names no image format PIL can write."""
    from PIL import Image

    from ..preprocess import FaceError

    if path.suffix.lower() not in Image.registered_extensions():
        raise FaceError(f"Cannot tell the image format from {path.name!r}; end the name with .png or .jpg.")


def _save_image(image: Any, path: Path) -> None:
    """Write ``image`` in the format its suffix names (PNG, JPEG, WebP, ...), creating the folder."""
    _check_format(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if suffix in (".jpg", ".jpeg", ".webp") else {}
    image.save(path, **options)
