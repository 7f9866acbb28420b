"""CPU timings of coloured marching-cubes meshes on a field that costs like EG3D's.

The field is built exactly like the real one per point: bilinear ``grid_sample`` on
three [32,256,256] planes (zeros padding, ``align_corners=False``; planes (x,y),
(x,z), (z,x) as EG3D projects), mean over planes, then an MLP 32 -> 64 (softplus)
-> 33 (sigma, 32 sigmoid features). The random planes are shaped so the decoded
density is a bumpy head-sized blob with a nose at +z, so the surface, and with it
the coarse-to-fine work, is representative. Prints a table of medians (after one
warm-up) of ``geometry.extract_mesh`` end to end (grid, marching cubes, colours):

    python benchmarks/bench_geometry.py [--runs 3] [--threads 2] [--dense-runs 1]

"official" is EG3D's ``gen_samples.py --shapes`` query count (every grid point).
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

from timing import median_seconds
from triplanenet.outputs import geometry

PLANE_AXES = ((0, 1), (0, 2), (2, 0))
HEAD_RADII = (0.24, 0.32, 0.28)  # world x, y, z half-extents of the blob (box 1)


class TriPlaneField:
    """EG3D-style tri-plane field: ``points [N,3] -> (sigma [N,1], rgb [N,32])`` in world units.

    ``planes`` [3,C,H,W] in EG3D's plane order, decoder weights ``w1`` [64,C], ``b1`` [64],
    ``w2`` [1+32,64], ``b2`` [1+32]; the cube is ``[-box/2, box/2]^3``.
    """

    def __init__(self, planes: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                 b2: torch.Tensor, box: float = 1.0):
        self.planes, self.w1, self.b1, self.w2, self.b2, self.box = planes, w1, b1, w2, b2, box

    def __call__(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scaled = (2 / self.box) * points
        grid = torch.stack([scaled[:, list(axes)] for axes in PLANE_AXES])[:, None]
        features = F.grid_sample(self.planes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = features[:, :, 0].permute(0, 2, 1).mean(0)
        x = F.softplus(F.linear(x, self.w1, self.b1))
        x = F.linear(x, self.w2, self.b2)
        return x[:, :1], torch.sigmoid(x[:, 1:]) * (1 + 2 * 0.001) - 0.001


def _smooth_noise(generator: torch.Generator, shape: tuple[int, ...], cells: int, size: int) -> torch.Tensor:
    """Random noise [*shape, size, size] varying over about ``cells`` cells per side."""
    coarse = torch.randn(*shape, cells, cells, generator=generator)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)


def make_head_field(plane_resolution: int = 256, channels: int = 32, seed: int = 0,
                    box: float = 1.0, speckle: float = 0.0) -> TriPlaneField:
    """A :class:`TriPlaneField` whose surface ``sigma = 10`` is a bumpy head-sized blob.

    Channel 0 of the planes carries ``1 - sum((x_i / r_i)^2)`` split over the planes
    (so its mean over planes is an ellipsoid profile), a nose bump at +z and
    multi-scale noise; the other channels are noise. The decoder turns channel 0
    into density (about +75 inside, -20 outside) and the rest into colour.
    ``speckle`` adds that much fine noise to channel 0 (0.15 makes specks of density
    a voxel or two off the surface at 128^3, like a noisy generator).
    """
    gen = torch.Generator().manual_seed(seed)
    n = plane_resolution
    coords = (torch.arange(n) + 0.5) / n * 2 - 1  # grid_sample's pixel centres
    v, u = torch.meshgrid(coords, coords, indexing="ij")  # v: rows (second axis), u: columns (first)
    radii = [2 * r / box for r in HEAD_RADII]
    uses = [sum(axis in pair for pair in PLANE_AXES) for axis in range(3)]
    weight = [3 / (uses[axis] * radii[axis] ** 2) for axis in range(3)]
    nose = {0: (0.0, 0.0), 1: (0.0, radii[2]), 2: (radii[2], 0.0)}
    planes = torch.zeros(3, channels, n, n)
    for index, (a, b) in enumerate(PLANE_AXES):
        profile = 1 - weight[a] * u ** 2 - weight[b] * (v - (0.06 if b == 1 else 0.0)) ** 2
        du, dv = u - nose[index][0], v - nose[index][1]
        profile += 0.5 * torch.exp(-(du ** 2 + dv ** 2) / 0.004)
        planes[index, 0] = profile
    planes[:, :1] += 0.06 * _smooth_noise(gen, (3, 1), 24, n) + 0.03 * _smooth_noise(gen, (3, 1), 96, n)
    planes[:, :1] += speckle * _smooth_noise(gen, (3, 1), 48, n)
    planes[:, 1:] = _smooth_noise(gen, (3, channels - 1), 32, n)
    hidden = 64
    w1 = torch.randn(hidden, channels, generator=gen) / channels ** 0.5
    w1[0] = 0.0
    w1[0, 0] = 8.0
    b1 = torch.zeros(hidden)
    w2 = torch.randn(1 + 32, hidden, generator=gen) / hidden ** 0.5
    w2[0] = 0.05 * w2[0]
    w2[0, 0] = 12.0
    b2 = torch.zeros(1 + 32)
    b2[0] = -20.0
    b2[1:4] = torch.tensor([0.8, 0.1, -0.3])
    return TriPlaneField(planes, w1, b1, w2, b2, box)


CONFIGS = (
    ("coarse-to-fine (default: search=2)", dict(method="sparse")),
    ("coarse-to-fine, search=0", dict(method="sparse", search=0)),
    ("dense (trimmed border not queried)", dict(method="dense")),
)


def grid_queries(field: TriPlaneField, resolution: int, options: dict) -> int:
    """Field queries the grid of ``extract_mesh(field, resolution, **options)`` makes."""
    if options["method"] == "dense":
        return (resolution - 2 * geometry.trim_width(resolution)) ** 3
    return geometry.sparse_grid(field, resolution, search=options.get("search", 2)).queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dense-runs", type=int, default=1, help="timed dense runs (no warm-up; 0 skips)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    field = make_head_field()
    print(f"torch threads {torch.get_num_threads()}, 1-minute load average {os.getloadavg()[0]:.2f}")
    print("| resolution | method | seconds | field queries (grid + colours) | official queries | vertices | faces |")
    print("|---|---|---|---|---|---|---|")
    for resolution in args.resolutions:
        for name, options in CONFIGS:
            dense = options["method"] == "dense"
            runs = args.dense_runs if dense else args.runs
            if runs <= 0:
                continue
            meshes = []
            seconds = median_seconds(lambda: meshes.append(geometry.extract_mesh(field, resolution, **options)),
                                     runs, warm_up=not dense)
            mesh = meshes[-1]
            queries = grid_queries(field, resolution, options) + len(mesh.vertices)
            print(f"| {resolution}^3 | {name} | {seconds:.2f} | {queries:,} | {resolution ** 3:,} "
                  f"| {len(mesh.vertices):,} | {len(mesh.faces):,} |", flush=True)


if __name__ == "__main__":
    main()
