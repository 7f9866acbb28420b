"""TriPlaneNet inversion: checkpoint layout and loading, the Inversion object, inputs and errors.

Everything runs on the tiny EG3D snapshot in shared/parity with small encoders,
except the layout checks, which build the full-size models on the meta device, and
one full-size load-and-invert test (random weights).
"""
from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import triplanenet
from conftest import assert_close_scaled
from triplanenet import CheckpointError, Inversion, TriPlaneNet, cameras, load_inverter
from triplanenet.image_tensors import as_images, resize_images
from triplanenet.cameras import as_cameras
from triplanenet import invert

SMALL_BODY = {"units": (1, 1, 1, 2), "channels": (8, 8, 16, 16)}
SMALL_PSP = {"input_size": 32, "coarse_ind": 14, "middle_ind": 14, **SMALL_BODY}
SMALL_TRIPLANE = {"decoder_channels": (16, 16, 8, 8), **SMALL_BODY}
VARIANTS = {"v1": (1, True), "v2_ps": (2, True), "v2_up": (2, False)}
MANIFEST_KEYS = {"v2_ps": "use_pixelshuffle_true", "v2_up": "use_pixelshuffle_false"}
OPTS = {"n_styles": 14, "device": "cuda:0", "checkpoint_path": None, "exp_dir": "/exp", "novel_view_angles": [],
        "test_batch_size": 1, "learning_rate": 1e-4}


class RunsCommand:
    """Unpickling this runs a shell command: what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def tiny_generator(parity_dir) -> triplanenet.TriPlaneGenerator:
    return triplanenet.load_generator(parity_dir / "eg3d_tiny_snapshot.pkl")


def small_model(variant: str, generator: triplanenet.TriPlaneGenerator, seed: int = 0) -> TriPlaneNet:
    """Small encoders on the tiny generator, rendering at 32 (instead of 64) to save time."""
    version, use_pixelshuffle = VARIANTS[variant]
    torch.manual_seed(seed)
    model = TriPlaneNet(version, use_pixelshuffle, {**generator.get_config(), "neural_rendering_resolution": 32},
                        psp_kwargs=SMALL_PSP, triplane_kwargs=SMALL_TRIPLANE)
    model.decoder.load_state_dict(generator.state_dict())
    return model


@pytest.fixture(scope="module")
def models(tiny_generator) -> dict[str, TriPlaneNet]:
    return {variant: small_model(variant, tiny_generator, seed) for seed, variant in enumerate(VARIANTS)}


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A 128x128 RGB uint8 image (the tiny generator's resolution)."""
    return np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    return cameras.camera(0.25, -0.1)


@pytest.fixture(scope="module")
def inversions(models, face, camera) -> dict[str, Inversion]:
    return {variant: invert(model, face, camera) for variant, model in models.items()}


@dataclass
class Calls:
    """Forward calls per encoder, and every input the tri-plane encoder got."""

    counts: Counter = field(default_factory=Counter)
    inputs: list[torch.Tensor] = field(default_factory=list)


@contextmanager
def counting_calls(model: TriPlaneNet) -> Iterator[Calls]:
    """Count forward calls of the two encoders while the block runs."""
    calls = Calls()

    def hook_for(name: str):
        def hook(_module, args, _output):
            calls.counts[name] += 1
            if name == "triplanenet_encoder":
                calls.inputs.append(args[0])
        return hook

    handles = [getattr(model, name).register_forward_hook(hook_for(name))
               for name in ("psp_encoder", "triplanenet_encoder")]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def published_checkpoint(model: TriPlaneNet, path: Path, opts) -> Path:
    """Write ``model`` in the layout of the published ``triplanenet*_final.pth`` files."""
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                 "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]}
    torch.save({"state_dict": model.state_dict(), "opts": opts, "best_val_loss": torch.tensor(0.25),
                "step": 500000, "psp_optimizer": optimizer, "triplane_optimizer": optimizer}, path)
    return path


def small_config(model: TriPlaneNet) -> dict:
    return {"generator": model.decoder.get_config(), "psp_kwargs": SMALL_PSP, "triplane_kwargs": SMALL_TRIPLANE}


def render_small(generator, ws, planes, camera) -> torch.Tensor:
    with torch.no_grad():
        image = generator.synthesis(ws, camera, planes=planes, deterministic=True)["image"]
    return resize_images(image, 256)


def assert_same_inversion(a: Inversion, b: Inversion) -> None:
    for name in ("ws", "planes_initial", "planes", "camera", "input_image"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.method == b.method


# Layout of the published checkpoints (full size, on the meta device).

@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_full_state_dict_equals_manifest(parity_dir, variant):
    if variant == "v1":
        manifest = json.loads((parity_dir / "triplanenet_v1_state_dict.json").read_text())["state_dict"]
    else:
        manifest = json.loads((parity_dir / "triplanenet_v2_state_dict.json").read_text())[
            "variants"][MANIFEST_KEYS[variant]]["state_dict"]
    with torch.device("meta"):
        model = TriPlaneNet(*VARIANTS[variant])
    ours = [[name, list(t.shape)] for name, t in model.state_dict().items()]
    assert ours == manifest
    for name, t in model.state_dict().items():
        assert t.dtype == (torch.int64 if name.endswith("num_batches_tracked") else torch.float32), name


def test_latent_avg_is_the_generators_w_avg(models):
    model = models["v2_ps"]
    assert not any("latent_avg" in name for name in model.state_dict())
    w_avg = model.decoder.backbone.mapping.w_avg
    assert model.latent_avg.shape == (14, 512)
    assert torch.equal(model.latent_avg, w_avg.expand(14, -1))


# Loading.

@pytest.mark.parametrize("variant, opts_kind", [("v1", "dict"), ("v2_ps", "namespace"), ("v2_up", "dict")])
@pytest.mark.slow
def test_published_layout_pth_loads_and_inverts(models, inversions, face, camera, tmp_path, variant, opts_kind):
    model = models[variant]
    opts = dict(OPTS, use_pixelshuffle=model.use_pixelshuffle)
    path = published_checkpoint(model, tmp_path / "final.pth",
                                argparse.Namespace(**opts) if opts_kind == "namespace" else opts)
    loaded = load_inverter(path, config=small_config(model), double_depth_samples=False)
    assert (loaded.version, loaded.use_pixelshuffle) == VARIANTS[variant]
    assert loaded.load_report == ([], [])
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2), k1
    assert_same_inversion(invert(loaded, face, camera), inversions[variant])


def test_official_depth_doubling_is_the_default_and_legacy_format_loads(models, tmp_path):
    path = tmp_path / "v1.pth"
    torch.save({"state_dict": models["v1"].state_dict(), "opts": OPTS}, path, _use_new_zipfile_serialization=False)
    trained = models["v1"].decoder.rendering_kwargs
    doubled = load_inverter(path, config=small_config(models["v1"])).decoder.rendering_kwargs
    assert (doubled["depth_resolution"], doubled["depth_resolution_importance"]) == (
        2 * trained["depth_resolution"], 2 * trained["depth_resolution_importance"])


@pytest.mark.parametrize("variant", ["v2_ps", "v2_up"])
def test_v2_variant_comes_from_the_weights(models, tmp_path, variant):
    model = models[variant]
    loaded = load_inverter(published_checkpoint(model, tmp_path / "a.pth", OPTS), config=small_config(model))
    assert loaded.use_pixelshuffle is model.use_pixelshuffle
    contradicting = dict(OPTS, use_pixelshuffle=not model.use_pixelshuffle)
    with pytest.warns(UserWarning, match="variant"):
        loaded = load_inverter(published_checkpoint(model, tmp_path / "b.pth", contradicting),
                               config=small_config(model))
    assert loaded.use_pixelshuffle is model.use_pixelshuffle


def test_v2_reports_missing_and_unexpected_keys(models, tmp_path):
    model = models["v2_up"]
    state_dict = dict(model.state_dict())
    del state_dict["triplanenet_encoder.final_head_two.1.weight"]
    state_dict["discriminator.extra"] = torch.zeros(1)
    path = tmp_path / "v2.pth"
    torch.save({"state_dict": state_dict, "opts": OPTS}, path)
    with pytest.warns(UserWarning, match="final_head_two.1.weight.*discriminator.extra"):
        loaded = load_inverter(path, config=small_config(model))
    assert loaded.load_report == (["triplanenet_encoder.final_head_two.1.weight"], ["discriminator.extra"])


def test_v1_loads_strictly(models, tmp_path):
    state_dict = dict(models["v1"].state_dict())
    del state_dict["triplanenet_encoder.final_head.1.weight"]
    path = tmp_path / "v1.pth"
    torch.save({"state_dict": state_dict, "opts": OPTS}, path)
    with pytest.raises(CheckpointError, match="missing keys.*final_head.1.weight"):
        load_inverter(path, config=small_config(models["v1"]))


def test_wrong_architecture_is_a_checkpoint_error(models, tmp_path):
    path = published_checkpoint(models["v1"], tmp_path / "v1.pth", OPTS)
    with pytest.raises(CheckpointError, match="shapes"):
        load_inverter(path, config={**small_config(models["v1"]), "triplane_kwargs": {}})


@pytest.mark.parametrize("where", ["opts", "namespace", "state_dict"])
def test_hostile_pth_is_refused_and_nothing_runs(tmp_path, where):
    marker = tmp_path / "pwned"
    evil = RunsCommand(marker)
    payload = {"opts": argparse.Namespace(n_styles=14, evil=evil)} if where == "namespace" else {where: evil}
    torch.save({"state_dict": {}, "opts": {}, **payload}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match=r"refused.*(posix|os)\.system"):
        load_inverter(tmp_path / "evil.pth")
    assert not marker.exists()


def test_other_checkpoints_give_clear_errors(parity_dir, tiny_generator, tmp_path):
    with pytest.raises(CheckpointError, match="load_generator"):
        load_inverter(parity_dir / "eg3d_tiny_snapshot.pkl")
    torch.save({"G_ema": tiny_generator.state_dict(), "init_kwargs": tiny_generator.init_kwargs},
               tmp_path / "eg3d.pth")
    with pytest.raises(CheckpointError, match="load_generator"):
        load_inverter(tmp_path / "eg3d.pth")
    tiny_generator.save_pretrained(tmp_path / "generator")
    with pytest.raises(CheckpointError, match="load_generator"):
        load_inverter(tmp_path / "generator")
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        load_inverter("triplanenet-tests/not-cached-anywhere")


def test_save_pretrained_round_trip(models, tmp_path):
    model = models["v2_up"]
    model.save_pretrained(tmp_path / "inverter")
    assert {p.name for p in (tmp_path / "inverter").iterdir()} == {"config.json", "model.safetensors"}
    loaded = load_inverter(tmp_path / "inverter")
    assert loaded.get_config() == json.loads(json.dumps(model.get_config()))
    assert loaded.decoder.rendering_kwargs == model.decoder.rendering_kwargs
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2), k1


@pytest.mark.slow
def test_full_size_published_v2_checkpoint_loads_and_inverts(tmp_path):
    """The default (FFHQ) architecture, no config hint; rendering at 32 instead of 128 to save time."""
    torch.manual_seed(0)
    model = TriPlaneNet(version=2, use_pixelshuffle=False)
    path = published_checkpoint(model, tmp_path / "triplanenet_v2_final.pth", argparse.Namespace(**OPTS))
    expected = {name: t.clone() for name, t in model.state_dict().items() if name.startswith("triplanenet_encoder.")}
    del model
    inverter = load_inverter(path)
    assert (inverter.version, inverter.use_pixelshuffle, inverter.decoder.img_resolution) == (2, False, 512)
    assert inverter.decoder.rendering_kwargs["depth_resolution"] == 96
    assert all(torch.equal(inverter.state_dict()[name], t) for name, t in expected.items())
    inverter.decoder.neural_rendering_resolution = 32
    inversion = invert(inverter, torch.zeros(3, 512, 512), cameras.camera(0.2, 0.0))
    assert inversion.planes.shape == (1, 3, 32, 256, 256) and torch.isfinite(inversion.planes).all()
    assert not torch.equal(inversion.planes, inversion.planes_initial)


# The Inversion object.

@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_inversion_save_load_is_bit_exact(inversions, tiny_generator, tmp_path, suffix):
    inversion = inversions["v1"]
    path = inversion.save(tmp_path / f"result{suffix}")
    again = Inversion.load(path, tiny_generator)
    assert_same_inversion(again, inversion)
    assert again.generator is tiny_generator


def test_inversion_file_without_input_image(inversions, tmp_path):
    inversion = inversions["v2_ps"]
    bare = Inversion(inversion.ws, inversion.planes_initial, inversion.planes, inversion.camera, method="v2")
    again = Inversion.load(bare.save(tmp_path / "bare.safetensors"))
    assert again.input_image is None and torch.equal(again.planes, inversion.planes)
    with pytest.raises(RuntimeError, match="no generator"):
        again.render()


def test_unreadable_inversion_files_give_clear_errors(tiny_generator, tmp_path):
    (tmp_path / "garbage.safetensors").write_bytes(b"garbage")
    (tmp_path / "garbage.npz").write_bytes(b"garbage")
    tiny_generator.save_pretrained(tmp_path / "generator")
    for path, message in [("garbage.safetensors", "not a readable"), ("garbage.npz", "not a readable"),
                          ("generator/model.safetensors", "not a saved Inversion")]:
        with pytest.raises(ValueError, match=message):
            Inversion.load(tmp_path / path)


@pytest.mark.slow
def test_rerender_and_query_never_run_the_encoders(models, face, camera):
    model = models["v2_up"]
    with counting_calls(model) as calls:
        inversion = invert(model, face, camera)
        assert calls.counts == {"psp_encoder": 1, "triplanenet_encoder": 1}
        image, depth = inversion.render(cameras.camera([-0.3, 0.4], 0.1), neural_rendering_resolution=16)
        inversion.query(torch.zeros(5, 3))
        assert calls.counts == {"psp_encoder": 1, "triplanenet_encoder": 1}
    assert image.shape == (2, 3, 128, 128) and depth.shape == (2, 1, 16, 16)


@pytest.mark.slow
def test_v2_branch_sees_render_difference_and_mirrored_difference(models, face, camera):
    model = models["v2_ps"]
    with counting_calls(model) as calls:
        inversion = invert(model, face, camera)
    (inputs,) = calls.inputs
    G = model.decoder
    x = resize_images(inversion.input_image, 256)
    y = render_small(G, inversion.ws, inversion.planes_initial, camera)
    y_mirror = render_small(G, inversion.ws, inversion.planes_initial, cameras.mirror(camera))
    assert inputs.shape == (1, 9, 256, 256)
    torch.testing.assert_close(inputs, torch.cat([y, x - y, x.flip(-1) - y_mirror], dim=1))
    assert not torch.equal(inversion.planes, inversion.planes_initial)


def test_v1_cascaded_refinement_replaces_the_offsets(models, face, camera):
    model = models["v1"]
    with counting_calls(model) as calls:
        inversion = invert(model, face, camera, cttr=True)
    assert calls.counts["triplanenet_encoder"] == 2 and inversion.method == "v1+cttr"
    first, second = calls.inputs
    assert first.shape == second.shape == (1, 6, 256, 256)
    y = render_small(model.decoder, inversion.ws, inversion.planes_initial, camera)
    torch.testing.assert_close(first[:, :3], y)
    with torch.no_grad():
        offsets = model.triplanenet_encoder(second)
    torch.testing.assert_close(inversion.planes, inversion.planes_initial + offsets.view_as(inversion.planes))


def test_wplus_only_mode_skips_the_branch(models, face, camera, tmp_path):
    model = models["v2_up"]
    with counting_calls(model) as calls:
        inversion = invert(model, face, camera, branch=False)
    assert calls.counts == {"psp_encoder": 1} and inversion.method == "w+"
    assert torch.equal(inversion.planes, inversion.planes_initial)
    assert_same_inversion(Inversion.load(inversion.save(tmp_path / "w.safetensors")), inversion)
    with torch.no_grad():
        x = resize_images(resize_images(as_images(face, 128), 256), 32)
        expected = model.psp_encoder(x) + model.decoder.backbone.mapping.w_avg
    torch.testing.assert_close(inversion.ws, expected)


@pytest.mark.slow
def test_batch_of_two_matches_single_inversions(models, face, camera):
    model = models["v2_ps"]
    other = np.ascontiguousarray(face[:, ::-1])
    cams = torch.cat([camera, cameras.camera(-0.3, 0.05)])
    batch = invert(model, np.stack([face, other]), cams)
    assert batch.ws.shape == (2, 14, 512) and batch.planes.shape == (2, 3, 32, 256, 256)
    assert batch.camera.shape == (2, 25) and batch.input_image.shape == (2, 3, 128, 128)
    single = invert(model, other, cams[1])
    for name in ("ws", "planes_initial", "planes"):
        assert_close_scaled(getattr(batch, name)[1:], getattr(single, name), name=name)


def test_query_returns_density_and_features(inversions, tiny_generator):
    inversion = inversions["v2_up"]
    points = torch.rand(1, 64, 3) - 0.5
    sigma, rgb = inversion.query(points[0])
    expected = tiny_generator.sample_mixed(points, None, inversion.ws, planes=inversion.planes)
    assert sigma.shape == (1, 64, 1) and rgb.shape == (1, 64, 32)
    assert torch.equal(sigma, expected["sigma"]) and torch.equal(rgb, expected["rgb"])


# Inputs.

def test_image_formats_are_equivalent(face):
    from_numpy = as_images(face, 128)
    assert from_numpy.shape == (1, 3, 128, 128) and from_numpy.min() >= -1 and from_numpy.max() <= 1
    assert torch.equal(as_images(Image.fromarray(face), 128), from_numpy)
    assert torch.equal(as_images(from_numpy[0], 128), from_numpy)
    assert torch.equal(as_images([Image.fromarray(face)] * 2, 128), from_numpy.expand(2, -1, -1, -1))
    assert as_images(face, 256).shape == (1, 3, 256, 256)
    assert torch.equal(as_images(face, 64), torch.nn.functional.avg_pool2d(from_numpy, 2))


def test_camera_formats_are_equivalent(camera):
    values = camera[0].tolist()
    for given in (values, np.array(values), camera[0], camera):
        assert torch.equal(as_cameras(given, 2), camera.expand(2, 25))


@pytest.mark.parametrize("image, message", [
    (np.zeros((128, 128), np.uint8), "HxWx3"),
    (np.zeros((128, 128, 3), np.float32), "uint8"),
    (np.zeros((128, 128, 4), np.uint8), "HxWx3"),
    (torch.zeros(4, 128, 128), r"\[3,H,W\]"),
    (torch.zeros(1, 3, 128, 96), "square"),
    (torch.full((3, 128, 128), 255.0), r"\[-1, 1\]"),
    (torch.zeros(3, 128, 128, dtype=torch.uint8), "float"),
    ("face.png", "PIL image"),
])
def test_wrong_images_give_clear_errors(image, message):
    with pytest.raises(ValueError, match=message):
        as_images(image, 128)


@pytest.mark.parametrize("camera, n, message", [
    ([0.0] * 24, 1, "25 numbers"),
    (torch.zeros(2, 25), 3, "2 cameras for 3"),
    ([float("nan")] * 25, 1, "NaN"),
    ([[0.0] * 25, [0.0] * 3], 2, "25 numbers"),
])
def test_wrong_cameras_give_clear_errors(camera, n, message):
    with pytest.raises(ValueError, match=message):
        as_cameras(camera, n)


def test_wrong_calls_give_clear_errors(models, inversions, face, camera):
    with pytest.raises(ValueError, match="v1 option"):
        invert(models["v2_ps"], face, camera, cttr=True)
    with pytest.raises(ValueError, match="version"):
        TriPlaneNet(version=3)
    batch = Inversion(*(torch.cat([t, t]) for t in (inversions["v1"].ws, inversions["v1"].planes_initial,
                                                    inversions["v1"].planes, inversions["v1"].camera)),
                      generator=models["v1"].decoder)
    with pytest.raises(ValueError, match="3 cameras for 2 faces"):
        batch.render(cameras.camera(torch.zeros(3)))
    with pytest.raises(ValueError, match="points"):
        batch.query(torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="one entry per face"):
        Inversion(batch.ws, batch.planes_initial, batch.planes, batch.camera[:1])
    assert batch.render(camera, neural_rendering_resolution=16)[0].shape[0] == 2
