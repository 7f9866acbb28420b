"""Shared test fixtures: the reference data in ../shared and its weight recipe."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PARITY = SHARED / "parity"
FACES = SHARED / "faces"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (CI places ../shared beside the project)")
    return path


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return _require(PARITY)


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return _require(FACES)


@pytest.fixture(scope="session")
def astronaut(tmp_path_factory) -> Path:
    """scikit-image's astronaut (Eileen Collins, NASA: public domain) as a PNG file."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


@pytest.fixture(scope="session")
def recipe(parity_dir):
    """The reference weight recipe (`recipe.fill_module`, `recipe.fill_state_dict`)."""
    spec = importlib.util.spec_from_file_location("parity_recipe", parity_dir / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_benchmark(name: str):
    """A module of ``benchmarks/`` (tests reuse their fields and test-photo builders)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_close_scaled(ours, ref, tol: float = 1e-4, name: str = "") -> None:
    """The parity rule of shared/parity/README.md: max|ours - ref| <= tol * max(1, max|ref|)."""
    ours = torch.as_tensor(ours, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64)
    assert ours.shape == ref.shape, f"{name}: shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    err = (ours - ref).abs().max().item()
    bound = tol * max(1.0, ref.abs().max().item())
    assert err <= bound, f"{name}: max abs error {err:.3g} > {bound:.3g}"


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield
