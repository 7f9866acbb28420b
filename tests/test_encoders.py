"""TriPlaneNet encoders (pSp, v1, v2) against the official reference data in shared/parity.

Layouts are compared with the checkpoint manifests; numbers with the stored outputs
of the official code under the recipe weights (README: "Weight schemes",
"TriPlaneNet encoders", "Tolerances").
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from conftest import assert_close_scaled
from torch import nn

from triplanenet.models.encoders import (GradualStyleEncoder, TriPlaneEncoderV1, TriPlaneEncoderV2,
                                         detect_use_pixelshuffle)

TOL = 1e-4
EQUALIZED = re.compile(r"^psp_encoder\.styles\.\d+\.linear\.(weight|bias)$")
INPUT_SEEDS = {
    "x_psp": (100, (1, 3, 256, 256)),
    "x_v1": (101, (1, 6, 256, 256)),
    "x_v2": (102, (1, 9, 256, 256)),
    "triplanes_v2": (103, (1, 96, 256, 256)),
}
V2_VARIANTS = {"ps": True, "up": False}
V2_MANIFEST_KEYS = {True: "use_pixelshuffle_true", False: "use_pixelshuffle_false"}


def scheme_for(name: str) -> str:
    """The README's weight scheme of a full checkpoint name."""
    return "equalized" if EQUALIZED.match(name) else "fan_in"


def checkpoint_layout(**parts: nn.Module) -> nn.Module:
    """A container whose state-dict names carry the checkpoint prefixes (``psp_encoder.``, ...)."""
    container = nn.Module()
    for prefix, module in parts.items():
        container.add_module(prefix, module)
    return container


def tensor_stats(t: torch.Tensor) -> torch.Tensor:
    """[mean, std (ddof 0), min, max, mean |x|] in float64, as the reference ``*_stats``."""
    x = t.detach().double().flatten()
    return torch.stack([x.mean(), x.std(correction=0), x.min(), x.max(), x.abs().mean()])


@contextmanager
def traced(model: nn.Module, names: list[str], keep: str) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``tensor_stats`` of the outputs of the named submodules while the block runs,
    plus the whole output of submodule ``keep`` under ``"kept"``."""
    found: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable:
        def hook(_module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
            found[name] = tensor_stats(output)
            if name == keep:
                found["kept"] = output
        return hook

    handles = [model.get_submodule(name).register_forward_hook(hook_for(name)) for name in names]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="module")
def reference(parity_dir) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "triplanenet_encoders.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def manifests(parity_dir) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """Encoder entries (no ``decoder.*``) of the three checkpoint layouts, in order."""
    v1 = json.loads((parity_dir / "triplanenet_v1_state_dict.json").read_text())["state_dict"]
    v2 = json.loads((parity_dir / "triplanenet_v2_state_dict.json").read_text())["variants"]
    raw = {"v1": v1}
    raw.update({f"v2_{tag}": v2[V2_MANIFEST_KEYS[ps]]["state_dict"] for tag, ps in V2_VARIANTS.items()})
    return {key: [(name, tuple(shape)) for name, shape in entries if not name.startswith("decoder.")]
            for key, entries in raw.items()}


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    return {name: torch.randn(shape, generator=torch.Generator().manual_seed(seed))
            for name, (seed, shape) in INPUT_SEEDS.items()}


def run_filled(recipe, reference, prefix: str, trace_key: str, model: nn.Module,
               *args: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Fill ``model`` under ``prefix`` with the recipe weights; return its eval output and traces
    (the last traced module's whole output under ``"kept"``)."""
    recipe.fill_module(checkpoint_layout(**{prefix: model}), scheme_for)
    model.eval()
    names = [str(name) for name in reference[f"{trace_key}_trace_names"]]
    with torch.no_grad(), traced(model, names, keep=names[-1]) as traces:
        output = model(*args)
    return output, traces


@pytest.fixture(scope="module")
def psp_run(recipe, reference, inputs):
    return run_filled(recipe, reference, "psp_encoder", "psp", GradualStyleEncoder(), inputs["x_psp"])


@pytest.fixture(scope="module")
def v1_run(recipe, reference, inputs):
    return run_filled(recipe, reference, "triplanenet_encoder", "v1", TriPlaneEncoderV1(), inputs["x_v1"])


@pytest.fixture(scope="module", params=sorted(V2_VARIANTS))
def v2_run(request, recipe, reference, inputs):
    tag = request.param
    model = TriPlaneEncoderV2(use_pixelshuffle=V2_VARIANTS[tag])
    output, traces = run_filled(recipe, reference, "triplanenet_encoder", f"v2_{tag}", model,
                                inputs["x_v2"], inputs["triplanes_v2"])
    return tag, output, traces


def assert_matches_sampled(ours: torch.Tensor, reference: dict[str, np.ndarray], key: str) -> None:
    """Compare with a tensor stored as ``key_shape`` / ``_stats`` / ``_idx`` / ``_val``."""
    assert tuple(ours.shape) == tuple(reference[f"{key}_shape"]), key
    assert_close_scaled(tensor_stats(ours), reference[f"{key}_stats"], TOL, name=f"{key}_stats")
    sampled = ours.reshape(-1)[torch.from_numpy(reference[f"{key}_idx"])]
    assert_close_scaled(sampled, reference[f"{key}_val"], TOL, name=f"{key}_val")


def assert_traces(traces: dict[str, torch.Tensor], reference: dict[str, np.ndarray], key: str) -> None:
    names = [str(name) for name in reference[f"{key}_trace_names"]]
    assert sorted(set(traces) - {"kept"}) == sorted(names), key
    for name, ref in zip(names, reference[f"{key}_trace_stats"]):
        assert_close_scaled(traces[name], ref, TOL, name=f"{key} trace {name}")


def test_inputs_match_reference(inputs, reference):
    for name, tensor in inputs.items():
        np.testing.assert_array_equal(tensor.reshape(-1)[:16].numpy(), reference[f"input_{name}_head"])
        expected_sum = float(reference[f"input_{name}_sum"][0])
        assert tensor.double().sum().item() == pytest.approx(expected_sum, abs=1e-3)


@pytest.mark.parametrize("key", ["v1", "v2_ps", "v2_up"])
def test_state_dict_layout_matches_manifest(manifests, key):
    with torch.device("meta"):
        encoder = TriPlaneEncoderV1() if key == "v1" else TriPlaneEncoderV2(use_pixelshuffle=key == "v2_ps")
        model = checkpoint_layout(psp_encoder=GradualStyleEncoder(n_styles=14), triplanenet_encoder=encoder)
    ours = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    assert ours == manifests[key]


def test_num_batches_tracked_are_int64():
    with torch.device("meta"):
        model = TriPlaneEncoderV1()
    for name, t in model.state_dict().items():
        expected = torch.int64 if name.endswith("num_batches_tracked") else torch.float32
        assert t.dtype == expected, name


@pytest.mark.parametrize("key", ["v2_ps", "v2_up"])
def test_detect_use_pixelshuffle_from_manifest(manifests, key):
    entries = dict(manifests[key])
    assert detect_use_pixelshuffle(entries) is (key == "v2_ps")
    prefix = "triplanenet_encoder."
    encoder_only = {name[len(prefix):]: shape for name, shape in entries.items() if name.startswith(prefix)}
    assert detect_use_pixelshuffle(encoder_only) is (key == "v2_ps")


@pytest.mark.slow
def test_psp_codes_match_reference(psp_run, reference):
    codes, _ = psp_run
    assert codes.shape == (1, 14, 512)
    assert_close_scaled(codes, reference["psp_codes"], TOL, name="psp_codes")


@pytest.mark.slow
def test_psp_traces_match_reference(psp_run, reference):
    assert_traces(psp_run[1], reference, "psp")


@pytest.mark.slow
def test_v1_offsets_match_reference(v1_run, reference):
    offsets, traces = v1_run
    assert_matches_sampled(offsets, reference, "v1_offsets")
    assert_traces(traces, reference, "v1")


@pytest.mark.slow
def test_v2_triplanes_match_reference(v2_run, reference):
    tag, triplanes, traces = v2_run
    assert_matches_sampled(triplanes, reference, f"v2_{tag}_triplanes")
    assert_traces(traces, reference, f"v2_{tag}")


@pytest.mark.slow
def test_v2_head_matches_reference(v2_run, reference):
    tag, _, traces = v2_run
    assert_matches_sampled(traces["kept"], reference, f"v2_{tag}_head")


SMALL_UNITS = (1, 1, 1, 2)
SMALL_CHANNELS = (16, 16, 32, 32)


def test_small_psp_forward_shapes():
    model = GradualStyleEncoder(n_styles=5, input_size=64, style_dim=24, coarse_ind=1, middle_ind=3,
                                units=SMALL_UNITS, channels=SMALL_CHANNELS).eval()
    assert len(model.styles[0].convs) == 2 * 2 and len(model.styles[4].convs) == 2 * 4
    codes = model(torch.randn(2, 3, 64, 64))
    assert codes.shape == (2, 5, 24)


@pytest.mark.slow
def test_small_v1_forward_shapes_and_gradients():
    model = TriPlaneEncoderV1(in_channels=6, out_channels=12, decoder_channels=(32, 16, 16, 8),
                              units=SMALL_UNITS, channels=SMALL_CHANNELS)
    offsets = model(torch.randn(2, 6, 32, 32))
    assert offsets.shape == (2, 12, 32, 32)
    offsets.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("use_pixelshuffle", [True, False])
def test_small_v2_forward_shapes_and_detection(use_pixelshuffle):
    model = TriPlaneEncoderV2(use_pixelshuffle=use_pixelshuffle, in_channels=9, planes_channels=12,
                              decoder_channels=(32, 16, 16, 8), units=SMALL_UNITS, channels=SMALL_CHANNELS)
    model.eval()
    x, triplanes = torch.randn(2, 9, 32, 32), torch.randn(2, 12, 32, 32)
    with torch.no_grad():
        refined = model(x, triplanes)
        delta = model.delta(x, triplanes)
    assert refined.shape == triplanes.shape
    torch.testing.assert_close(refined, triplanes + delta)
    assert detect_use_pixelshuffle(model.state_dict()) is use_pixelshuffle
