"""Per-photo refinement: it renders what the generator renders, fits the photo, keeps the head, and behaves.

The small-model tests use the tiny EG3D snapshot of ../shared/parity (the published
architecture at small sizes); the quality test uses the bundled model on a held-out
synthetic head, whose other views are known exactly.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import ROOT

import triplanenet
from triplanenet import Inversion, TriPlaneGenerator, cameras, configs, invert
from triplanenet.evaluation import ground_truth, psnr
from triplanenet.refinement.fit import (DEFAULT_STEPS, RefineSettings, check_steps, fit_resolution, refine,
    refinement_steps)
from triplanenet.rendering.ray_marcher import distortion

QUICK = RefineSettings(steps=3, resolution=32, density_points=512)


@pytest.fixture(scope="module")
def tiny_generator(parity_dir) -> TriPlaneGenerator:
    return triplanenet.load_generator(parity_dir / "eg3d_tiny_snapshot.pkl")


@pytest.fixture(scope="module")
def inversion(tiny_generator) -> Inversion:
    """A head of the tiny generator with a random 'photo' to fit."""
    torch.manual_seed(0)
    c = cameras.camera(0.3, -0.1)
    ws = tiny_generator.mapping(torch.randn(1, tiny_generator.z_dim), c)
    planes = tiny_generator.planes(ws)
    photo = torch.rand(1, 3, 128, 128) * 2 - 1
    return Inversion(ws, planes, planes.clone(), c, photo, "v2", generator=tiny_generator)


def test_photo_and_mirror_as_one_scene_are_the_generators_renders_at_the_fit_resolution(tiny_generator, inversion):
    c = torch.cat([inversion.camera, cameras.mirror(inversion.camera)])
    with torch.no_grad():
        expected = tiny_generator.synthesis(inversion.ws.expand(2, -1, -1), c, neural_rendering_resolution=32,
                                            planes=inversion.planes.expand(2, -1, -1, -1, -1), deterministic=True)
        scene = tiny_generator.synthesis_scenes(inversion.ws, inversion.planes, c, 32, deterministic=True)
    torch.testing.assert_close(scene["image"], expected["image"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scene["image_opacity"], expected["image_opacity"], atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_refinement_fits_the_photo_and_is_deterministic(inversion):
    losses = [state.loss for state in refinement_steps(inversion, RefineSettings(**{**QUICK.__dict__, "steps": 6}))]
    assert len(losses) == 6 and losses[-1] < losses[0]
    first, second = refine(inversion, settings=QUICK), refine(inversion, settings=QUICK)
    assert torch.equal(first.planes, second.planes) and torch.equal(first.ws, second.ws)
    assert not torch.equal(first.planes, inversion.planes)
    assert torch.equal(first.planes_initial, inversion.planes_initial)
    assert (first.method, first.neural_rendering_resolution) == ("v2+refined", 32)
    other_seed = refine(inversion, settings=RefineSettings(**{**QUICK.__dict__, "seed": 1}))
    assert not torch.equal(first.planes, other_seed.planes)


@pytest.mark.slow
def test_the_generator_is_left_as_it_was(tiny_generator, inversion):
    before = copy.deepcopy(tiny_generator.state_dict())
    flags = [p.requires_grad for p in tiny_generator.parameters()]
    refine(inversion, settings=QUICK)
    assert all(torch.equal(before[k], v) for k, v in tiny_generator.state_dict().items())
    assert flags == [p.requires_grad for p in tiny_generator.parameters()]


@pytest.mark.slow
def test_progress_sees_every_step_and_can_stop(inversion):
    seen = []
    refine(inversion, settings=QUICK, progress=lambda state: seen.append((state.step, state.steps)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    stopped = []
    result = refine(inversion, settings=QUICK, progress=lambda state: stopped.append(state.step) or False)
    assert stopped == [1]
    assert torch.equal(result.planes, next(refinement_steps(inversion, QUICK)).inversion.planes)


def test_a_refined_inversion_round_trips_with_its_resolution(inversion, tmp_path, tiny_generator):
    refined = refine(inversion, settings=QUICK)
    for suffix in (".safetensors", ".npz"):
        loaded = Inversion.load(refined.save(tmp_path / f"head{suffix}"), tiny_generator)
        assert (loaded.method, loaded.neural_rendering_resolution) == ("v2+refined", 32)
        torch.testing.assert_close(loaded.render()[0], refined.render()[0])
        assert refined.render()[1].shape[-1] == 32


@pytest.mark.parametrize("steps", [0, 1001, -3, 2.5, "abc", float("nan"), None])
def test_bad_step_counts_are_refused_readably(steps):
    with pytest.raises(ValueError, match="whole number from 1 to 1000"):
        check_steps(steps)


def test_step_counts_in_range_pass():
    assert (check_steps(1), check_steps("40"), check_steps(1000.0)) == (1, 40, 1000)
    assert 1 <= DEFAULT_STEPS <= 1000


def test_an_inversion_without_its_photo_says_what_is_missing(inversion):
    photoless = Inversion(inversion.ws, inversion.planes_initial, inversion.planes, inversion.camera,
                          generator=inversion.generator)
    with pytest.raises(ValueError, match="no photo"):
        refine(photoless, steps=1)


def test_fit_resolution_is_the_super_resolutions_input(inversion):
    assert fit_resolution(inversion) == 64


@pytest.mark.slow
def test_full_size_architecture_refines_end_to_end():
    """FFHQ-512's architecture (8X super-resolution, 512 px) with small backbone channels: one step."""
    init_kwargs, _ = configs.get("ffhq512-128")
    init_kwargs.update(channel_base=1024, channel_max=32)
    torch.manual_seed(0)
    G = TriPlaneGenerator(**init_kwargs).eval()
    c = cameras.camera(0.2, 0.0)
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim), c)
        planes = G.planes(ws)
    head = Inversion(ws, planes, planes.clone(), c, torch.zeros(1, 3, 512, 512), "v2", generator=G)
    assert fit_resolution(head) == 128
    (state,) = refinement_steps(head, RefineSettings(steps=1, resolution=32, density_points=256))
    assert np.isfinite(state.loss)
    image, depth = state.inversion.render()
    assert image.shape == (1, 3, 512, 512) and depth.shape == (1, 1, 32, 32)


@pytest.mark.slow
def test_bundled_refinement_sharpens_the_same_view_and_keeps_the_others():
    """A held-out head: +2 dB at its own camera in 10 steps, novel views at yaw +-0.5 no worse than v2 - 0.5 dB."""
    v2 = triplanenet.load_inverter("bundled")
    truth = ground_truth(0, v2.decoder.img_resolution)
    encoded = invert(v2, truth.image[:1], truth.cameras[:1])
    refined = refine(encoded, steps=10)
    before, after = psnr(encoded.render(truth.cameras)[0], truth.image), psnr(refined.render(truth.cameras)[0],
                                                                                 truth.image)
    assert after[0] > before[0] + 2.0, (before, after)
    assert np.all(after[1:].numpy() > before[1:].numpy() - 0.5), (before, after)


@pytest.mark.slow
def test_invert_command_refines_and_refuses_bad_step_counts(tmp_path, capsys):
    from triplanenet.cli import main as cli_main

    photo = ROOT / "examples" / "astronaut.png"
    out = tmp_path / "out"
    assert cli_main(["invert", str(photo), "--out", str(out), "--refine-steps", "2", "--views", "1",
                     "--mesh-resolution", "64"]) == 0
    assert "refining: step 2/2" in capsys.readouterr().err
    saved = Inversion.load(out / "inversion.safetensors")
    assert (saved.method, saved.neural_rendering_resolution) == ("v2+refined", 64)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["invert", str(photo), "--out", str(out), "--refine-steps", "0"])
    assert exit_info.value.code == 2 and "whole number from 1 to 1000" in capsys.readouterr().err
    assert cli_main(["invert", str(photo), "--out", str(out), "--mode", "v3"]) == 2
    assert "mode 'v3' is not available" in capsys.readouterr().err


def brute_force_distortion(weights: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """The distortion of one ray by its definition (every pair of intervals), depths already in 0..1."""
    w, t = weights.double(), depths.double()
    mid, width = (t[1:] + t[:-1]) / 2, t[1:] - t[:-1]
    return (w[:, None] * w[None, :] * (mid[:, None] - mid[None, :]).abs()).sum() + (w * w * width).sum() / 3


def test_distortion_is_its_definition_and_small_for_a_surface():
    torch.manual_seed(0)
    depths = torch.sort(torch.rand(2, 5, 12, 1) * 1.05 + 2.25, dim=2).values
    weights = torch.rand(2, 5, 11, 1) / 11
    got = distortion(weights, depths, 2.25, 3.3)
    assert got.shape == (2, 5, 1)
    for n, r in [(0, 0), (1, 3), (1, 4)]:
        expected = brute_force_distortion(weights[n, r, :, 0], (depths[n, r, :, 0] - 2.25) / 1.05)
        assert got[n, r, 0].item() == pytest.approx(expected.item(), rel=1e-5)
    even = torch.linspace(2.25, 3.3, 12).view(1, 1, 12, 1)
    surface, spread = torch.zeros(1, 1, 11, 1), torch.full((1, 1, 11, 1), 1 / 11)
    surface[0, 0, 5] = 1.0
    assert distortion(surface, even, 2.25, 3.3).item() < distortion(spread, even, 2.25, 3.3).item() / 10


@pytest.mark.slow
def test_the_distortion_term_gathers_each_rays_weight_at_one_depth(tiny_generator, inversion):
    def mean_distortion(head: Inversion) -> float:
        c = torch.cat([head.camera, cameras.mirror(head.camera)])
        with torch.no_grad():
            out = tiny_generator.synthesis_scenes(head.ws, head.planes, c, 32, deterministic=True)
        return float(out["image_distortion"].mean())

    plain = refine(inversion, settings=replace(QUICK, distortion_weight=0.0))
    surface = refine(inversion, settings=replace(QUICK, distortion_weight=10.0))
    assert mean_distortion(surface) < 0.9 * mean_distortion(plain)
