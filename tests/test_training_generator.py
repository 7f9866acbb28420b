"""The bundled model's generator: its config builds and renders, training lowers the loss, resume works."""
from __future__ import annotations

import json

import pytest
import torch

import triplanenet
from triplanenet import cameras, configs
from triplanenet.cli import main as cli_main
from triplanenet.synthetic import SIZE
from triplanenet.synthetic.codes import NORMALIZATION_NAME, HeadCodes
from triplanenet.training.generator_trainer import GeneratorTask, GeneratorTrainConfig, build_generator, param_statistics
from triplanenet.training.loop import CHECKPOINT_NAME, Distributed, LoopConfig, make_optimizer, train_step


def test_bundled_config_builds_and_renders():
    init_kwargs, resolution = configs.get("bundled")
    assert init_kwargs["z_dim"] == SIZE and resolution == 32
    torch.manual_seed(0)
    generator = build_generator("bundled")
    with torch.no_grad():
        out = generator(torch.randn(1, SIZE), cameras.camera(0.2, 0.0), deterministic=True)
    assert out["image"].shape == (1, 3, 128, 128)
    assert out["image_depth"].shape == (1, 1, 32, 32)
    assert out["planes"].shape == (1, 3, 32, 256, 256)
    assert torch.isfinite(out["image"]).all()


def test_param_statistics_normalise_heads():
    mean, std = param_statistics(256)
    assert mean.shape == std.shape == (SIZE,) and (std > 0).all()


@pytest.mark.slow
def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    generator = build_generator("bundled")
    task = GeneratorTask(generator, GeneratorTrainConfig(batch=1, views=2, shadows=False),
                         statistics=param_statistics(256))
    task.prepare()
    fixed = task.batch(0)
    params = list(generator.parameters())
    optimizer = make_optimizer(params, LoopConfig(lr=2e-3, betas=(0.9, 0.99)))
    task.batch = lambda step, rank=0, world=1: fixed
    history = [train_step(task, optimizer, params, step, Distributed())["loss"] for step in range(5)]
    assert history[-1] < 0.7 * history[0], history


@pytest.mark.slow
def test_cli_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    common = ["train-generator", "--batch", "1", "--views", "1", "--device", "cpu", "--save-every", "1",
              "--lpips-weights", str(tmp_path / "none"), "--lpips-backbone", str(tmp_path / "none")]
    assert cli_main([*common, "--steps", "2", "--out", str(tmp_path / "straight")]) == 0
    assert cli_main([*common, "--steps", "1", "--out", str(tmp_path / "split")]) == 0
    assert cli_main([*common, "--steps", "2", "--out", str(tmp_path / "split"), "--resume"]) == 0
    assert "step 2/2" in capsys.readouterr().err
    straight = triplanenet.load_generator(tmp_path / "straight")
    resumed = triplanenet.load_generator(tmp_path / "split")
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert torch.load(tmp_path / "split" / CHECKPOINT_NAME, weights_only=True)["step"] == 2
    assert len(json.loads((tmp_path / "split" / NORMALIZATION_NAME).read_text())["mean"]) == SIZE
    assert torch.equal(HeadCodes.read(tmp_path / "split").std, param_statistics()[1])
