"""The fast generator trainer: the ground-truth cache, views rendered as one scene, ray batches, the
learning-rate schedule and the training log."""
from __future__ import annotations

import json
import math

import pytest
import torch

from triplanenet import configs
from triplanenet.cli import main as cli_main
from triplanenet.synthetic import HeadParams, render
from triplanenet.image_tensors import EMPTY_SPACE, with_background
from triplanenet.training.data import CacheSpec, GroundTruthCache
from triplanenet.training.generator_trainer import (GeneratorTask, GeneratorTrainConfig, build_generator,
                                                    param_statistics, pixels_of)
from triplanenet.training.loop import LOG_NAME, Distributed, LoopConfig, learning_rate, make_optimizer, train_step

SPEC = CacheSpec(heads=3, views=2, resolution=32, raw_resolution=16, seed=5, shadows=False)


def test_cache_is_reproducible_and_matches_the_renderer(tmp_path):
    first, second = GroundTruthCache(tmp_path / "a", SPEC), GroundTruthCache(tmp_path / "b", SPEC)
    first.load()
    second.load()
    for key, value in first.data.items():
        assert torch.equal(value, second.data[key]), key
    params, camera = first.head(2)
    out = render(HeadParams.from_tensor(params.expand(2, -1)), camera, 32, shadows=False)
    image = with_background(out["image"], out["mask"], EMPTY_SPACE)
    batch = first.batch([2], torch.tensor([[0, 1]]))
    assert (batch["image"] - image).abs().max() <= 1 / 127.5
    assert torch.allclose(batch["mask"], torch.nn.functional.avg_pool2d(out["mask"], 2), atol=1e-3)
    assert batch["raw"].shape == (2, 3, 16, 16) and torch.equal(batch["camera"], camera)


def test_cache_refuses_another_spec_and_rebuilds_a_missing_chunk(tmp_path):
    cache = GroundTruthCache(tmp_path, SPEC)
    cache.build()
    before = torch.load(cache.chunk_path(0), weights_only=True)["image"]
    cache.chunk_path(0).unlink()
    cache.build()
    assert torch.equal(torch.load(cache.chunk_path(0), weights_only=True)["image"], before)
    with pytest.raises(ValueError, match="another spec"):
        GroundTruthCache(tmp_path, CacheSpec(heads=4, views=2, resolution=32, raw_resolution=16, seed=5,
                                             shadows=False)).build()


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    g = build_generator("bundled64").eval()
    g.neural_rendering_resolution = 16
    return g


@pytest.mark.slow
def test_views_as_one_scene_match_separate_renders(generator):
    from triplanenet import cameras
    camera = torch.cat([cameras.camera(0.3, 0.1), cameras.camera(-0.4, 0.0)]).repeat(2, 1)
    with torch.no_grad():
        ws = generator.mapping(torch.randn(2, 97), camera[::2])
        planes = generator.planes(ws)
        scene = generator.synthesis_scenes(ws, planes, camera, deterministic=True)
        separate = generator.synthesis(ws.repeat_interleave(2, 0), camera, planes=planes.repeat_interleave(2, 0),
                                       deterministic=True)
        rays = torch.randperm(2 * 16 * 16)[:40].expand(2, -1)
        subset = generator.synthesis_scenes(ws, planes, camera, rays=rays, deterministic=True)
    assert torch.allclose(scene["image"], separate["image"], atol=1e-4)
    assert torch.allclose(scene["image_depth"], separate["image_depth"], atol=1e-4)
    assert torch.allclose(scene["image_raw"], separate["feature_image"][:, :3], atol=1e-4)
    assert torch.allclose(subset["image_raw"], pixels_of(scene["image_raw"], rays), atol=1e-4)
    assert torch.allclose(subset["image_opacity"], pixels_of(scene["image_opacity"], rays), atol=1e-4)


def fast_task(tmp_path, **options) -> GeneratorTask:
    torch.manual_seed(0)
    generator = build_generator("bundled64")
    config = GeneratorTrainConfig(batch=1, views=2, shadows=False, cache_heads=1, cache_views=2,
                                  cache_dir=str(tmp_path / "cache"), one_scene=True, **options)
    task = GeneratorTask(generator, config, statistics=param_statistics(256))
    task.prepare()
    return task


@pytest.mark.parametrize("options", [{"sr_start": 1 << 20, "rays": 256}, {"sr_start": 0}])
@pytest.mark.slow
def test_fast_steps_lower_the_loss(tmp_path, options):
    task = fast_task(tmp_path, **options)
    params = list(task.model.parameters())
    optimizer = make_optimizer(params, LoopConfig(lr=2e-3, betas=(0.9, 0.99)))
    logs = [train_step(task, optimizer, params, step, Distributed()) for step in range(6)]
    assert ("image" in logs[0]) == (options["sr_start"] == 0)
    assert logs[-1]["loss"] < 0.8 * logs[0]["loss"], logs


def test_views_beyond_the_cache_are_refused(tmp_path):
    with pytest.raises(ValueError, match="cached views"):
        GeneratorTask(build_generator("bundled64"), GeneratorTrainConfig(views=3, cache_heads=1, cache_views=2,
                                                                         cache_dir=str(tmp_path)))


def test_learning_rate_warms_up_then_decays():
    config = LoopConfig(steps=110, lr=1.0, warmup=10, final_lr=0.1)
    assert learning_rate(config, 0) == pytest.approx(0.1)
    assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(config, 60) == pytest.approx(0.55)
    assert learning_rate(config, 110) == pytest.approx(0.1)
    assert learning_rate(LoopConfig(lr=0.5), 123) == 0.5


def test_bundled64_renders_at_64():
    init_kwargs, resolution = configs.get("bundled64")
    assert resolution == 64 and init_kwargs["channel_base"] == 2 * configs.get("bundled")[0]["channel_base"]
    assert configs.get("bundled")[1] == 32


@pytest.mark.slow
def test_cli_logs_losses_and_held_out_metrics_across_a_resume(tmp_path):
    common = ["train-generator", "--config", "bundled64", "--fast", "--cache-heads", "2", "--cache-views", "1",
              "--views", "1", "--batch", "1", "--sr-start", "1", "--rays", "64", "--log-every", "1",
              "--eval-every", "2", "--eval-heads", "1", "--save-every", "1", "--device", "cpu",
              "--out", str(tmp_path / "run"), "--lpips-weights", str(tmp_path / "none"),
              "--lpips-backbone", str(tmp_path / "none")]
    assert cli_main([*common, "--steps", "1"]) == 0
    assert cli_main([*common, "--steps", "2", "--resume"]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / LOG_NAME).read_text().splitlines()]
    losses = [r for r in records if "loss" in r]
    assert [r["step"] for r in losses] == [1, 2]
    assert "image" not in losses[0] and "image" in losses[1]
    assert 0 < losses[0]["cpu_hours"] < losses[1]["cpu_hours"]
    (evaluation,) = [r["eval"] for r in records if "eval" in r]
    assert math.isfinite(evaluation["psnr"]) and evaluation["cache_cpu_hours"] > 0
    assert evaluation["psnr"] == evaluation["psnr_sr"] and math.isfinite(evaluation["psnr_raw"])
