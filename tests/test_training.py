"""TriPlaneNet training: the three stages optimise, resume, data parallelism, losses and data.

Everything runs on the tiny EG3D snapshot of shared/parity with small encoders
(rendering at 32) and on synthetic heads rendered at 32-64 px.
"""
from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

import triplanenet
from triplanenet import TriPlaneNet, cameras, load_inverter
from triplanenet.cli import main as cli_main
from triplanenet.rendering.ray_marcher import finish_rgb
from triplanenet.models import lpips as perceptual
from triplanenet.training import losses
from triplanenet.image_tensors import EMPTY_SPACE
from triplanenet.training.data import AugmentConfig, SyntheticSource, augment, batch_indices, step_generator
from triplanenet.preprocess.aligned_folder import FolderDataset
from triplanenet.training.encoder_trainer import EncoderLossWeights, EncoderTask, EncoderTrainConfig
from triplanenet.training.loop import (CHECKPOINT_NAME, Distributed, LoopConfig, Ranger, make_optimizer,
                                      shutdown_distributed, train, train_step)

SMALL_BODY = {"units": (1, 1, 1, 2), "channels": (16, 16, 32, 32)}
"""Not 8 channels: oneDNN (torch 2.13 CPU, AVX-512) segfaults computing the weight gradient of a strided
1x1 convolution with 8 input channels."""
SMALL_PSP = {"input_size": 32, "coarse_ind": 14, "middle_ind": 14, **SMALL_BODY}
SMALL_TRIPLANE = {"decoder_channels": (16, 16, 8, 8), **SMALL_BODY}
TINY = Path(__file__).resolve().parents[2] / "shared" / "parity" / "eg3d_tiny_snapshot.pkl"


@pytest.fixture(scope="module")
def tiny_generator(parity_dir) -> triplanenet.TriPlaneGenerator:
    return triplanenet.load_generator(parity_dir / "eg3d_tiny_snapshot.pkl")


def small_model(generator: triplanenet.TriPlaneGenerator, version: int = 2, seed: int = 0) -> TriPlaneNet:
    torch.manual_seed(seed)
    model = TriPlaneNet(version, False, {**generator.get_config(), "neural_rendering_resolution": 32},
                        psp_kwargs=SMALL_PSP, triplane_kwargs=SMALL_TRIPLANE)
    model.decoder.load_state_dict(generator.state_dict())
    return model


class FixedBatch:
    """A source that always returns the same rendered heads (a fixed small batch)."""

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        self.data = batch

    def __len__(self) -> int:
        return len(self.data["image"])

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return {key: value[indices] for key, value in self.data.items()}


@pytest.fixture(scope="module")
def heads() -> FixedBatch:
    return FixedBatch(SyntheticSource(2, 64, seed=3).batch([0, 1]))


def encoder_task(model: TriPlaneNet, source, stage: int, **config) -> EncoderTask:
    config = {"stage": stage, "batch": 2, "augment": None, "deterministic_render": True, **config}
    return EncoderTask(model, source, EncoderTrainConfig(**config))


def losses_over_steps(task: EncoderTask, steps: int, lr: float = 1e-3) -> list[float]:
    """Train ``steps`` steps on the same batch; the loss before each step."""
    task.prepare()
    params = [p for p in task.trainable().parameters() if p.requires_grad]
    optimizer = make_optimizer(params, LoopConfig(lr=lr))
    task.batch = lambda step, rank=0, world=1: task.source.batch([0, 1])
    return [train_step(task, optimizer, params, step, Distributed())["loss"] for step in range(steps)]


# Optimisation.

@pytest.mark.slow
def test_stage1_lowers_the_loss(tiny_generator, heads):
    history = losses_over_steps(encoder_task(small_model(tiny_generator), heads, 1), 5)
    assert history[-1] < 0.5 * history[0], history


@pytest.mark.slow
def test_stage2_lowers_the_loss_and_leaves_psp_alone(tiny_generator, heads):
    model = small_model(tiny_generator)
    psp_before = {k: v.clone() for k, v in model.psp_encoder.state_dict().items()}
    task = encoder_task(model, heads, 2)
    history = losses_over_steps(task, 4)
    assert history[-1] < 0.5 * history[0], history
    for key, value in model.psp_encoder.state_dict().items():
        assert torch.equal(value, psp_before[key]), key
    assert all(p.grad is None for p in model.psp_encoder.parameters())
    x = heads.batch([0, 1])
    out = task.forward(triplanenet.image_tensors.resize_images(x["image"], 256), x["camera"])
    assert not out.codes.requires_grad and out.image.requires_grad


@pytest.mark.slow
def test_stage3_trains_the_super_resolution_alone_on_the_inversions(tiny_generator, heads):
    model = small_model(tiny_generator)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = encoder_task(model, heads, 3)
    history = losses_over_steps(task, 3)
    assert history[-1] < history[0], history
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("decoder.superresolution.") for k in changed), changed
    x = heads.batch([0, 1])
    out = task.forward(triplanenet.image_tensors.resize_images(x["image"], 256), x["camera"])
    assert out.image.requires_grad and out.mirror.requires_grad and not out.codes.requires_grad
    assert "mirror_smooth_l1" in task.loss(x)[1]


@pytest.mark.slow
def test_v2_mirror_terms_present_and_finite(tiny_generator, heads):
    task = encoder_task(small_model(tiny_generator), heads, 2)
    task.prepare()
    _, logs = task.loss(heads.batch([0, 1]))
    assert {"smooth_l1", "mirror_smooth_l1"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    v1 = encoder_task(small_model(tiny_generator, version=1), heads, 2)
    v1.prepare()
    assert not any(name.startswith("mirror") for name in v1.loss(heads.batch([0, 1]))[1])


@pytest.mark.slow
def test_the_opacity_term_compares_the_rendered_opacity_with_the_mask(tiny_generator, heads):
    """Its value is mean |opacity - mask| at the neural rendering resolution, and its gradient reaches pSp."""
    task = encoder_task(small_model(tiny_generator), heads, 1, weights=EncoderLossWeights(opacity=1.0))
    task.prepare()
    batch = heads.batch([0, 1])
    out = task.forward(triplanenet.image_tensors.resize_images(batch["image"], 256), batch["camera"])
    mask = triplanenet.image_tensors.resize_images(batch["mask"], out.opacity.shape[-1])
    term = task.opacity_term(out.opacity, batch)
    assert torch.isclose(term, (out.opacity - mask).abs().mean()) and term > 0
    gradients = torch.autograd.grad(term, list(task.trainable().parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in gradients)
    assert "opacity" in task.loss(batch)[1]
    with pytest.raises(ValueError, match="needs masks"):
        task.loss({key: value for key, value in batch.items() if key != "mask"})
    plain = encoder_task(small_model(tiny_generator), heads, 1)
    plain.prepare()
    assert "opacity" not in plain.loss(batch)[1]


# Checkpoints and resume.

def run_loop(model: TriPlaneNet, source, out: Path, steps: int, resume: bool = False) -> None:
    task = encoder_task(model, source, 1, augment=AugmentConfig(), deterministic_render=False, batch=1)
    train(task, LoopConfig(steps=steps, lr=1e-3, save_every=2, log_every=1), out, resume=resume)


@pytest.mark.slow
def test_resume_is_bit_identical(tiny_generator, heads, tmp_path):
    straight = small_model(tiny_generator)
    run_loop(straight, heads, tmp_path / "straight", 4)
    first = small_model(tiny_generator)
    run_loop(first, heads, tmp_path / "split", 2)
    resumed = small_model(tiny_generator, seed=99)
    torch.manual_seed(1234)
    run_loop(resumed, heads, tmp_path / "split", 4, resume=True)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert torch.load(tmp_path / "split" / CHECKPOINT_NAME, weights_only=True)["step"] == 4
    loaded = load_inverter(tmp_path / "split")
    assert torch.equal(loaded.psp_encoder.input_layer[0].weight, straight.psp_encoder.input_layer[0].weight)


@pytest.mark.slow
def test_cli_trains_resumes_and_saves_a_loadable_inverter(parity_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train-encoder", "--data", "synthetic", "--generator", str(parity_dir / "eg3d_tiny_snapshot.pkl"),
            "--stage", "1", "--out", str(out), "--device", "cpu",
            "--synthetic-resolution", "32", "--synthetic-length", "8", "--batch", "1",
            "--neural-rendering-resolution", "32", "--psp-kwargs", json.dumps(SMALL_PSP),
            "--triplane-kwargs", json.dumps(SMALL_TRIPLANE), "--lpips-weights", str(tmp_path / "none"),
            "--lpips-backbone", str(tmp_path / "none"), "--id-weights", str(tmp_path / "none")]
    assert cli_main([*args, "--steps", "1"]) == 0
    assert "step 1/1" in capsys.readouterr().err
    assert cli_main([*args, "--steps", "2", "--resume"]) == 0
    assert "step 2/2" in capsys.readouterr().err
    assert torch.load(out / CHECKPOINT_NAME, weights_only=True)["step"] == 2
    inverter = load_inverter(out)
    assert inverter.version == 2 and inverter.psp_kwargs["input_size"] == 32
    v1_args = [a for a in args if a not in ("--generator", str(parity_dir / "eg3d_tiny_snapshot.pkl"))]
    v1_args[v1_args.index("--stage") + 1] = "2"
    v1_out = tmp_path / "v1"
    v1_args[v1_args.index("--out") + 1] = str(v1_out)
    assert cli_main([*v1_args, "--init", str(out), "--version", "1", "--steps", "1"]) == 0
    v1 = load_inverter(v1_out)
    assert v1.version == 1
    assert torch.equal(v1.psp_encoder.input_layer[0].weight, inverter.psp_encoder.input_layer[0].weight)


def ranger_run(steps: int, start: int = 0, weights: dict | None = None, state: dict | None = None):
    """A linear layer optimised by Ranger (Lookahead every 3 steps) on inputs that depend on the step."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    if weights is not None:
        layer.load_state_dict(weights)
    optimizer = Ranger(list(layer.parameters()), lr=0.1, k=3)
    if state is not None:
        optimizer.load_state_dict(state)
    for step in range(start, start + steps):
        optimizer.zero_grad()
        layer(torch.arange(6.0).view(2, 3) + step).square().mean().backward()
        optimizer.step()
    return layer, optimizer


class LinearTask:
    """A real :class:`Task` on a linear layer whose loss is NaN at the steps listed in ``bad``."""

    def __init__(self, bad: set[int]) -> None:
        self.model, self.bad = torch.nn.Linear(3, 1), bad

    def trainable(self) -> torch.nn.Module:
        return self.model

    def batch(self, step: int, rank: int = 0, world: int = 1) -> dict[str, torch.Tensor]:
        return {"x": torch.full((2, 3), float("nan") if step in self.bad else 1.0)}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.model(batch["x"]).square().mean()
        return loss, {"loss": float(loss.detach())}


def test_a_non_finite_step_is_skipped_and_leaves_the_weights_alone():
    task = LinearTask(bad={1})
    params = list(task.model.parameters())
    optimizer = make_optimizer(params, LoopConfig(lr=0.1))
    assert "skipped" not in train_step(task, optimizer, params, 0, Distributed())
    before = [p.detach().clone() for p in params]
    assert train_step(task, optimizer, params, 1, Distributed())["skipped"] == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, params))
    train_step(task, optimizer, params, 2, Distributed())
    assert all(torch.isfinite(p).all() for p in params) and not torch.equal(before[0], params[0])


def test_ranger_looks_ahead_and_resumes_exactly(tmp_path):
    straight, optimizer = ranger_run(7)
    for p in straight.parameters():
        assert not torch.equal(p, optimizer.state[p]["slow"])
    synced, synced_optimizer = ranger_run(6)
    for p in synced.parameters():
        assert torch.equal(p, synced_optimizer.state[p]["slow"])
    first, first_optimizer = ranger_run(4)
    torch.save(first_optimizer.state_dict(), tmp_path / "optimizer.pt")
    resumed, _ = ranger_run(3, 4, first.state_dict(), torch.load(tmp_path / "optimizer.pt", weights_only=True))
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


# Data parallelism.

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    generator = triplanenet.load_generator(TINY)
    model = small_model(generator, seed=rank)
    task = encoder_task(model, SyntheticSource(8, 32, seed=rank), 1, batch=1)
    train(task, LoopConfig(steps=1, lr=1e-3, save_every=1), Path(out) / "run")
    torch.save(model.psp_encoder.state_dict(), Path(out) / f"rank{rank}.pt")
    shutdown_distributed()


@pytest.mark.ddp
def test_two_process_gloo_run_keeps_ranks_identical(parity_dir, tmp_path, tiny_generator):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("this torch build has no gloo backend for torch.distributed")
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    initial = small_model(tiny_generator, seed=0).psp_encoder.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[key], initial[key]) for key in a)
    assert (tmp_path / "run" / CHECKPOINT_NAME).exists()


# Losses.

def test_missing_weights_disable_losses_with_a_notice(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with caplog.at_level(logging.WARNING):
        assert perceptual.load_lpips("alex", tmp_path) is None
        assert losses.load_identity(tmp_path) is None
    assert "LPIPS loss disabled" in caplog.text and "alex" in caplog.text
    assert "identity loss disabled" in caplog.text and losses.ID_FILE in caplog.text


@pytest.mark.parametrize("net", ["alex", "vgg"])
@pytest.mark.slow
def test_lpips_loads_standard_files(tmp_path, monkeypatch, net):
    """Weight files in the torchvision / LPIPS-release layouts load, from a path or the torch hub cache."""
    torch.manual_seed(0)
    reference = perceptual.LPIPS(net)
    for layer in range(5):
        getattr(reference, f"lin{layer}").model[1].weight.data.uniform_(0.1, 1.0)
    backbone = {f"features.{k}": v for k, v in reference.net.features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(2, 2)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(backbone, hub / perceptual.BACKBONE_FILES[net])
    torch.save(reference.lin_state_dict(), tmp_path / perceptual.LIN_FILES[net])
    assert set(reference.lin_state_dict()) == {f"lin{i}.model.1.weight" for i in range(5)}
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    lpips = perceptual.load_lpips(net, tmp_path)
    for key, value in reference.state_dict().items():
        assert torch.equal(lpips.state_dict()[key], value), key
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    assert torch.equal(lpips(a, a), torch.zeros(2))
    assert (lpips(a, b) > 0).all()


def test_identity_loss_is_zero_for_the_same_face():
    torch.manual_seed(0)
    small = losses.ArcFace(units=(1, 1, 1, 1), channels=(8, 8, 16, 16))
    loss = losses.IdentityLoss(small)
    a = torch.rand(2, 3, 256, 256) * 2 - 1
    assert loss(a, a).abs() < 1e-5
    assert loss(a, a.flip(-2)) > 0
    assert not loss.training and not any(p.requires_grad for p in loss.parameters())


# Data.

def test_folder_dataset_reads_the_align_format(tmp_path):
    rng = np.random.default_rng(0)
    labels = []
    for index in range(3):
        name = f"sub/img{index}.png"
        (tmp_path / "sub").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / name)
        labels.append([name, [float(v) for v in cameras.camera(0.1 * index, 0.0)[0]]])
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    data = FolderDataset(tmp_path, resolution=32)
    batch = data.batch([2, 0])
    assert len(data) == 3 and batch["image"].shape == (2, 3, 32, 32)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert torch.allclose(batch["camera"][0], cameras.camera(0.2, 0.0)[0])
    full = FolderDataset(tmp_path).batch([1])["image"][0]
    expected = np.asarray(Image.open(tmp_path / "sub/img1.png"), dtype=np.float32) / 127.5 - 1
    assert torch.allclose(full.permute(1, 2, 0), torch.from_numpy(expected))


def test_synthetic_backgrounds_are_what_the_renderer_shows_through_empty_space(heads):
    batch = heads.batch([0, 1])
    outside = batch["mask"].expand_as(batch["image"]) == 0
    assert outside.any() and torch.all(batch["image"][outside] == EMPTY_SPACE)
    kept = SyntheticSource(2, 64, seed=3, background=None).batch([0, 1])["image"]
    assert not torch.all(kept[outside] == EMPTY_SPACE)
    nothing = torch.zeros(1, 4, 1)
    assert torch.all(finish_rgb(torch.zeros(1, 4, 3), nothing, white_back=False) == EMPTY_SPACE)


def test_batches_depend_on_seed_step_and_rank_only():
    assert batch_indices(100, 4, 0, 7) == batch_indices(100, 4, 0, 7)
    both = batch_indices(100, 8, 0, 7, rank=0, world=1)
    assert batch_indices(100, 4, 0, 7, rank=0, world=2) + batch_indices(100, 4, 0, 7, rank=1, world=2) == both


def test_augmentations_change_images_but_keep_geometry(heads):
    batch = heads.batch([0, 1])
    config = AugmentConfig(color_p=1, blur_p=1, noise_p=1, background_p=1)
    out = augment(batch, config, step_generator(0, 0))
    again = augment(batch, config, step_generator(0, 0))
    assert torch.equal(out["image"], again["image"])
    assert not torch.allclose(out["image"], batch["image"])
    assert out["image"].min() >= -1 and out["image"].max() <= 1
    for key in ("camera", "depth", "mask"):
        assert torch.equal(out[key], batch[key])
    assert torch.equal(out["target"], batch["image"])
    background_only = augment(batch, AugmentConfig(color_p=0, blur_p=0, noise_p=0, background_p=1),
                              step_generator(0, 1))
    inside = batch["mask"].expand_as(batch["image"]) == 1
    assert torch.allclose(background_only["image"][inside], batch["image"][inside], atol=1e-6)


def test_stages_after_the_first_need_an_initial_inverter(tmp_path):
    for stage in ("2", "3"):
        with pytest.raises(SystemExit, match=f"--stage {stage} needs --init"):
            cli_main(["train-encoder", "--data", "synthetic", "--generator", "g.pkl", "--steps", "1",
                      "--out", str(tmp_path / "out"), "--stage", stage])
    with pytest.raises(ValueError, match="stage must be one of"):
        EncoderTrainConfig(stage=4)


def test_the_opacity_weight_needs_data_with_masks(tmp_path):
    with pytest.raises(SystemExit, match="only --data synthetic has"):
        cli_main(["train-encoder", "--data", str(tmp_path), "--generator", "g.pkl", "--steps", "1",
                  "--out", str(tmp_path / "out"), "--opacity-weight", "1"])
