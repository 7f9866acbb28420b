"""The evaluation loops: which methods a checkpoint offers, held-out synthetic heads, and real photos.

The protocol is described in :mod:`triplanenet.evaluation`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import permutations
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from .. import cameras
from ..identity import SAME_PERSON, FaceIdentity
from ..image_tensors import EMPTY_SPACE as BACKGROUND, resize_images
from ..inversion.result import Inversion
from ..loading.bundled import BUNDLED_DIR, NAMES as BUNDLED_NAMES
from ..models.generator import TriPlaneGenerator
from ..models.lpips import LPIPS
from ..outputs.geometry import LEVEL
from ..outputs.meshes import Mesh
from ..outputs.surface import extract_mesh
from ..outputs.views import to_uint8
from ..pipeline import Pipeline
from ..preprocess.aligned_folder import FolderDataset
from ..synthetic.codes import HeadCodes
from .heads import EVALUATION_STREAM, NOVEL_YAWS, GroundTruth, ground_truth, surface_mesh
from .metrics import (CHAMFER_POINTS, INSIDE, OPAQUE, SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW, chamfer_distance,
                      depth_error, face_mask, face_psnr, face_ssim, psnr, ssim)
from .report import NOVEL_KEYS, TURN_KEYS, TURN_YAWS, Report, Row

MESH_RESOLUTION = 128


TRUE_PARAMS = "true-params"
"""The row of the generator rendered from each held-out head's true parameters (no inversion)."""


class Method(NamedTuple):
    """One row of the table: the pipeline's inversion in ``mode``, then ``refine_steps`` steps of per-photo
    refinement (:mod:`triplanenet.refinement`) when given. With ``codes`` it inverts nothing: the
    generator is given the head's true parameters (held-out synthetic heads only)."""

    name: str
    pipeline: Pipeline
    mode: str
    refine_steps: int | None = None
    codes: HeadCodes | None = None

    @property
    def generator(self) -> TriPlaneGenerator:
        return self.pipeline.models.inverter(self.mode)[0].decoder

    def invert(self, image: torch.Tensor, camera: torch.Tensor, params: torch.Tensor | None = None) -> Inversion:
        """The inversion of ``image`` [1,3,R,R] seen from ``camera`` [1,25]; ``params`` [1,97] are the head's
        true parameters, used (and needed) only by the true-parameters row."""
        if self.codes is not None:
            return self._true_head(camera, params)
        inversion = self.pipeline.invert(image, camera, self.mode)
        return self.pipeline.refine(inversion, self.refine_steps) if self.refine_steps else inversion

    def _true_head(self, camera: torch.Tensor, params: torch.Tensor | None) -> Inversion:
        if params is None:
            raise ValueError(f"the {TRUE_PARAMS!r} row needs held-out synthetic heads (--seeds)")
        with torch.no_grad():
            ws = self.generator.mapping(self.codes.z(params), camera)
            planes = self.generator.planes(ws)
        return Inversion(ws, planes, planes, camera, method=TRUE_PARAMS, generator=self.generator)


def methods_for(checkpoint: str, refine_steps: int | None = None, true_params: bool = False) -> list[Method]:
    """The modes the checkpoint offers (:class:`~triplanenet.inversion.ModelSet`, as in the app), ``w+`` first,
    with ``refine_steps`` its own version refined per photo (``"v2+refined"``), and with ``true_params``
    its generator given each head's true parameters first (checkpoints with ``head_params.json``)."""
    pipeline = Pipeline.from_pretrained(checkpoint, "cpu")
    models = pipeline.models
    methods = [Method(mode, pipeline, mode) for mode in sorted(models.modes, key=lambda mode: (mode != "w+", mode))]
    if refine_steps:
        methods.append(Method(f"{models.default_mode}+refined", pipeline, models.default_mode, refine_steps))
    if true_params:
        codes = HeadCodes.read(checkpoint_folder(checkpoint))
        methods.insert(0, Method(TRUE_PARAMS, pipeline, models.default_mode, codes=codes))
    return methods


def checkpoint_folder(checkpoint: str) -> Path:
    """The folder a checkpoint was loaded from (the bundled model's, or a ``save_pretrained`` folder)."""
    if checkpoint in BUNDLED_NAMES:
        return BUNDLED_DIR
    if Path(checkpoint).is_dir():
        return Path(checkpoint)
    raise ValueError(f"{checkpoint!r} is not a folder: true head parameters exist only for generators trained "
                     "on synthetic heads (the bundled model, or a folder with head_params.json)")


def _timed_inversion(method: Method, image: torch.Tensor, camera: torch.Tensor,
                     params: torch.Tensor | None = None) -> tuple[Inversion, float]:
    """The inverted head and the seconds inversion (and refinement) took."""
    start = time.perf_counter()
    inversion = method.invert(image, camera, params)
    return inversion, time.perf_counter() - start


def _warm_up(methods: Sequence[Method], image: torch.Tensor, camera: torch.Tensor) -> None:
    """One untimed inversion per method (unrefined), so that first-call costs stay out of the timings
    (not for the true-parameters row, which inverts nothing)."""
    for method in methods:
        if method.codes is None:
            method.pipeline.invert(image, camera, method.mode)


def image_metrics(prediction: torch.Tensor, target: torch.Tensor, lpips: LPIPS | None) -> Row:
    """Same-view ``psnr``, ``ssim`` and ``lpips`` (``None`` without weights) of one image pair [1,3,R,R]."""
    with torch.no_grad():
        distance = float(lpips(prediction.clamp(-1, 1), target)[0]) if lpips is not None else None
    return {"psnr": float(psnr(prediction, target)[0]), "ssim": float(ssim(prediction, target)[0]),
            "lpips": distance}


def evaluate_head(method: Method, truth: GroundTruth, truth_mesh: Mesh, lpips: LPIPS | None,
                  mesh_resolution: int, mesh_level: float, chamfer_points: int) -> Row:
    """Every metric of one method on one held-out head (see the module doc)."""
    head, seconds = _timed_inversion(method, truth.image[:1], truth.cameras[:1], truth.params.to_tensor())
    out = head.synthesis(truth.cameras)
    row: Row = {"seed": truth.seed, **image_metrics(out["image"][:1], truth.image[:1], lpips)}
    novel = psnr(out["image"][1:], truth.image[1:])
    row.update({key: float(value) for key, value in zip(NOVEL_KEYS, novel)})
    row["depth_mae"], row["depth_coverage"] = depth_error(out["image_depth"][:1], out["image_opacity"][:1],
                                                          truth.depth[:1], truth.mask[:1])
    mesh = extract_mesh(head.field, mesh_resolution, head.box, level=mesh_level, colors=False)
    row["chamfer_percent"] = (100 * chamfer_distance(mesh, truth_mesh, chamfer_points) / head.box
                              if len(mesh.faces) and len(truth_mesh.faces) else None)
    row["seconds"] = seconds
    return row


def evaluate_synthetic(methods: Sequence[Method], seeds: Sequence[int], checkpoint: str, *,
                       lpips: LPIPS | None = None, mesh_resolution: int = MESH_RESOLUTION,
                       mesh_level: float = LEVEL, chamfer_points: int = CHAMFER_POINTS,
                       progress: Callable[[str], None] | None = None) -> Report:
    """Evaluate ``methods`` (sharing one generator resolution) on held-out heads ``seeds``."""
    resolution = methods[0].generator.img_resolution
    report = Report(checkpoint, {"kind": "synthetic", "seeds": list(seeds), "stream": EVALUATION_STREAM,
                                 "resolution": resolution, "background": BACKGROUND, "novel_yaws": list(NOVEL_YAWS)},
                    _settings(lpips, mesh_resolution, mesh_level, chamfer_points), {m.name: [] for m in methods})
    box = float(methods[0].generator.rendering_kwargs["box_warp"])
    for i, seed in enumerate(seeds):
        start = time.perf_counter()
        truth = ground_truth(seed, resolution)
        if i == 0:
            _warm_up(methods, truth.image[:1], truth.cameras[:1])
        truth_mesh = surface_mesh(truth.params, mesh_resolution, box)
        for method in methods:
            report.rows[method.name].append(
                evaluate_head(method, truth, truth_mesh, lpips, mesh_resolution, mesh_level, chamfer_points))
        if progress is not None:
            progress(f"head {i + 1}/{len(seeds)} (seed {seed}): {time.perf_counter() - start:.1f} s")
    return report


def evaluate_photos(methods: Sequence[Method], folder: str | Path, checkpoint: str, *,
                    lpips: LPIPS | None = None, people: dict[str, str] | None = None,
                    progress: Callable[[str], None] | None = None) -> Report:
    """Same-view image, face-region and identity metrics of ``methods`` on a folder of aligned photos
    (``triplanenet align --dataset``); with ``people`` (file -> person), cross-photo identity too."""
    folder = Path(folder)
    if not (folder / "dataset.json").is_file():
        raise ValueError(f"{folder} has no dataset.json (make one with: triplanenet align PHOTOS --dataset {folder})")
    resolution = methods[0].generator.img_resolution
    photos = FolderDataset(folder)  # crops as stored: the inverter resizes them as it does in the app
    people = _check_people(people or {}, photos.files)
    report = Report(checkpoint, {"kind": "photos", "folder": str(folder), "files": photos.files,
                                 "resolution": resolution, "people": people},
                    _settings(lpips, None, None, None), {m.name: [] for m in methods})
    identity = FaceIdentity()
    kept: dict[str, dict[str, Inversion]] = {m.name: {} for m in methods}
    faces: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for i, file in enumerate(photos.files):
        crop, camera = photos.image(i)[None], photos.cameras[i:i + 1]
        image = resize_images(crop, resolution)
        if i == 0:
            _warm_up(methods, crop, camera)
        faces[file] = photo, landmarks = _photo_face(identity, folder / file)
        mask = face_mask(landmarks * resolution / len(photo), resolution) if landmarks is not None else None
        for method in methods:
            head, seconds = _timed_inversion(method, crop, camera)
            out = head.synthesis(camera)
            prediction = out["image"]
            report.rows[method.name].append({"file": file, **image_metrics(prediction, image, lpips),
                                             **face_metrics(prediction, image, mask),
                                             **identity_metrics(identity, prediction, photo, landmarks),
                                             **turned_identity(identity, head, camera, out["image_depth"][0, 0],
                                                               photo, landmarks),
                                             "seconds": seconds})
            if file in people:
                kept[method.name][file] = head
        if progress is not None:
            progress(f"photo {i + 1}/{len(photos)}: {file}")
    for method in methods:
        report.pairs[method.name] = _cross_photo(identity, kept[method.name], people, faces, photos)
    return report


def _check_people(people: dict[str, str], files: list[str]) -> dict[str, str]:
    """``people`` limited to the folder's files, or a ``ValueError`` naming files it does not have."""
    unknown = sorted(set(people) - set(files))
    if unknown:
        raise ValueError(f"the people mapping names files that are not in the dataset: {', '.join(unknown[:5])}")
    return dict(people)


def _photo_face(identity: FaceIdentity, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The aligned photo as stored [S,S,3] uint8 and its 68 landmarks (None when no face is found)."""
    with Image.open(path) as image:
        photo = np.asarray(image.convert("RGB"))
    return photo, identity.landmarks(photo)


def face_metrics(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> Row:
    """``face_psnr`` and ``face_ssim`` of one pair [1,3,R,R] inside the face ``mask`` [R,R] (None: no face)."""
    if mask is None or not mask.any():
        return {"face_psnr": None, "face_ssim": None}
    return {"face_psnr": face_psnr(prediction, target, mask), "face_ssim": face_ssim(prediction, target, mask)}


def identity_metrics(identity: FaceIdentity, prediction: torch.Tensor, photo: np.ndarray,
                     landmarks: np.ndarray | None, key: str = "identity") -> Row:
    """dlib's descriptor distance between a render [1,3,R,R] (resized to the photo's size) and ``photo``
    [S,S,3] uint8, both cut along the photo's ``landmarks``, and whether it is under the same-person threshold."""
    share_key = "recognised" if key == "identity" else "cross_recognised"
    if landmarks is None:
        return {key: None, share_key: None}
    render = Image.fromarray(to_uint8(prediction[0])).resize(photo.shape[1::-1], Image.Resampling.BICUBIC)
    distance = identity.distance(np.asarray(render), photo, landmarks)
    return {key: distance, share_key: float(distance < SAME_PERSON)}


def turned_identity(identity: FaceIdentity, head: Inversion, camera: torch.Tensor, depth: torch.Tensor,
                    photo: np.ndarray, landmarks: np.ndarray | None) -> Row:
    """Novel-view identity: the head at the photo's ``camera`` [1,25] turned by each of ``TURN_YAWS`` (pitch
    kept) against ``photo``; the render's face is cut along the photo's ``landmarks`` carried to the turned
    camera through the head's ``depth`` [r,r] at the photo's camera (where the head puts those points)."""
    if landmarks is None:
        return {key: None for pair in TURN_KEYS for key in pair}
    turned = torch.cat([cameras.turned(camera.cpu(), yaw) for yaw in TURN_YAWS])
    renders = head.synthesis(turned)["image"]
    reference = identity.descriptor(photo, landmarks)
    row: Row = {}
    for (distance_key, share_key), c, render in zip(TURN_KEYS, turned, renders):
        carried = carry_landmarks(landmarks, len(photo), depth.cpu(), camera.cpu(), c[None])
        distance = float(np.linalg.norm(identity.descriptor(_resized(render, photo.shape), carried) - reference))
        row.update({distance_key: distance, share_key: float(distance < SAME_PERSON)})
    return row


def carry_landmarks(landmarks: np.ndarray, size: int, depth: torch.Tensor, source: torch.Tensor,
                    target: torch.Tensor) -> np.ndarray:
    """``landmarks`` [K,2] (pixels of a ``size`` image seen from camera ``source`` [1,25]) lifted to the surface
    by ``depth`` [r,r] (rendered from ``source``) and projected into camera ``target`` [1,25] -> [K,2] pixels."""
    uv = torch.from_numpy(np.asarray(landmarks, dtype=np.float32) / size)
    grid = (uv * 2 - 1).view(1, 1, -1, 2)
    distance = torch.nn.functional.grid_sample(depth[None, None].float(), grid, align_corners=False).view(-1)
    return (cameras.project(cameras.unproject(uv, distance, source), target) * size).numpy()


def _resized(image: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """A render [3,R,R] as uint8 [S,S,3] at the photo's ``shape`` (bicubic)."""
    return np.asarray(Image.fromarray(to_uint8(image)).resize(shape[1::-1], Image.Resampling.BICUBIC))


def _cross_photo(identity: FaceIdentity, heads: dict[str, Inversion], people: dict[str, str],
                 faces: dict[str, tuple[np.ndarray, np.ndarray | None]], photos: FolderDataset) -> list[Row]:
    """Every ordered pair (A, B) of one person's photos: A's head rendered at B's camera against photo B."""
    rows = []
    for a, b in permutations(heads, 2):
        if people[a] != people[b]:
            continue
        camera = photos.cameras[photos.files.index(b)][None]
        prediction = heads[a].synthesis(camera)["image"]
        photo, landmarks = faces[b]
        rows.append({"from": a, "to": b, **identity_metrics(identity, prediction, photo, landmarks,
                                                             key="cross_identity")})
    return rows


def _settings(lpips: LPIPS | None, mesh_resolution: int | None, mesh_level: float | None,
              chamfer_points: int | None) -> dict[str, Any]:
    return {"lpips": lpips.net_name if lpips is not None else None, "mesh_resolution": mesh_resolution,
            "mesh_level": mesh_level, "chamfer_points": chamfer_points, "opacity_threshold": OPAQUE,
            "inside_threshold": INSIDE, "ssim": {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1,
                                                 "k2": SSIM_K2}}
