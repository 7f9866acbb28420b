"""Evaluation metrics: images (PSNR, SSIM, LPIPS, and inside the face), depth, and mesh distance (Chamfer).

Images are [N,C,H,W] in [-1, 1], compared in [0, 1] after clamping (what saving them
as 8-bit would keep). The face region is the convex hull of the 68 landmarks: where
a person looks, and where a generator that shows empty space as black is not
penalised for the photo's background. Identity (is it the same person) is
:mod:`triplanenet.identity`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import ConvexHull, cKDTree
from skimage.draw import polygon2mask

from ..image_tensors import resize_images
from ..outputs.meshes import Mesh
from ..models.lpips import BACKBONE_FILES, LIN_FILES, LPIPS, find_weights, load_lpips

OPAQUE = 0.5
INSIDE = 0.999
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
CHAMFER_POINTS = 20_000


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


def ssim_map(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM [N,H-10,W-10] of images [N,C,H,W] in [-1, 1] (Wang et al. 2004), compared in [0, 1].

    Per channel, local statistics use an 11-tap Gaussian window (sigma 1.5),
    population (co)variances and ``C1 = 0.01^2``, ``C2 = 0.03^2`` (data range 1);
    the map holds the positions where the window lies fully inside the image,
    averaged over channels. Computed and returned in float64.
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
    return s.mean(dim=1)


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM [N] of images [N,C,H,W] in [-1, 1] over the whole :func:`ssim_map`."""
    return ssim_map(prediction, target).mean(dim=(1, 2))


def face_mask(landmarks: np.ndarray, size: int) -> torch.Tensor:
    """The face region [size,size] (bool): inside the convex hull of ``landmarks`` [68,2] (x, y pixels)."""
    hull = landmarks[ConvexHull(landmarks).vertices]
    return torch.from_numpy(polygon2mask((size, size), hull[:, ::-1]))


def face_psnr(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR (dB) of one image pair [1,3,H,W] in [-1, 1] over the pixels of ``mask`` [H,W]."""
    error = (to_unit(prediction) - to_unit(target)).double().pow(2)[0][:, mask]
    return float(-10 * torch.log10(error.mean()))


def face_ssim(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean SSIM of one image pair [1,3,H,W] over the window centres inside ``mask`` [H,W]."""
    border = SSIM_WINDOW // 2
    return float(ssim_map(prediction, target)[0][mask[border:-border, border:-border]].mean())


def load_metric_lpips(weights: str | Path | None = None, backbone: str | Path | None = None) -> LPIPS | None:
    """LPIPS-alex when both weight files are found (``weights``: ``alex.pth`` or its folder; ``backbone``:
    torchvision's AlexNet file or its folder, else the torch hub cache), else ``None``. Nothing is downloaded."""
    if find_weights(LIN_FILES["alex"], weights) is None:
        return None
    if find_weights(BACKBONE_FILES["alex"], backbone, hub_cache=True) is None:
        return None
    return load_lpips("alex", weights, backbone)


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
