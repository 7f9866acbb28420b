"""Meshes from density fields: analytic shapes of known size, world orientation, trimming,
coarse-to-fine == dense, cleanup, colours."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import trimesh
from scipy.sparse.csgraph import connected_components

from conftest import load_benchmark
from triplanenet.outputs import geometry, meshes, surface
from triplanenet.outputs.geometry import LEVEL, Field



def sphere_sigma(points: torch.Tensor, radius: float, center=(0.0, 0.0, 0.0), slope: float = 100.0) -> torch.Tensor:
    """A density [N,1] crossing LEVEL exactly on the sphere, decreasing outward."""
    distance = (points - torch.tensor(center)).norm(dim=1, keepdim=True)
    return LEVEL + slope * (radius - distance)


def position_colour(points: torch.Tensor) -> torch.Tensor:
    """rgb [N,4] = (x, y, z) + 0.5 and a spare channel (the field gives C >= 3 channels)."""
    return torch.cat([points + 0.5, torch.zeros(len(points), 1)], dim=1)


def sphere_field(radius: float = 0.3, center=(0.0, 0.0, 0.0)) -> Field:
    return lambda p: (sphere_sigma(p, radius, center), position_colour(p))


def head_like_field(radii=(0.15, 0.25, 0.2), nose: float = 0.05) -> Field:
    """An ellipsoid (radii along world x, y, z) with a spherical nose sticking out at +z."""
    def field(points: torch.Tensor):
        scaled = (points / torch.tensor(radii)).norm(dim=1, keepdim=True)
        body = LEVEL + 50 * (1 - scaled)
        tip = sphere_sigma(points, nose, center=(0.0, 0.0, radii[2]))
        return torch.maximum(body, tip), position_colour(points)
    return field


def several_components_field() -> Field:
    """Two spheres, a small blob and a thin slab: separate surface pieces of different sizes."""
    def field(points: torch.Tensor):
        sigma = torch.maximum(sphere_sigma(points, 0.18, (-0.12, 0.0, 0.0)),
                              sphere_sigma(points, 0.1, (0.2, 0.1, 0.05)))
        sigma = torch.maximum(sigma, sphere_sigma(points, 0.035, (0.0, -0.25, 0.2)))
        slab = LEVEL + 400 * (0.012 - (points[:, 1:2] - 0.28).abs()) - 400 * torch.relu(points[:, :1].abs() - 0.15)
        return torch.maximum(sigma, slab), position_colour(points)
    return field


def assert_same_surface(field: Field, resolution: int, box: float = 1.0, **sparse_options) -> geometry.DensityGrid:
    """Coarse-to-fine and dense grids give the same marching-cubes mesh (vertices within 1e-3 voxel).

    Reusable for any field, e.g. a generator: ``assert_same_surface(lambda p: ..., 128, box_warp)``.
    Returns the sparse grid so callers can check how many queries it saved.
    """
    dense = geometry.dense_grid(field, resolution, box)
    sparse = geometry.sparse_grid(field, resolution, box, **sparse_options)
    dense_vertices, dense_faces = surface.marching_cubes(dense)
    sparse_vertices, sparse_faces = surface.marching_cubes(sparse)
    assert len(dense_faces) > 0
    assert sparse_vertices.shape == dense_vertices.shape
    np.testing.assert_array_equal(sparse_faces, dense_faces)
    assert np.abs(sparse_vertices - dense_vertices).max() <= 1e-3 * dense.voxel_size
    assert sparse.queries <= dense.queries
    return sparse


def to_trimesh(mesh: meshes.Mesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_sphere_radius_watertight_outward_coloured(method):
    radius, resolution = 0.3, 64
    mesh = surface.extract_mesh(sphere_field(radius), resolution, method=method, coarse=16)
    voxel = 1.0 / (resolution - 1)
    distance = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(distance - radius).max() < voxel
    tm = to_trimesh(mesh)
    assert tm.is_watertight and tm.is_winding_consistent
    assert tm.volume > 0
    assert np.isclose(tm.volume, 4 / 3 * np.pi * radius ** 3, rtol=0.02)
    assert ((mesh.normals * mesh.vertices).sum(axis=1) > 0).all()
    face_normals = np.cross(*(mesh.vertices[mesh.faces[:, k]] - mesh.vertices[mesh.faces[:, 0]] for k in (1, 2)))
    assert ((face_normals * mesh.vertices[mesh.faces].mean(axis=1)).sum(axis=1) > 0).all()
    assert mesh.colors.dtype == np.uint8 and mesh.colors.shape == mesh.vertices.shape
    expected = np.round(np.clip(mesh.vertices + 0.5, 0, 1) * 255)
    assert np.abs(mesh.colors.astype(int) - expected).max() <= 1
    assert mesh.vertices.dtype == np.float32 and mesh.faces.dtype == np.int64


def test_world_orientation_of_an_asymmetric_shape():
    radii, nose = (0.15, 0.25, 0.2), 0.05
    mesh = surface.extract_mesh(head_like_field(radii, nose), 96, coarse=24)
    voxel = 1.0 / 95
    low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    np.testing.assert_allclose(high[:2], radii[:2], atol=voxel)
    np.testing.assert_allclose(-low, radii, atol=voxel)
    assert abs(high[2] - (radii[2] + nose)) < voxel  # the nose points to +z
    tip = mesh.vertices[np.argmax(mesh.vertices[:, 2])]
    assert np.abs(tip[:2]).max() < 2 * voxel
    # Colours follow world position: the top (+y) is greener than the bottom.
    assert mesh.colors[np.argmax(mesh.vertices[:, 1]), 1] > mesh.colors[np.argmin(mesh.vertices[:, 1]), 1]


def test_voxel_index_maps_to_world_axes():
    field = head_like_field()
    grid = geometry.dense_grid(field, 33, trim=False)
    index = np.array([[0, 16, 32], [32, 0, 16]])
    world = grid.to_world(index)
    np.testing.assert_allclose(world, [[-0.5, 0.0, 0.5], [0.5, -0.5, 0.0]], atol=1e-7)
    sigma, _ = field(torch.from_numpy(world))
    np.testing.assert_allclose(grid.values[tuple(index.T)], sigma[:, 0].numpy(), rtol=1e-6)


def test_trim_width_matches_eg3d():
    assert [geometry.trim_width(n) for n in (64, 128, 256, 512)] == [7, 15, 30, 60]


def test_border_trim_cuts_density_on_the_box_walls():
    def walls(points: torch.Tensor):
        sigma = sphere_sigma(points, 0.2)
        wall = LEVEL + 200 * (points.abs().max(dim=1, keepdim=True).values - 0.46)
        return torch.maximum(sigma, wall), position_colour(points)

    resolution = 64
    trimmed = surface.extract_mesh(walls, resolution, method="dense")
    assert np.abs(np.linalg.norm(trimmed.vertices, axis=1) - 0.2).max() < 1 / (resolution - 1)
    untrimmed = surface.extract_mesh(walls, resolution, method="dense", trim=False)
    assert np.abs(untrimmed.vertices).max() > 0.45
    sparse = surface.extract_mesh(walls, resolution, method="sparse", trim=False, coarse=16)
    np.testing.assert_array_equal(sparse.faces, untrimmed.faces)


def test_trim_closes_a_surface_cut_by_the_trim_planes():
    def column(points: torch.Tensor):  # an infinite vertical cylinder, like a neck leaving the box
        return LEVEL + 100 * (0.1 - points[:, [0, 2]].norm(dim=1, keepdim=True)), position_colour(points)

    mesh = surface.extract_mesh(column, 64, coarse=16)
    tm = to_trimesh(mesh)
    assert tm.is_watertight and tm.volume > 0
    pad = geometry.trim_width(64)  # the caps lie between the last trimmed and first kept points
    assert 0.5 - pad / 63 < np.abs(mesh.vertices[:, 1]).max() < 0.5 - (pad - 1) / 63


def test_marching_cubes_mask_convention():
    """Pins scikit-image's mask convention that DensityGrid.mask documents."""
    values = np.zeros((6, 6, 6), np.float32)
    values[3, 3, 3] = 20.0  # the 8 cells around point (3,3,3) hold the surface
    mask = np.zeros_like(values, bool)
    mask[3, 3, 3] = True  # enables the cell spanning points [2,3]^3 only
    vertices, faces = surface.marching_cubes(geometry.DensityGrid(values, 5.0, mask, 0), LEVEL)
    world_to_index = vertices + 2.5
    assert len(faces) == 1
    assert world_to_index.min() >= 2 - 1e-6 and world_to_index.max() <= 3 + 1e-6


def test_sparse_equals_dense_on_analytic_fields():
    sparse = assert_same_surface(several_components_field(), 128, coarse=32)
    assert sparse.queries < 0.25 * 128 ** 3
    assert_same_surface(head_like_field(), 97, coarse=24)
    assert_same_surface(sphere_field(0.3), 64, trim=False, coarse=16)
    assert_same_surface(sphere_field(0.05, (0.1, -0.1, 0.2)), 65, box=0.8, coarse=16)


@pytest.mark.slow
def test_sparse_equals_dense_on_a_triplane_field():
    field = load_benchmark("bench_geometry").make_head_field(plane_resolution=64, seed=1)
    sparse = assert_same_surface(field, 128, coarse=32)
    assert sparse.queries < 0.1 * 128 ** 3


@pytest.mark.slow
def test_search_finds_specks_off_the_surface():
    """A noisy field has specks of density next to the surface that the coarse lattice
    cannot see: without the search they are missing (and only they), with it the mesh is dense's."""
    field = load_benchmark("bench_geometry").make_head_field(plane_resolution=128, seed=0, speckle=0.15)
    dense_vertices, dense_faces = surface.marching_cubes(geometry.dense_grid(field, 96))
    bare_vertices, _ = surface.marching_cubes(geometry.sparse_grid(field, 96, coarse=24, search=0))
    dense_keys = {tuple(v) for v in np.round(dense_vertices, 5).tolist()}
    bare_keys = {tuple(v) for v in np.round(bare_vertices, 5).tolist()}
    assert bare_keys < dense_keys
    _, labels = connected_components(meshes.adjacency(dense_faces, len(dense_vertices)), directed=False)
    missing = np.array([tuple(v) not in bare_keys for v in np.round(dense_vertices, 5).tolist()])
    sizes = np.bincount(labels)
    assert (sizes[labels[missing]] < 40).all()  # whole specks, never part of the main surface
    assert not np.isin(labels[missing], labels[~missing]).any()
    assert_same_surface(field, 96, coarse=24, search=2)


def test_sparse_with_full_coarse_resolution_is_dense():
    field = several_components_field()
    assert geometry.coarsest_stride(64, 64) == 1
    assert geometry.coarsest_stride(256, 64) == 4
    assert geometry.coarsest_stride(512, 64) == 8
    assert_same_surface(field, 64, coarse=64)


def test_no_surface_gives_an_empty_mesh():
    empty = surface.extract_mesh(lambda p: (torch.zeros(len(p), 1), torch.zeros(len(p), 3)), 32)
    assert empty.vertices.shape == (0, 3) and empty.faces.shape == (0, 3)


def test_largest_component_keeps_the_biggest_piece():
    mesh = surface.extract_mesh(several_components_field(), 64, keep_largest=True, coarse=16)
    assert to_trimesh(mesh).is_watertight
    center = mesh.vertices.mean(axis=0)
    np.testing.assert_allclose(center, [-0.12, 0.0, 0.0], atol=0.01)
    assert np.abs(np.linalg.norm(mesh.vertices - center, axis=1) - 0.18).max() < 1 / 63
    vertices, faces = surface.marching_cubes(geometry.dense_grid(several_components_field(), 64))
    kept_vertices, kept_faces, kept = meshes.largest_component(vertices, faces)
    np.testing.assert_array_equal(kept_vertices, vertices[kept])
    np.testing.assert_array_equal(kept[kept_faces], faces[np.isin(faces[:, 0], kept)])


def test_taubin_smoothing_removes_noise_without_shrinking():
    vertices, faces = surface.marching_cubes(geometry.dense_grid(sphere_field(0.3), 64))
    noisy = vertices + np.random.default_rng(0).normal(0, 0.004, vertices.shape).astype(np.float32)
    smooth = meshes.taubin_smooth(noisy, faces, iterations=10)
    radius = np.linalg.norm(smooth, axis=1)
    assert radius.std() < 0.5 * np.linalg.norm(noisy, axis=1).std()
    assert abs(radius.mean() - 0.3) < 0.5 / 63
    assert to_trimesh(meshes.Mesh(smooth, faces, None, None)).volume > 0


def test_extract_mesh_with_cleanup_and_no_colours():
    mesh = surface.extract_mesh(several_components_field(), 64, keep_largest=True, smooth_iterations=5,
                                 colors=False, coarse=16)
    assert (mesh.colors == 255).all()
    assert np.isfinite(mesh.normals).all()
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError):
        surface.extract_mesh(several_components_field(), 32, method="fast")
