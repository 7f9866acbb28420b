"""One flow for every front end: the app's steps, the command line and evaluation make the same head of a photo.

Each front end runs its own entry point (the app's :mod:`triplanenet.app.steps`, ``triplanenet invert`` in
this process, evaluation's :class:`~triplanenet.evaluation.Method` on the saved crop), and the results are
compared: the inversion's tensors, the yaw sweep's pixels and the mesh's vertices.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from triplanenet import cli
from triplanenet.app import steps
from triplanenet.evaluation import methods_for
from triplanenet.inversion import Inversion
from triplanenet.loading import bundled
from triplanenet.pipeline import Pipeline
from triplanenet.preprocess.aligned_folder import FolderDataset

VIEWS = 3
MESH_RESOLUTION = 64

needs_bundled = pytest.mark.skipif(not (bundled.BUNDLED_DIR / "model.safetensors").is_file(),
                                   reason="the bundled model is not in assets/bundled")


@pytest.fixture(scope="module")
def app_head(astronaut):
    """The app's flow: align, invert (v2), the gallery of the sweep, and the mesh."""
    pipeline = Pipeline.from_pretrained("bundled", "cpu")
    alignment = steps.align(pipeline, str(astronaut))
    inversion, _ = steps.invert(pipeline, alignment.crop, alignment.camera, "v2")
    views = [image for image, _ in steps.views(inversion, VIEWS)]
    mesh, _ = steps.mesh(inversion, MESH_RESOLUTION)
    return inversion, views, mesh


@pytest.fixture(scope="module")
def cli_head(astronaut, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "head"
    code = cli.main(["invert", str(astronaut), "--checkpoint", "bundled", "--out", str(out), "--mode", "v2",
                     "--views", str(VIEWS), "--mesh-resolution", str(MESH_RESOLUTION)])
    assert code == 0
    return out


def assert_same_inversion(a: Inversion, b: Inversion) -> None:
    for name in ("ws", "planes_initial", "planes", "camera", "input_image"):
        assert torch.equal(getattr(a, name).cpu(), getattr(b, name).cpu()), name


@needs_bundled
@pytest.mark.slow
def test_the_command_line_makes_the_apps_head(app_head, cli_head):
    inversion, views, mesh = app_head
    assert_same_inversion(Inversion.load(cli_head / "inversion.safetensors"), inversion)
    for i, image in enumerate(views):
        assert np.array_equal(np.asarray(Image.open(cli_head / "views" / f"view_{i:02d}.png")), image), i
    written = trimesh.load(cli_head / "mesh.ply", force="mesh", process=False)
    assert len(written.faces) == len(mesh.faces) > 0
    np.testing.assert_allclose(np.asarray(written.vertices), mesh.vertices, atol=1e-6)


@needs_bundled
@pytest.mark.slow
def test_evaluation_makes_the_apps_head(app_head, cli_head):
    """Evaluation reads the aligned crop as ``triplanenet align --dataset`` stores it and inverts it like the app."""
    alignment = json.loads((cli_head / "alignment.json").read_text())
    (cli_head / "dataset.json").write_text(json.dumps({"labels": [["crop.png", alignment["camera"]]]}))
    photos = FolderDataset(cli_head)
    method = next(m for m in methods_for("bundled") if m.name == "v2")
    assert_same_inversion(method.invert(photos.image(0)[None], photos.cameras[:1]), app_head[0])
