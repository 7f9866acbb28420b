"""Evaluation: metrics against references and known values, held-out seeds, and ``triplanenet evaluate``."""
from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT
from triplanenet.cli import main as cli_main
from triplanenet.evaluation import (EVALUATION_STREAM, METRICS, Report, chamfer_distance, depth_error,
                                    evaluation_head, methods_for, parse_seeds, point_triangle_distance, psnr, ssim,
                                    surface_mesh)
from triplanenet.outputs.geometry import trim_width
from triplanenet.loading import bundled, load_inverter
from triplanenet.outputs.meshes import Mesh
from triplanenet.evaluation.protocol import TRUE_PARAMS, checkpoint_folder
from triplanenet.synthetic import SIZE, render, sdf
from triplanenet.synthetic.codes import NORMALIZATION_NAME, HeadCodes
from triplanenet.synthetic.dataset import item_seed


def to_signed(image: np.ndarray) -> torch.Tensor:
    """HxWx3 floats in [0, 1] -> [1,3,H,W] in [-1, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1)[None] * 2 - 1


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
@pytest.mark.slow
def test_ssim_matches_scikit_image_on_real_images(name):
    from skimage import data
    from skimage.metrics import structural_similarity

    photo = getattr(data, name)()
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    for distorted in (jpeg(photo, 15), noisy):
        x, y = photo / 255.0, distorted / 255.0
        reference = structural_similarity(x, y, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)
        ours = float(ssim(to_signed(x), to_signed(y))[0])
        assert 0.2 < reference < 0.99
        assert ours == pytest.approx(reference, abs=1e-7)
    assert float(ssim(to_signed(x), to_signed(x))[0]) == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_identical_images_and_of_a_known_difference():
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.isinf(psnr(image, image)).all()
    grey = torch.zeros(1, 3, 8, 8)
    assert float(psnr(grey + 0.2, grey)[0]) == pytest.approx(20.0, abs=1e-5)  # 0.1 in [0, 1]: MSE 0.01


def plane_mesh(n: int = 40, size: float = 0.5, z: float = 0.0) -> Mesh:
    """A flat square of side ``size`` at height ``z``, triangulated on an ``n`` x ``n`` lattice."""
    u = np.linspace(-size / 2, size / 2, n)
    x, y = np.meshgrid(u, u, indexing="ij")
    vertices = np.stack([x.ravel(), y.ravel(), np.full(n * n, z)], axis=1).astype(np.float32)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    faces = np.concatenate([np.stack([a, a + n, a + 1], 1), np.stack([a + 1, a + n, a + n + 1], 1)])
    return Mesh(vertices, faces.astype(np.int64), np.zeros_like(vertices, np.uint8), np.zeros_like(vertices))


def test_point_triangle_distance_in_every_region():
    triangle = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    points = np.array([[0.2, 0.2, 0.5], [0.5, -1.0, 0.0], [-3.0, -4.0, 0.0], [1.0, 1.0, 0.0], [0.1, 0.1, 0.0]])
    expected = [0.5, 1.0, 5.0, math.sqrt(0.5), 0.0]
    assert point_triangle_distance(points, np.broadcast_to(triangle, (5, 3, 3))) == pytest.approx(expected)


@pytest.fixture(scope="module")
def head_mesh() -> Mesh:
    params, _ = evaluation_head(0)
    return surface_mesh(params, 64, 1.0)


def test_ground_truth_mesh_lies_on_the_sdf_zero_level(head_mesh):
    params, _ = evaluation_head(0)
    voxel = 1.0 / 63
    distance = sdf(torch.from_numpy(head_mesh.vertices)[None], params)[0].abs().numpy()
    off_the_caps = np.abs(head_mesh.vertices).max(axis=1) < 0.5 - trim_width(64) * voxel  # caps close the trim
    assert len(head_mesh.faces) > 1000 and off_the_caps.mean() > 0.8
    assert distance[off_the_caps].max() < voxel / 2


def test_chamfer_of_a_mesh_with_itself_is_zero(head_mesh):
    assert chamfer_distance(head_mesh, head_mesh, points=5000) < 1e-6


@pytest.mark.parametrize("shift", [0.004, 0.03])
def test_chamfer_of_a_shifted_plane_is_the_shift(shift):
    assert chamfer_distance(plane_mesh(), plane_mesh(z=shift), points=5000) == pytest.approx(shift, rel=1e-6)


def test_depth_error_counts_opaque_pixels_inside_the_head():
    true_mask = torch.zeros(1, 1, 8, 8)
    true_mask[..., 2:6, 2:6] = 1
    true_depth = torch.full((1, 1, 8, 8), 2.6)
    opacity = torch.zeros(1, 1, 4, 4)
    opacity[..., 1, 1:3] = 1  # two of the four fully inside pixels at r = 4
    mae, coverage = depth_error(true_depth[..., ::2, ::2] + 0.05, opacity, true_depth, true_mask)
    assert mae == pytest.approx(0.05) and coverage == 0.5
    assert depth_error(true_depth[..., ::2, ::2], opacity * 0, true_depth, true_mask) == (None, 0.0)


def item_seeds(stream: int, count: int) -> np.ndarray:
    """``item_seed(stream, i)`` for ``i < count``, vectorised (uint64 arithmetic wraps like the mask)."""
    z = (np.uint64(stream & 0xFFFFFFFF) << np.uint64(32)) | np.arange(count, dtype=np.uint64)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & np.uint64(0xFFFFFFFF)


def test_held_out_heads_never_share_a_generator_seed_with_training():
    assert [int(s) for s in item_seeds(5, 3)] == [item_seed(5, i) for i in range(3)]
    held_out = item_seeds(EVALUATION_STREAM, 10_000)
    training = np.concatenate([item_seeds(stream, 100_000) for stream in range(8)])
    assert not np.isin(held_out, training).any()
    params, camera = evaluation_head(3)
    again, camera_again = evaluation_head(3)
    assert torch.equal(params.to_tensor(), again.to_tensor()) and torch.equal(camera, camera_again)


def test_parse_seeds():
    assert parse_seeds("0-9") == range(10) and parse_seeds("7") == range(7, 8)
    for bad in ("", "a-b", "5-2", "-3", "1-2-3", "1.5-3", f"0-{2 ** 32}"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


def test_report_means_skip_unmeasured_heads_and_json_is_strict():
    heads = [{"seed": 4, **dict.fromkeys(METRICS, 1.0), "psnr": math.inf, "chamfer_percent": None},
             {"seed": 5, **dict.fromkeys(METRICS, 3.0), "lpips": None}]
    report = Report("ckpt", {"kind": "synthetic", "seeds": [4, 5], "resolution": 64},
                    {"lpips": None, "mesh_level": 10.0}, {"v2": heads})
    means = report.means()["v2"]
    assert means["chamfer_percent"] == 3.0 and means["lpips"] == 1.0 and means["ssim"] == 2.0
    assert "no surface at density 10 for 1 of 2 heads (seeds 4)" in report.table()
    strict = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert strict["methods"]["v2"]["heads"][0]["psnr"] is None and strict["methods"]["v2"]["mean"]["psnr"] is None


needs_bundled = pytest.mark.skipif(not bundled.available(), reason="assets/bundled is missing")


@needs_bundled
@pytest.mark.slow
def test_evaluate_two_held_out_heads_end_to_end(tmp_path, capsys):
    out = tmp_path / "eval.json"
    # A level below any density meshes the trimmed box itself: a surface whatever the weights, so Chamfer runs.
    code = cli_main(["evaluate", "--checkpoint", "bundled", "--seeds", "0-1", "--json", str(out),
                     "--mesh-resolution", "48", "--mesh-level", "-100", "--chamfer-points", "500",
                     "--lpips-weights", str(tmp_path / "none"), "--true-params"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = printed.out.splitlines()
    assert lines[1].split()[:3] == ["method", "PSNR", "SSIM"]
    assert [line.split()[0] for line in lines[2:6]] == [TRUE_PARAMS, "w+", "v1", "v2"]
    assert all(line.split()[3] == "n/a" for line in lines[2:6])  # LPIPS without weights
    report = json.loads(out.read_text())
    assert report["checkpoint"] == "bundled" and report["data"]["seeds"] == [0, 1]
    assert report["data"]["stream"] == EVALUATION_STREAM and report["settings"]["lpips"] is None
    assert list(report["methods"]) == [TRUE_PARAMS, "w+", "v1", "v2"]
    for method in report["methods"].values():
        assert set(method["mean"]) == set(METRICS)
        assert [head["seed"] for head in method["heads"]] == [0, 1]
        for head in method["heads"]:
            values = {k: v for k, v in head.items() if k != "seed"}
            assert set(values) == set(METRICS) and head["lpips"] is None
            assert all(v is None or math.isfinite(v) for v in values.values())
            assert head["psnr"] > 0 and -1 <= head["ssim"] <= 1 and head["psnr_yaw+0.5"] > 0
            assert 0 <= head["depth_coverage"] <= 1 and head["seconds"] > 0
            assert head["depth_mae"] is None or head["depth_mae"] >= 0
            assert 0 < head["chamfer_percent"] < 100


@needs_bundled
def test_other_checkpoints_offer_their_own_version_and_w_plus(tmp_path):
    load_inverter("bundled-v1").save_pretrained(tmp_path / "v1")
    methods = methods_for(str(tmp_path / "v1"))
    assert [(m.name, m.pipeline.models.inverter(m.mode)[1]) for m in methods] == [("w+", False), ("v1", True)]
    assert [m.name for m in methods_for("bundled")] == ["w+", "v1", "v2"]


@needs_bundled
def test_the_true_params_row_renders_the_head_itself_not_the_photo():
    """It reads the held-out head's parameters through head_params.json, and ignores the image."""
    true_head = methods_for("bundled", true_params=True)[0]
    assert true_head.name == TRUE_PARAMS
    heads = [evaluation_head(seed) for seed in (0, 1)]
    blank = torch.zeros(1, 3, 128, 128)
    first, second = (true_head.invert(blank, camera, params.to_tensor()) for params, camera in heads)
    assert not torch.allclose(first.planes, second.planes)
    again = true_head.invert(blank + 1, heads[0][1], heads[0][0].to_tensor())
    assert torch.equal(first.planes, again.planes) and first.method == TRUE_PARAMS
    with pytest.raises(ValueError, match="held-out synthetic heads"):
        true_head.invert(blank, heads[0][1])


def test_true_params_need_a_generator_trained_on_synthetic_heads(tmp_path, capsys):
    with pytest.raises(ValueError, match="no head_params.json"):
        HeadCodes.read(tmp_path)
    (tmp_path / NORMALIZATION_NAME).write_text(json.dumps({"mean": [0.0] * SIZE, "std": [0.0] * SIZE}))
    with pytest.raises(ValueError, match="std > 0"):
        HeadCodes.read(tmp_path)
    (tmp_path / NORMALIZATION_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not a head normalisation"):
        HeadCodes.read(tmp_path)
    assert cli_main(["evaluate", "--photos", str(tmp_path), "--true-params"]) == 2
    assert "--true-params goes with --seeds" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is not a folder"):
        checkpoint_folder("owner/repo")


@needs_bundled
@pytest.mark.slow
def test_evaluate_aligned_photos_has_image_metrics_only(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    params, camera = evaluation_head(5)
    image = render(params, camera, 64)["image"][0]
    Image.fromarray(((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(folder / "head.png")
    (folder / "dataset.json").write_text(json.dumps({"labels": [["head.png", camera[0].tolist()]]}))
    out = tmp_path / "photos.json"
    assert cli_main(["evaluate", "--photos", str(folder), "--json", str(out),
                     "--lpips-weights", str(tmp_path / "none")]) == 0
    assert "1 aligned photo from" in capsys.readouterr().out
    heads = json.loads(out.read_text())["methods"]["v2"]["heads"]
    assert heads[0]["file"] == "head.png" and heads[0]["psnr"] > 0 and "chamfer_percent" not in heads[0]
    means = json.loads(out.read_text())["methods"]["v2"]["mean"]
    assert means["chamfer_percent"] is None and means["psnr_yaw+0.5"] is None


@pytest.mark.subprocess
def test_bad_seeds_are_a_usage_error_without_traceback():
    result = subprocess.run([sys.executable, "-m", "triplanenet.cli", "evaluate", "--seeds", "9-2"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert "argument --seeds" in result.stderr and "must not exceed" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["evaluate", "--seeds", "ten"])
    assert exit_info.value.code == 2
