"""Mesh files re-read with trimesh, plotly figures within their face budget, depth maps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from triplanenet.outputs import depth, exports, meshes, surface
from triplanenet.outputs.geometry import LEVEL


@pytest.fixture(scope="module")
def mesh() -> meshes.Mesh:
    def field(points: torch.Tensor):
        scaled = (points / torch.tensor([0.15, 0.25, 0.2])).norm(dim=1, keepdim=True)
        return LEVEL + 50 * (1 - scaled), torch.cat([points + 0.5, 1 - (points[:, :1] + 0.5)], dim=1)
    return surface.extract_mesh(field, 64, coarse=16)


@pytest.mark.parametrize("suffix", [".ply", ".glb", ".obj"])
def test_mesh_files_round_trip(mesh, tmp_path, suffix):
    path = exports.save_mesh(mesh, tmp_path / f"head{suffix}")
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.vertices) == len(mesh.vertices)
    assert len(loaded.faces) == len(mesh.faces)
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    colors = np.asarray(loaded.visual.vertex_colors)[:, :3].astype(int)
    assert np.abs(colors - mesh.colors).max() <= 1
    again = exports.load_mesh(path)
    assert np.abs(again.colors.astype(int) - mesh.colors).max() <= 1


def test_ply_is_binary_and_format_is_checked(mesh, tmp_path):
    path = exports.save_mesh(mesh, tmp_path / "head.ply")
    assert b"format binary_little_endian" in path.read_bytes()[:200]
    with pytest.raises(ValueError):
        exports.save_mesh(mesh, tmp_path / "head.stl")


def test_glb_keeps_world_orientation(mesh, tmp_path):
    loaded = trimesh.load(exports.save_mesh(mesh, tmp_path / "head.glb"), force="mesh", process=False)
    np.testing.assert_allclose(loaded.bounds, [mesh.vertices.min(0), mesh.vertices.max(0)], atol=1e-5)
    assert loaded.volume > 0


def test_decimate_meets_the_budget_and_keeps_shape(mesh):
    budget = len(mesh.faces) // 10
    small = exports.decimate(mesh, budget)
    assert 0.3 * budget < len(small.faces) <= budget
    assert small.faces.max() < len(small.vertices) and small.colors.dtype == np.uint8
    np.testing.assert_allclose(small.vertices.min(0), mesh.vertices.min(0), atol=0.03)
    np.testing.assert_allclose(small.vertices.max(0), mesh.vertices.max(0), atol=0.03)
    assert exports.decimate(mesh, len(mesh.faces)) is mesh
    assert len(exports.decimate(mesh, 0).faces) == 0


def test_mesh_figure_under_face_budget(mesh):
    figure = exports.mesh_figure(mesh, max_faces=2_000, title="head")
    trace = figure.data[0]
    assert trace.type == "mesh3d"
    assert 0 < len(trace.i) <= 2_000
    assert len(trace.vertexcolor) == len(trace.x)
    assert figure.layout.scene.camera.up.y == 1


def _depth_and_opacity(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A hemisphere-like depth on a disk of hits; misses clamped to the far bound 3.3."""
    v, u = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    r2 = u ** 2 + v ** 2
    hit = r2 < 0.7
    values = np.where(hit, 2.4 + 0.3 * r2, 3.3).astype(np.float32)
    return values, hit.astype(np.float32)


def test_depth_npy_is_raw(tmp_path):
    values, _ = _depth_and_opacity()
    path = depth.save_depth(tmp_path / "depth.npy", torch.from_numpy(values)[None, None])
    np.testing.assert_array_equal(np.load(path), values)


def test_colorized_depth_is_masked_with_a_range():
    values, opacity = _depth_and_opacity()
    rgb, (near, far) = depth.colorize_depth(values, opacity)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    hit = opacity > 0.5
    assert (rgb[~hit] == 255).all()
    assert near == pytest.approx(values[hit].min()) and far == pytest.approx(values[hit].max())
    centre, rim = rgb[16, 16].astype(int).sum(), rgb[16, 4].astype(int).sum()
    assert centre > rim  # near is lighter


def test_depth_image_has_a_legend(tmp_path):
    values, opacity = _depth_and_opacity()
    path = depth.save_depth_image(tmp_path / "depth.png", values, opacity)
    image = Image.open(path)
    assert image.height == 256 and image.width > 256  # enlarged to 256 rows, colour bar beside it
    pixels = np.asarray(image)
    legend = pixels[:, 256:]
    assert (legend != 255).any(axis=2).sum() > 200  # bar and text drawn
