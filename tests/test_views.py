"""Views, normals, meshes of a real (tiny) generator, and the inversion sub-commands."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from conftest import ROOT
from test_inversion import small_model
import triplanenet
from triplanenet import cameras
from triplanenet.outputs import geometry, surface
from triplanenet.rendering import ray_bundle
from triplanenet.inversion import Inversion
from triplanenet.outputs.views import depth_normals, render_views, yaw_sweep


@pytest.fixture(scope="module")
def tiny(parity_dir):
    G = triplanenet.load_generator(parity_dir / "eg3d_tiny_snapshot.pkl")
    G.neural_rendering_resolution = 32
    return G


@pytest.fixture(scope="module")
def scene(tiny):
    with torch.no_grad():
        ws = tiny.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(3)), cameras.camera(),
                          truncation_psi=0.7)
        planes = tiny.planes(ws)
        return Inversion(ws, planes, planes, cameras.camera(), generator=tiny)


@pytest.mark.slow
def test_batched_views_equal_one_by_one(scene):
    c = yaw_sweep(3, 0.5)
    batched = render_views(scene, c, batch_size=3)
    single = [render_views(scene, c[i:i + 1])[0] for i in range(3)]
    for a, b in zip(batched, single):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
        np.testing.assert_allclose(a.depth, b.depth, atol=1e-5)
    assert batched[0].image.shape == (128, 128, 3) and batched[0].depth.shape == (32, 32)
    assert not np.array_equal(batched[0].image, batched[2].image)


def test_sweep():
    yaws, pitches = cameras.yaw_pitch(yaw_sweep(3, 0.3, 0.1))
    assert torch.allclose(yaws, torch.tensor([-0.3, 0.0, 0.3]), atol=1e-5)
    assert torch.allclose(pitches, torch.tensor([0.1] * 3), atol=1e-5)
    assert torch.allclose(cameras.yaw_pitch(yaw_sweep(5, 0.4))[0], torch.linspace(-0.4, 0.4, 5), atol=1e-5)


@pytest.mark.parametrize("yaw", [0.0, 0.4])
def test_depth_normals_of_a_known_plane(yaw):
    """Depth of the plane z = 0 seen from an orbit camera gives the normal +z everywhere."""
    c = cameras.camera(yaw, 0.1)
    origins, directions = ray_bundle(*cameras.split(c), 16)
    depth = (-origins[..., 2] / directions[..., 2]).reshape(16, 16)
    normals = depth_normals(depth, c[0])
    assert torch.allclose(normals, torch.tensor([0.0, 0.0, 1.0]).expand(16, 16, 3), atol=1e-4)


def test_view_normals_are_unit_where_opaque_and_face_the_camera(scene):
    view = render_views(scene, cameras.camera(0.2, 0.0), normals=True)[0]
    hit = view.opacity > 0.5
    lengths = np.linalg.norm(view.normals, axis=-1)
    assert np.allclose(lengths[hit], 1, atol=1e-4) and np.all(lengths[~hit] == 0)
    _, directions = ray_bundle(*cameras.split(view.camera[None]), 32)
    assert np.all((view.normals * directions.reshape(32, 32, 3).numpy()).sum(-1)[hit] <= 1e-6)


@pytest.fixture(scope="module")
def smooth_scene(scene):
    """The tiny generator with low-pass planes: recipe weights make a speckled foam no trained
    model has; smoothing gives head-like smooth density through the real sampler and decoder."""
    planes = scene.planes.reshape(3, 32, 256, 256)
    planes = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(planes, 16), size=256,
                                             mode="bilinear", align_corners=False)
    planes = planes.reshape(1, 3, 32, 256, 256)
    return Inversion(scene.ws, planes, planes, scene.camera, generator=scene.generator)


@pytest.fixture(scope="module")
def dense_96(smooth_scene):
    dense = geometry.dense_grid(smooth_scene.field, 96, smooth_scene.box)
    return dense, dense.values[dense.values > geometry.TRIM_VALUE]


def vertex_set(vertices: np.ndarray) -> set:
    return {tuple(v) for v in np.round(vertices, 4)}


def test_coarse_to_fine_equals_dense_on_a_generator(smooth_scene, dense_96):
    dense, values = dense_96
    level = float(np.quantile(values, 0.8))
    sparse = geometry.sparse_grid(smooth_scene.field, 96, smooth_scene.box, level=level, coarse=48)
    dense_v, dense_f = surface.marching_cubes(dense, level)
    sparse_v, sparse_f = surface.marching_cubes(sparse, level)
    assert len(dense_f) > 10_000
    np.testing.assert_array_equal(sparse_f, dense_f)
    assert np.abs(sparse_v - dense_v).max() <= 1e-3 * dense.voxel_size
    assert sparse.queries < 0.6 * dense.queries


@pytest.mark.parametrize("quantile", [0.5, 0.8, 0.95])
@pytest.mark.slow
def test_coarse_to_fine_misses_at_most_specks(smooth_scene, dense_96, quantile):
    """At a coarser start, what is found is exactly the dense surface; only specks smaller than
    the coarse step can be missed (measured here: at most 1.0% of the faces)."""
    dense, values = dense_96
    level = float(np.quantile(values, quantile))
    sparse = geometry.sparse_grid(smooth_scene.field, 96, smooth_scene.box, level=level, coarse=24)
    dense_v, dense_f = surface.marching_cubes(dense, level)
    sparse_v, sparse_f = surface.marching_cubes(sparse, level)
    assert vertex_set(sparse_v) <= vertex_set(dense_v)
    assert len(sparse_f) >= 0.985 * len(dense_f)


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    """A small TriPlaneNet v2 on the tiny generator, saved in our format, and one saved inversion."""
    folder = tmp_path_factory.mktemp("cli")
    model = small_model("v2_up", tiny)
    model.save_pretrained(folder / "inverter")
    face = np.asarray(Image.fromarray(np.full((128, 128, 3), 180, np.uint8)))
    triplanenet.invert(model, face, cameras.camera()).save(folder / "face.safetensors")
    return folder


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triplanenet.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.subprocess
def test_cli_views(saved):
    out = saved / "views"
    result = cli("views", str(saved / "face.safetensors"), "--checkpoint", str(saved / "inverter"),
                 "--out", str(out), "--count", "3", "--normals")
    assert result.returncode == 0, result.stderr
    assert Image.open(out / "gallery.png").size == (3 * 128, 128)
    assert np.load(out / "depth_01.npy").shape == (32, 32)
    assert Image.open(out / "normals_02.png").size == (32, 32)


@pytest.mark.subprocess
def test_cli_mesh_in_three_formats(saved):
    paths = [saved / f"head.{ext}" for ext in ("glb", "ply", "obj")]
    probe = cli("mesh", str(saved / "face.safetensors"), "--checkpoint", str(saved / "inverter"),
                "--out", str(paths[0]), "--resolution", "64", "--level", "10")
    assert probe.returncode == 2 and "no surface" in probe.stderr and "Traceback" not in probe.stderr
    fallback = cli("mesh", str(saved / "face.safetensors"), "--checkpoint", str(saved / "inverter"),
                   "--out", str(paths[0]), "--resolution", "64")
    assert fallback.returncode == 0 and "densest 10%" in fallback.stdout, fallback.stderr
    result = cli("mesh", str(saved / "face.safetensors"), "--checkpoint", str(saved / "inverter"),
                 "--out", *map(str, paths), "--resolution", "64", "--level", "0")
    assert result.returncode == 0, result.stderr
    counts = {len(trimesh.load(p, force="mesh").vertices) for p in paths}
    assert len(counts) == 1 and counts.pop() > 100


@pytest.mark.subprocess
def test_cli_video(saved):
    import imageio.v3 as iio

    out = saved / "turntable.mp4"
    result = cli("video", str(saved / "face.safetensors"), "--checkpoint", str(saved / "inverter"),
                 "--out", str(out), "--frames", "6", "--neural-rendering-resolution", "16")
    assert result.returncode == 0, result.stderr
    assert iio.imread(out).shape[0] == 6


@pytest.mark.subprocess
def test_cli_invert_a_real_photo(saved, tmp_path):
    from skimage import data

    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    out = tmp_path / "result"
    result = cli("invert", str(photo), "--checkpoint", str(saved / "inverter"), "--out", str(out),
                 "--views", "2", "--mesh-resolution", "64")
    assert result.returncode == 0, result.stderr
    assert Image.open(out / "crop.png").size == (512, 512)
    assert len(json.loads((out / "alignment.json").read_text())["camera"]) == 25
    assert Image.open(out / "input_vs_reconstruction.png").size == (256, 128)
    assert (out / "views" / "gallery.png").exists()
    again = triplanenet.Inversion.load(out / "inversion.safetensors")
    assert again.ws.shape == (1, 14, 512)


@pytest.mark.subprocess
def test_cli_invert_without_a_face(saved, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), "white").save(blank)
    result = cli("invert", str(blank), "--checkpoint", str(saved / "inverter"), "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "face" in result.stderr.lower() and "Traceback" not in result.stderr
