"""The bundled offline model in assets/: small enough to ship, loads as v1 and v2, inverts held-out heads well.

The quality floors are far below the measured model card (README) and far above
what the untrained architecture scores (about 6 dB), so they catch a broken or
missing asset without pinning the numbers of one training run.
"""
from __future__ import annotations

import torch

import triplanenet
from triplanenet import bundled
from triplanenet.evaluation import ground_truth, psnr

ASSET_BUDGET_BYTES = 30 * 2**20
SAME_VIEW_PSNR_FLOOR = 15.0


def test_assets_fit_the_budget():
    files = [p for p in bundled.BUNDLED_DIR.iterdir() if p.is_file()]
    assert {"config.json", "model.safetensors", bundled.V1_ENCODER_NAME, "head_params.json"} <= {p.name for p in files}
    assert sum(p.stat().st_size for p in files) <= ASSET_BUDGET_BYTES


def test_both_versions_share_generator_and_psp_encoder():
    v2, v1 = triplanenet.load_inverter("bundled"), triplanenet.load_inverter("bundled-v1")
    assert (v2.version, v1.version) == (2, 1)
    for key, value in v2.state_dict().items():
        if not key.startswith(bundled.ENCODER_PREFIX):
            assert torch.equal(value, v1.state_dict()[key]), key
    assert all(p.dtype == torch.float32 for p in v2.parameters())
    versions = bundled.load_versions()
    assert versions[1].decoder is versions[2].decoder and versions[1].psp_encoder is versions[2].psp_encoder


def test_held_out_heads_invert_above_the_quality_floor():
    v2 = triplanenet.load_inverter("bundled")
    resolution = v2.decoder.img_resolution
    for seed in (0, 1):
        truth = ground_truth(seed, resolution)
        inversion = v2.invert(truth.image[:1], truth.cameras[:1])
        image, _ = inversion.render()
        assert psnr(image, truth.image[:1]).item() > SAME_VIEW_PSNR_FLOOR, seed


def test_cli_defaults_to_the_bundled_model(monkeypatch):
    monkeypatch.delenv(bundled.CHECKPOINT_ENV, raising=False)
    assert bundled.default_checkpoint() == "bundled"
    monkeypatch.setenv(bundled.CHECKPOINT_ENV, "owner/repo")
    assert bundled.default_checkpoint() == "owner/repo"


def test_invert_a_photo_with_no_checkpoint_configured(tmp_path, monkeypatch):
    from PIL import Image
    from skimage import data

    from triplanenet.cli import main as cli_main

    monkeypatch.delenv(bundled.CHECKPOINT_ENV, raising=False)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    out = tmp_path / "result"
    assert cli_main(["invert", str(photo), "--out", str(out), "--views", "2", "--mesh-resolution", "64"]) == 0
    inversion = triplanenet.Inversion.load(out / "inversion.safetensors")
    assert inversion.input_image.shape[-1] == triplanenet.load_inverter("bundled").decoder.img_resolution
    assert (out / "mesh.glb").stat().st_size > 0
