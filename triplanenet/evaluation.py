"""Benchmark inverters on held-out synthetic heads with exact 3D ground truth, or on aligned photos.

Protocol (``triplanenet evaluate``). Head ``seed`` is drawn by :func:`evaluation_head`
from its own generator stream (see :data:`EVALUATION_STREAM`), never from the
streams training draws from. Its ground truth is rendered by
:func:`triplanenet.synthetic.render` at the generator's image resolution ``R``,
from an FFHQ-like camera (the input view) and from yaw ``+0.5`` and ``-0.5`` rad at
pitch 0 (the novel views). Backgrounds: the generator renders empty space black
(-1 in [-1, 1]); the bundled generator learned ground truth composited on that black
(:mod:`triplanenet.training.generator_trainer`), and its encoders learned to
reconstruct clean synthetic heads on it (``SyntheticSource``). So every ground-truth
image here is composited on black with its mask, and the inverter gets that black
input view too: a perfect inversion would score exactly. Each method inverts the input
view (batch 1; the time of ``invert`` is the "seconds per image", after one
untimed warm-up), and its tri-planes are rendered deterministically at all three
cameras. Metrics, per head:

* ``psnr``, ``ssim``, ``lpips``: same view, images clamped to [-1, 1] and compared in
  [0, 1] (:func:`psnr`, :func:`ssim`; LPIPS-alex only when its weights are found);
* ``psnr_yaw+0.5``, ``psnr_yaw-0.5``: the novel views against their ground truth;
* ``depth_mae``: mean absolute depth error (world units, distance along the ray) at
  the neural rendering resolution ``r``, on pixels fully inside the ground-truth mask
  where the model is opaque (opacity >= :data:`OPAQUE`); ``depth_coverage`` is the
  fraction of the inside pixels where the model is opaque (:func:`depth_error`);
* ``chamfer_percent``: symmetric Chamfer distance between the model's marching-cubes
  mesh (by default at raw density 10, EG3D's level) and the ground truth's (the SDF's
  zero level set) on the same lattice with the same EG3D border trim, in % of the box
  side (:func:`chamfer_distance`); ``None`` when the model has no surface at that level;
* ``seconds``: wall time of ``invert``.

For a folder of real aligned photos (:func:`evaluate_photos`) only the same-view
image metrics exist: the photo is the target, background included, which the
generator can only show as black where it has no density.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from . import cameras
from .loading.bundled import load_versions
from .geometry import LEVEL, Mesh, extract_mesh
from .inversion import resize_images
from .loading import load_inverter
from .models.triplanenet import TriPlaneNet
from .synthetic import HeadParams, render, sample_cameras, sample_params, sdf
from .synthetic.dataset import item_seed
from .training.data import EMPTY_SPACE as BACKGROUND, FolderDataset, with_background
from .training.losses import BACKBONE_FILES, LIN_FILES, LPIPS, find_weights, load_lpips
from .views import Scene

EVALUATION_STREAM = 0x7E57_4EBA
"""Stream key of held-out heads: head ``seed`` comes from ``manual_seed(item_seed(EVALUATION_STREAM, seed))``.

Training draws heads from other keys of the same hash: ``seed * 1_000_003 + rank``
(:func:`triplanenet.training.data.step_generator`, the generator trainer) and the
dataset seed (:class:`triplanenet.synthetic.SyntheticHeads`, the encoder trainer),
small numbers (0-7 with the default seed 0 and up to 8 processes). The hash keeps
32 bits (all a ``torch.Generator`` uses), so distinct keys alone could still meet
by chance; this key was chosen so that the first 10,000 evaluation seeds share no
generator seed with the first 100,000 draws of streams 0-7 (every item of the
default 100,000-head encoder dataset, and 100,000 generator steps on 8 processes),
which the tests check.
"""
SEED_LIMIT = 1 << 32
NOVEL_YAWS = (0.5, -0.5)
OPAQUE = 0.5
INSIDE = 0.999
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
CHAMFER_POINTS = 20_000
MESH_RESOLUTION = 128

NOVEL_KEYS = tuple(f"psnr_yaw{yaw:+g}" for yaw in NOVEL_YAWS)
METRICS: dict[str, str] = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS",
                           **{key: f"PSNR {yaw:+g}" for key, yaw in zip(NOVEL_KEYS, NOVEL_YAWS)},
                           "depth_mae": "depth MAE", "depth_coverage": "opaque", "chamfer_percent": "Chamfer",
                           "seconds": "s/image"}
"""Metric keys (JSON) and their table headers, in table order."""
UNITS = {"psnr": "dB", **{key: "dB" for key in NOVEL_KEYS}, "depth_mae": "world units",
         "depth_coverage": "fraction of inside pixels", "chamfer_percent": "% of the box side", "seconds": "s"}
FORMATS = {"ssim": "{:.4f}", "lpips": "{:.4f}", "depth_mae": "{:.4f}", "seconds": "{:.2f}"}

Row = dict[str, Any]


# ---------------------------------------------------------------- held-out heads

def parse_seeds(text: str) -> range:
    """``"A-B"`` (inclusive) or ``"A"`` -> the seeds ``range(A, B + 1)``; readable ``ValueError`` otherwise."""
    parts = text.strip().split("-")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"seeds must be 'A-B' or 'A' with whole numbers A <= B (e.g. 0-99), got {text!r}")
    first, last = int(parts[0]), int(parts[-1])
    if first > last:
        raise ValueError(f"seeds {text!r}: the first seed must not exceed the last")
    if last >= SEED_LIMIT:
        raise ValueError(f"seeds {text!r}: seeds must be below 2**32")
    return range(first, last + 1)


def evaluation_head(seed: int) -> tuple[HeadParams, torch.Tensor]:
    """Held-out head ``seed``: its parameters (batch of one) and FFHQ-like input camera [1,25]."""
    generator = torch.Generator().manual_seed(item_seed(EVALUATION_STREAM, seed))
    return sample_params(1, generator), sample_cameras(1, generator)


@dataclass
class GroundTruth:
    """Renders of one held-out head from its ``cameras`` [V,25] (input view first, then the novel views).

    ``image`` [V,3,R,R] in [-1, 1] on black, ``depth`` and ``mask`` [V,1,R,R].
    """

    seed: int
    params: HeadParams
    cameras: torch.Tensor
    image: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor


def ground_truth(seed: int, resolution: int) -> GroundTruth:
    """Render held-out head ``seed`` at ``resolution`` from its input camera and yaw ``NOVEL_YAWS`` (pitch 0)."""
    params, camera = evaluation_head(seed)
    novel = cameras.camera(torch.tensor(NOVEL_YAWS), torch.zeros(len(NOVEL_YAWS)))
    views = torch.cat([camera, novel])
    out = render(HeadParams.from_tensor(params.to_tensor().expand(len(views), -1)), views, resolution)
    image = with_background(out["image"], out["mask"], BACKGROUND)
    return GroundTruth(seed, params, views, image, out["depth"], out["mask"])


def surface_mesh(params: HeadParams, resolution: int, box: float) -> Mesh:
    """The ground-truth surface (zero level set of the SDF) of one head, meshed like the model's.

    Same lattice over ``[-box/2, box/2]^3`` and the same EG3D border trim as
    :func:`triplanenet.geometry.extract_mesh` applies to the model's density.
    """
    def field(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return -sdf(points[None], params)[0][:, None], points.new_zeros(len(points), 3)

    return extract_mesh(field, resolution, box, level=0.0, colors=False)


# ---------------------------------------------------------------- image metrics

def to_unit(image: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> [0, 1], clamped (what saving them as 8-bit would keep)."""
    return ((image + 1) / 2).clamp(0, 1)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR [N] (dB, float64) of images [N,C,H,W] in [-1, 1], compared in [0, 1]; ``inf`` for identical images."""
    mse = (to_unit(prediction) - to_unit(target)).double().pow(2).mean(dim=(1, 2, 3))
    return -10 * torch.log10(mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian weights [size] (float64)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM [N] of images [N,C,H,W] in [-1, 1] (Wang et al. 2004), compared in [0, 1].

    Per channel, local statistics use an 11-tap Gaussian window (sigma 1.5),
    population (co)variances and ``C1 = 0.01^2``, ``C2 = 0.03^2`` (data range 1);
    the map is averaged over channels and the positions where the window lies
    fully inside the image. Computed and returned in float64.
    """
    x, y = to_unit(prediction).double(), to_unit(target).double()
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, "
                         f"got {tuple(x.shape[-2:])}")
    channels = x.shape[1]
    g = gaussian_window().to(x.device)
    rows, columns = g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, rows, groups=channels), columns, groups=channels)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x * mu_x
    var_y = local_mean(y * y) - mu_y * mu_y
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3))


def load_metric_lpips(weights: str | Path | None = None, backbone: str | Path | None = None) -> LPIPS | None:
    """LPIPS-alex when both weight files are found (``weights``: ``alex.pth`` or its folder; ``backbone``:
    torchvision's AlexNet file or its folder, else the torch hub cache), else ``None``. Nothing is downloaded."""
    if find_weights(LIN_FILES["alex"], weights) is None:
        return None
    if find_weights(BACKBONE_FILES["alex"], backbone, hub_cache=True) is None:
        return None
    return load_lpips("alex", weights, backbone)


# ---------------------------------------------------------------- geometry metrics

def depth_error(depth: torch.Tensor, opacity: torch.Tensor, true_depth: torch.Tensor,
                true_mask: torch.Tensor) -> tuple[float | None, float]:
    """``(mae, coverage)`` of one view: model ``depth`` / ``opacity`` [1,1,r,r] against ground truth [1,1,R,R].

    The ground truth is averaged down to ``r``; pixels count when fully inside the
    head (coverage > :data:`INSIDE`) and opaque for the model (opacity >= :data:`OPAQUE`).
    ``mae`` is ``None`` when no pixel counts; ``coverage`` is the opaque share of inside pixels.
    """
    r = depth.shape[-1]
    inside = resize_images(true_mask, r) > INSIDE
    counted = inside & (opacity >= OPAQUE)
    coverage = float(counted.sum()) / max(1, int(inside.sum()))
    if not counted.any():
        return None, coverage
    return float((depth - resize_images(true_depth, r)).abs()[counted].mean()), coverage


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points [count,3] uniformly distributed over the area of a triangle mesh (float64)."""
    corners = vertices[faces].astype(np.float64)
    areas = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    if not areas.sum() > 0:
        raise ValueError("the mesh has no area to sample")
    chosen = rng.choice(len(faces), size=count, p=areas / areas.sum())
    u, v = rng.random((2, count, 1))
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    a, b, c = corners[chosen, 0], corners[chosen, 1], corners[chosen, 2]
    return a + u * (b - a) + v * (c - a)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances [...] from points ``p`` [...,3] to segments ``a``-``b`` [...,3]."""
    ab = b - a
    length2 = np.einsum("...i,...i", ab, ab)
    t = np.clip(np.einsum("...i,...i", p - a, ab) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def point_triangle_distance(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Exact distances [...] from points [...,3] to triangles [...,3,3] (float64).

    Inside the triangle's prism it is the distance to its plane; elsewhere the
    closest point is on an edge. Degenerate triangles fall back to their edges.
    """
    a, b, c = triangles[..., 0, :], triangles[..., 1, :], triangles[..., 2, :]
    ab, ac, ap = b - a, c - a, points - a
    d00, d01, d11 = (np.einsum("...i,...i", s, t) for s, t in ((ab, ab), (ab, ac), (ac, ac)))
    d20, d21 = np.einsum("...i,...i", ap, ab), np.einsum("...i,...i", ap, ac)
    denominator = d00 * d11 - d01 * d01
    safe = np.where(denominator > 1e-30, denominator, 1.0)
    v, w = (d11 * d20 - d01 * d21) / safe, (d00 * d21 - d01 * d20) / safe
    inside = (denominator > 1e-30) & (v >= 0) & (w >= 0) & (v + w <= 1)
    plane = np.abs(np.einsum("...i,...i", ap, np.cross(ab, ac))) / np.sqrt(safe)  # |normal|^2 = denominator
    edges = np.minimum(np.minimum(_segment_distance(points, a, b), _segment_distance(points, b, c)),
                       _segment_distance(points, c, a))
    return np.where(inside, plane, edges)


def point_to_mesh_distance(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray,
                           candidates: int = 16, chunk: int = 8192) -> np.ndarray:
    """Distances [M] from points [M,3] to a triangle mesh, exact over each point's ``candidates`` triangles
    with the nearest centroids.

    The result is never below the true distance and at most the largest
    centroid-to-corner distance above it (under a voxel for marching-cubes
    meshes); it is exact whenever the closest triangle is among the candidates.
    """
    triangles = vertices[faces].astype(np.float64)
    tree = cKDTree(triangles.mean(axis=1))
    k = min(candidates, len(faces))
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        p = np.asarray(points[start:start + chunk], dtype=np.float64)
        _, index = tree.query(p, k)
        index = index.reshape(len(p), k)
        out[start:start + len(p)] = point_triangle_distance(p[:, None], triangles[index]).min(axis=1)
    return out


def chamfer_distance(a: Mesh, b: Mesh, points: int = CHAMFER_POINTS, seed: int = 0) -> float:
    """Symmetric Chamfer distance of two meshes (their units): the mean of the two mean surface-to-surface
    distances, each over ``points`` area-uniform samples of one mesh measured to the other mesh."""
    if len(a.faces) == 0 or len(b.faces) == 0:
        raise ValueError("Chamfer distance needs two non-empty meshes")
    rng = np.random.default_rng(seed)
    a_to_b = point_to_mesh_distance(sample_surface(a.vertices, a.faces, points, rng), b.vertices, b.faces)
    b_to_a = point_to_mesh_distance(sample_surface(b.vertices, b.faces, points, rng), a.vertices, a.faces)
    return float(0.5 * (a_to_b.mean() + b_to_a.mean()))


# ---------------------------------------------------------------- methods and the loop

class Method(NamedTuple):
    """One row of the table: ``inverter.invert(..., refine=refine)``."""

    name: str
    inverter: TriPlaneNet
    refine: bool


def methods_for(checkpoint: str) -> list[Method]:
    """The methods a checkpoint offers: ``w+`` (no tri-plane branch) and its own version; the bundled v2
    (``'bundled'``) adds the bundled v1, which shares its generator and pSp encoder."""
    if checkpoint in ("bundled", "bundled-v2"):
        versions = load_versions()
        return [Method("w+", versions[2], False), Method("v1", versions[1], True), Method("v2", versions[2], True)]
    inverter = load_inverter(checkpoint)
    return [Method("w+", inverter, False), Method(f"v{inverter.version}", inverter, True)]


def _timed_inversion(method: Method, image: torch.Tensor, camera: torch.Tensor) -> tuple[Scene, float]:
    """The inverted head's :class:`Scene` and the seconds ``invert`` took."""
    start = time.perf_counter()
    inversion = method.inverter.invert(image, camera, refine=method.refine)
    return Scene.from_inversion(inversion), time.perf_counter() - start


def _warm_up(methods: Sequence[Method], image: torch.Tensor, camera: torch.Tensor) -> None:
    """One untimed inversion per method, so that first-call costs stay out of the timings."""
    for method in methods:
        method.inverter.invert(image, camera, refine=method.refine)


def image_metrics(prediction: torch.Tensor, target: torch.Tensor, lpips: LPIPS | None) -> Row:
    """Same-view ``psnr``, ``ssim`` and ``lpips`` (``None`` without weights) of one image pair [1,3,R,R]."""
    with torch.no_grad():
        distance = float(lpips(prediction.clamp(-1, 1), target)[0]) if lpips is not None else None
    return {"psnr": float(psnr(prediction, target)[0]), "ssim": float(ssim(prediction, target)[0]),
            "lpips": distance}


def evaluate_head(method: Method, truth: GroundTruth, truth_mesh: Mesh, lpips: LPIPS | None,
                  mesh_resolution: int, mesh_level: float, chamfer_points: int) -> Row:
    """Every metric of one method on one held-out head (see the module doc)."""
    scene, seconds = _timed_inversion(method, truth.image[:1], truth.cameras[:1])
    out = scene.render(truth.cameras)
    row: Row = {"seed": truth.seed, **image_metrics(out["image"][:1], truth.image[:1], lpips)}
    novel = psnr(out["image"][1:], truth.image[1:])
    row.update({key: float(value) for key, value in zip(NOVEL_KEYS, novel)})
    row["depth_mae"], row["depth_coverage"] = depth_error(out["image_depth"][:1], out["image_opacity"][:1],
                                                          truth.depth[:1], truth.mask[:1])
    mesh = extract_mesh(scene.field, mesh_resolution, scene.box, level=mesh_level, colors=False)
    row["chamfer_percent"] = (100 * chamfer_distance(mesh, truth_mesh, chamfer_points) / scene.box
                              if len(mesh.faces) and len(truth_mesh.faces) else None)
    row["seconds"] = seconds
    return row


@dataclass
class Report:
    """Per-head metric rows of every method, with what was evaluated and how."""

    checkpoint: str
    data: dict[str, Any]
    settings: dict[str, Any]
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def means(self) -> dict[str, dict[str, float | None]]:
        """Per method, each metric's mean over the heads where it was measured (``None``: nowhere)."""
        return {name: {key: _mean([row.get(key) for row in rows]) for key in METRICS}
                for name, rows in self.rows.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: checkpoint, data (seeds or photos), settings, units, and per method the means and
        the per-head rows. ``null`` marks a metric not measured (or not finite, e.g. the PSNR of a perfect match)."""
        means = self.means()
        methods = {name: {"mean": means[name], "heads": rows} for name, rows in self.rows.items()}
        return _finite({"checkpoint": self.checkpoint, "data": self.data, "settings": self.settings,
                        "units": UNITS, "methods": methods})

    def table(self) -> str:
        """The means as one text table (methods as rows; ``n/a`` where not measured) and notes."""
        means = self.means()
        headers = ["method", *METRICS.values()]
        body = [[name, *(_format(key, means[name][key]) for key in METRICS)] for name in self.rows]
        widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
                 for r in [headers, *body]]
        return "\n".join([self._title(), *lines, *self._notes()])

    def _title(self) -> str:
        if self.data["kind"] == "synthetic":
            seeds = self.data["seeds"]
            what = (f"{len(seeds)} held-out synthetic heads (evaluation seeds {seeds[0]}-{seeds[-1]}) at "
                    f"{self.data['resolution']} px, on black")
        else:
            count = len(self.data["files"])
            what = (f"{count} aligned photo{'' if count == 1 else 's'} from {self.data['folder']} at "
                    f"{self.data['resolution']} px")
        return f"checkpoint {self.checkpoint}: {what}"

    def _notes(self) -> list[str]:
        notes = ["PSNR in dB; depth MAE in world units; opaque: share of inside pixels the model covers; "
                 "Chamfer in % of the box side"]
        if self.settings.get("lpips") is None:
            notes.append("LPIPS n/a: weights not found (--lpips-weights alex.pth or its folder)")
        for name, rows in self.rows.items():
            missing = [row["seed"] for row in rows if "chamfer_percent" in row and row["chamfer_percent"] is None]
            if missing:
                notes.append(f"{name}: no surface at density {self.settings['mesh_level']:g} for {len(missing)} "
                             f"of {len(rows)} heads (seeds {', '.join(map(str, missing))}), left out of its "
                             "Chamfer mean")
        return notes


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (strict JSON), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _format(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key == "depth_coverage":
        return f"{100 * value:.1f}%"
    if key == "chamfer_percent":
        return f"{value:.2f}%"
    return FORMATS.get(key, "{:.2f}").format(value)


def evaluate_synthetic(methods: Sequence[Method], seeds: Sequence[int], checkpoint: str, *,
                       lpips: LPIPS | None = None, mesh_resolution: int = MESH_RESOLUTION,
                       mesh_level: float = LEVEL, chamfer_points: int = CHAMFER_POINTS,
                       progress: Callable[[str], None] | None = None) -> Report:
    """Evaluate ``methods`` (sharing one generator resolution) on held-out heads ``seeds``."""
    resolution = methods[0].inverter.decoder.img_resolution
    report = Report(checkpoint, {"kind": "synthetic", "seeds": list(seeds), "stream": EVALUATION_STREAM,
                                 "resolution": resolution, "background": BACKGROUND, "novel_yaws": list(NOVEL_YAWS)},
                    _settings(lpips, mesh_resolution, mesh_level, chamfer_points), {m.name: [] for m in methods})
    box = float(methods[0].inverter.decoder.rendering_kwargs["box_warp"])
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
                    lpips: LPIPS | None = None, progress: Callable[[str], None] | None = None) -> Report:
    """Same-view image metrics of ``methods`` on a folder of aligned photos (``triplanenet align --dataset``)."""
    folder = Path(folder)
    if not (folder / "dataset.json").is_file():
        raise ValueError(f"{folder} has no dataset.json (make one with: triplanenet align PHOTOS --dataset {folder})")
    resolution = methods[0].inverter.decoder.img_resolution
    photos = FolderDataset(folder, resolution)
    report = Report(checkpoint, {"kind": "photos", "folder": str(folder), "files": photos.files,
                                 "resolution": resolution},
                    _settings(lpips, None, None, None), {m.name: [] for m in methods})
    for i in range(len(photos)):
        image, camera = photos.image(i)[None], photos.cameras[i:i + 1]
        if i == 0:
            _warm_up(methods, image, camera)
        for method in methods:
            scene, seconds = _timed_inversion(method, image, camera)
            prediction = scene.render(camera)["image"]
            report.rows[method.name].append({"file": photos.files[i], **image_metrics(prediction, image, lpips),
                                             "seconds": seconds})
        if progress is not None:
            progress(f"photo {i + 1}/{len(photos)}: {photos.files[i]}")
    return report


def _settings(lpips: LPIPS | None, mesh_resolution: int | None, mesh_level: float | None,
              chamfer_points: int | None) -> dict[str, Any]:
    return {"lpips": lpips.net_name if lpips is not None else None, "mesh_resolution": mesh_resolution,
            "mesh_level": mesh_level, "chamfer_points": chamfer_points, "opacity_threshold": OPAQUE,
            "inside_threshold": INSIDE, "ssim": {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1,
                                                 "k2": SSIM_K2}}
