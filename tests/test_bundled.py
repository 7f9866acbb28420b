"""The bundled offline model in assets/: small enough to ship, loads as v1 and v2, inverts held-out heads well.

The quality floors are far below the measured model card (README) and far above
what the untrained architecture scores (about 6 dB), so they catch a broken or
missing asset without pinning the numbers of one training run.
"""
from __future__ import annotations

import pytest
import torch

import triplanenet
from triplanenet.cli import main as cli_main
from triplanenet.editing.directions import DIRECTIONS_NAME, Directions
from triplanenet.evaluation import ground_truth, psnr
from triplanenet.loading import bundled
from triplanenet import invert

ASSET_BUDGET_BYTES = 30 * 2**20
SAME_VIEW_PSNR_FLOOR = 15.0


def test_assets_fit_the_budget():
    files = [p for p in bundled.BUNDLED_DIR.iterdir() if p.is_file()]
    assert {"config.json", "model.safetensors", bundled.V1_ENCODER_NAME, "head_params.json"} <= {p.name for p in files}
    assert sum(p.stat().st_size for p in files) <= ASSET_BUDGET_BYTES


@pytest.mark.slow
def test_both_versions_share_generator_and_psp_encoder():
    v2, v1 = triplanenet.load_inverter("bundled"), triplanenet.load_inverter("bundled-v1")
    assert (v2.version, v1.version) == (2, 1)
    for key, value in v2.state_dict().items():
        if not key.startswith(bundled.ENCODER_PREFIX):
            assert torch.equal(value, v1.state_dict()[key]), key
    assert all(p.dtype == torch.float32 for p in v2.parameters())
    versions = bundled.load_versions()
    assert versions[1].decoder is versions[2].decoder and versions[1].psp_encoder is versions[2].psp_encoder


@pytest.mark.slow
def test_held_out_heads_invert_above_the_quality_floor():
    v2 = triplanenet.load_inverter("bundled")
    resolution = v2.decoder.img_resolution
    for seed in (0, 1):
        truth = ground_truth(seed, resolution)
        inversion = invert(v2, truth.image[:1], truth.cameras[:1])
        image, _ = inversion.render()
        assert psnr(image, truth.image[:1]).item() > SAME_VIEW_PSNR_FLOOR, seed


@pytest.mark.slow
def test_pack_bundled_rebuilds_the_assets_from_trained_runs(tmp_path):
    """``triplanenet pack-bundled`` (the last step of ``make bundled``) on the shipped v2 and v1 as saved runs."""
    versions = bundled.load_versions()
    runs = {version: versions[version].save_pretrained(tmp_path / f"v{version}") for version in (1, 2)}
    (tmp_path / "generator").mkdir()
    (tmp_path / "generator" / "head_params.json").write_bytes((bundled.BUNDLED_DIR / "head_params.json").read_bytes())
    out = tmp_path / "packed"
    assert cli_main(["pack-bundled", str(runs[2]), str(runs[1]), str(tmp_path / "generator"), str(out)]) == 0
    packed = bundled.load_versions(directory=out)
    for version in (1, 2):
        for key, value in versions[version].state_dict().items():
            assert torch.equal(value, packed[version].state_dict()[key]), (version, key)
    assert (out / "head_params.json").read_bytes() == (bundled.BUNDLED_DIR / "head_params.json").read_bytes()
    packed_directions, shipped = (Directions.load(folder / DIRECTIONS_NAME) for folder in (out, bundled.BUNDLED_DIR))
    assert packed_directions.names == shipped.names  # recomputed: float16 of sums that depend on the thread count
    assert torch.allclose(packed_directions.vectors, shipped.vectors, rtol=2e-3, atol=1e-4)


@pytest.mark.slow
def test_pack_bundled_refuses_runs_with_different_generators(tmp_path, capsys):
    versions = bundled.load_versions()
    versions[2].save_pretrained(tmp_path / "v2")
    other = triplanenet.TriPlaneNet.from_config(versions[1].get_config())
    other.load_state_dict(versions[1].state_dict())
    with torch.no_grad():
        other.psp_encoder.styles[0].linear.weight.add_(1.0)
    other.save_pretrained(tmp_path / "v1")
    with pytest.raises(ValueError, match="differ outside the tri-plane branch"):
        bundled.save_bundled(versions[2], other, tmp_path / "direct")
    assert cli_main(["pack-bundled", str(tmp_path / "v2"), str(tmp_path / "v1"), str(tmp_path), str(tmp_path / "o")]) == 2
    assert "differ outside the tri-plane branch" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_pack_bundled_takes_the_polished_super_resolution_of_v2(tmp_path):
    """After ``train-encoder --stage 3`` v2's super-resolution differs from v1's run; both use v2's."""
    versions = bundled.load_versions()
    polished = triplanenet.TriPlaneNet.from_config(versions[2].get_config())
    polished.load_state_dict(versions[2].state_dict())
    with torch.no_grad():
        for p in polished.decoder.superresolution.parameters():
            p.add_(0.5)
    packed = bundled.load_versions(directory=bundled.save_bundled(polished, versions[1], tmp_path / "packed"))
    for version in (1, 2):
        for key, value in packed[version].decoder.superresolution.state_dict().items():
            assert torch.equal(value, polished.decoder.superresolution.state_dict()[key].half().float()), key
    for key, value in versions[1].triplanenet_encoder.state_dict().items():
        assert torch.equal(value, packed[1].triplanenet_encoder.state_dict()[key]), key


def test_cli_defaults_to_the_bundled_model(monkeypatch):
    monkeypatch.delenv(bundled.CHECKPOINT_ENV, raising=False)
    assert bundled.default_checkpoint() == "bundled"
    monkeypatch.setenv(bundled.CHECKPOINT_ENV, "owner/repo")
    assert bundled.default_checkpoint() == "owner/repo"


@pytest.mark.slow
def test_invert_a_photo_with_no_checkpoint_configured(tmp_path, monkeypatch):
    from PIL import Image
    from skimage import data

    monkeypatch.delenv(bundled.CHECKPOINT_ENV, raising=False)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    out = tmp_path / "result"
    assert cli_main(["invert", str(photo), "--out", str(out), "--views", "2", "--mesh-resolution", "64"]) == 0
    inversion = triplanenet.Inversion.load(out / "inversion.safetensors")
    assert inversion.input_image.shape[-1] == triplanenet.load_inverter("bundled").decoder.img_resolution
    assert (out / "mesh.glb").stat().st_size > 0
