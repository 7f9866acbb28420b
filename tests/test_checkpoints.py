"""Loading every checkpoint kind, and refusing hostile ones."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, assert_close_scaled
import triplanenet
from triplanenet.loading import CheckpointError
from triplanenet.loading.snapshot import read_network_pickle


@pytest.fixture(scope="module")
def snapshot_path(parity_dir):
    return parity_dir / "eg3d_tiny_snapshot.pkl"


@pytest.fixture(scope="module")
def tiny(snapshot_path):
    return triplanenet.load_generator(snapshot_path)


@pytest.fixture(scope="module")
def expected(parity_dir):
    return dict(np.load(parity_dir / "eg3d_tiny_snapshot_expected.npz"))


def render(G, ref):
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(ref["z"]), torch.from_numpy(ref["c_cond"]),
                       truncation_psi=0.7, truncation_cutoff=14)
        out = G.synthesis(ws, torch.from_numpy(ref["c_render"]), deterministic=True)
    return ws, out


@pytest.mark.slow
def test_tiny_snapshot_reproduces_official_outputs(tiny, expected):
    assert tiny.neural_rendering_resolution == 64
    assert tiny.rendering_kwargs["depth_resolution"] == 12
    ws, out = render(tiny, expected)
    assert_close_scaled(ws, expected["ws"], name="ws")
    for key in ("image_raw", "image_depth", "image"):
        assert_close_scaled(out[key], expected[key], name=key)
    planes = out["planes"].reshape(-1).numpy()[expected["planes_idx"]]
    assert_close_scaled(planes, expected["planes_val"], name="planes")
    features = out["feature_image"].reshape(-1).numpy()[expected["feature_image_idx"]]
    assert_close_scaled(features, expected["feature_image_val"], name="features")
    with torch.no_grad():
        q = tiny.sample_mixed(torch.from_numpy(expected["query_points"]), None, ws[:1])
    assert_close_scaled(q["sigma"], expected["query_sigma"], name="sigma")
    assert_close_scaled(q["rgb"], expected["query_rgb"], name="rgb")


def test_snapshot_state_dicts_rebuilt_in_official_order(snapshot_path, parity_dir):
    manifest = json.loads((parity_dir / "eg3d_tiny_snapshot.json").read_text())
    snapshot = read_network_pickle(snapshot_path)
    for key in ("G_ema", "D"):
        ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in snapshot[key].state_dict().items()]
        assert ours == manifest[key]["state_dict"]
    g, g_ema = snapshot["G"].state_dict(), snapshot["G_ema"].state_dict()
    assert not torch.equal(g["decoder.net.0.weight"], g_ema["decoder.net.0.weight"]), "G and G_ema must differ"


@pytest.mark.slow
def test_save_pretrained_round_trip(tiny, expected, tmp_path):
    tiny.save_pretrained(tmp_path / "tiny")
    assert {p.name for p in (tmp_path / "tiny").iterdir()} == {"config.json", "model.safetensors"}
    again = triplanenet.load_generator(tmp_path / "tiny")
    for (k1, v1), (k2, v2) in zip(tiny.state_dict().items(), again.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert again.rendering_kwargs == tiny.rendering_kwargs
    assert again.neural_rendering_resolution == tiny.neural_rendering_resolution
    assert torch.equal(render(again, expected)[1]["image"], render(tiny, expected)[1]["image"])


@pytest.mark.slow
def test_triplanenet_converted_pth(tiny, expected, tmp_path):
    """TriPlaneNet distributes EG3D as a .pth dict with ``init_kwargs`` and a ``G_ema`` state dict."""
    path = tmp_path / "ffhq-converted.pth"
    torch.save({"init_kwargs": tiny.init_kwargs, "G_ema": tiny.state_dict(),
                "rendering_kwargs": tiny.rendering_kwargs, "neural_rendering_resolution": 64,
                "latent_avg": tiny.backbone.mapping.w_avg.clone()}, path)
    G = triplanenet.load_generator(path)
    assert torch.equal(render(G, expected)[1]["image"], render(tiny, expected)[1]["image"])


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _RunsCommand(marker)}, protocol=4))
    with pytest.raises(CheckpointError, match=r"refused.*'(os|posix)\.system'"):
        triplanenet.load_generator(path)
    assert not marker.exists()


def test_unknown_global_is_refused(tmp_path):
    path = tmp_path / "eval.pkl"
    path.write_bytes(b"\x80\x04cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(CheckpointError, match="builtins.eval"):
        triplanenet.load_generator(path)


def test_hostile_pth_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"G_ema": {}, "init_kwargs": _RunsCommand(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        triplanenet.load_generator(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x80\x04\x95garbage"])
def test_corrupt_files_give_clear_errors(tmp_path, content):
    path = tmp_path / "broken.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        triplanenet.load_generator(path)


def test_missing_file_and_offline_hub_id():
    with pytest.raises(CheckpointError, match="not found"):
        triplanenet.load_generator("./no/such/file.pkl")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        triplanenet.load_generator("triplanenet-tests/not-cached-anywhere")


@pytest.mark.subprocess
def test_cli_info(snapshot_path):
    result = subprocess.run([sys.executable, "-m", "triplanenet.cli", "info", str(snapshot_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["parameters"] == 1641640 and info["neural_rendering_resolution"] == 64


@pytest.mark.subprocess
def test_cli_info_on_bad_file(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"garbage")
    result = subprocess.run([sys.executable, "-m", "triplanenet.cli", "info", str(bad)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
