"""``triplanenet align``: JSON output, the crop file, dataset building and readable errors."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from triplanenet import cameras
from triplanenet.commands.common import DEBUG_ENV, guarded
from triplanenet.commands import align

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut test photo")
ROOT = Path(__file__).resolve().parents[1]


def run_align(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="triplanenet align")
    align.add_arguments(parser)
    return align.run(parser.parse_args([str(a) for a in argv]))


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(path, quality=93)
    return path


def test_json_output_has_every_documented_key(photo, tmp_path, capsys):
    crop = tmp_path / "crop.png"
    assert run_align(photo, "--json", "--out", crop) == 0
    out = capsys.readouterr().out
    record = json.loads(out)  # exactly one JSON object on stdout
    for key in ("box", "landmarks", "yaw_deg", "pitch_deg", "camera", "backend", "faces_found"):
        assert key in record, key
    assert len(record["box"]) == 4
    assert np.asarray(record["landmarks"]).shape == (68, 2)
    assert len(record["camera"]) == 25 and all(isinstance(v, float) for v in record["camera"])
    assert record["camera"][16:] == pytest.approx(cameras.intrinsics().numpy().ravel().tolist(), abs=1e-6)
    assert record["backend"] == "dlib" and record["faces_found"] == 1
    assert isinstance(record["yaw_deg"], float) and isinstance(record["pitch_deg"], float)
    assert Image.open(crop).size == (512, 512)


def test_text_output(photo, capsys):
    assert run_align(photo) == 0
    out = capsys.readouterr().out
    for words in ("1 face found", "backend: dlib", "crop box", "yaw", "pitch", "camera (EG3D label, 25 numbers)",
                  "landmarks (68"):
        assert words in out, words
    camera_line = next(line for line in out.splitlines() if line.startswith("camera"))
    assert len(camera_line.split(":", 1)[1].split()) == 25


def test_dataset_from_a_folder(photo, tmp_path, faces_dir, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.open(photo).save(folder / "astronaut.png")
    Image.open(faces_dir / "goae_4.jpg").save(folder / "sub" / "person.jpg")
    (folder / "notes.txt").write_text("not a photo")  # ignored: not a photo suffix
    (folder / "broken.jpg").write_bytes(b"garbage")  # a photo suffix but not an image: skipped
    Image.new("RGB", (300, 300), (90, 120, 160)).save(folder / "sky.png")  # no face: skipped
    out = tmp_path / "dataset"
    assert run_align(folder, "--dataset", out, "--mirror") == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "broken.jpg" in captured.err and "No face found" in captured.err
    assert "wrote 4 crops" in captured.out
    labels = dict((name, label) for name, label in json.loads((out / "dataset.json").read_text())["labels"])
    assert set(labels) == {"astronaut.png", "astronaut_mirror.png", "sub/person.png", "sub/person_mirror.png"}
    for name, label in labels.items():
        assert len(label) == 25
        assert Image.open(out / name).size == (512, 512)
    mirrored = cameras.mirror(torch.tensor([labels["astronaut.png"]], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(labels["astronaut_mirror.png"], mirrored)


def test_dataset_json_summary(photo, tmp_path, capsys):
    assert run_align(photo, "--dataset", tmp_path / "one", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 1 and summary["skipped"] == []


def test_errors_are_one_readable_line_with_exit_code_2(tmp_path, photo, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (bad,), (tmp_path / "missing.png",), (tmp_path,), (bad, "--mirror"), (photo, "--out", tmp_path / "crop.xyz"),
        (empty, "--dataset", tmp_path / "out"),  # a folder without photos
    ]
    for argv in cases:
        assert run_align(*argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_face_index_out_of_range(faces_dir, capsys):
    assert run_align(faces_dir / "3ddfa_trump_hillary.jpg", "--face-index", "5") == 2
    assert "has 2 faces" in capsys.readouterr().err


def test_every_command_shares_one_error_policy(monkeypatch, capsys):
    """``guarded``, which ``align`` and the other commands use: bugs too are one line; $TRIPLANENET_DEBUG re-raises."""
    @guarded
    def buggy(args: argparse.Namespace) -> int:
        raise RuntimeError("an index went wrong")

    @guarded
    def unwritable(args: argparse.Namespace) -> int:
        raise PermissionError(13, "Permission denied", "out/crop.png")

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert buggy(argparse.Namespace()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected failure (RuntimeError: an index went wrong)") and err.count("\n") == 1
    assert unwritable(argparse.Namespace()) == 2
    assert capsys.readouterr().err == "error: Permission denied (out/crop.png)\n"
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(RuntimeError, match="an index went wrong"):
        buggy(argparse.Namespace())


@pytest.mark.subprocess
def test_the_real_command_line_never_shows_a_traceback(tmp_path, photo):
    """Through ``python -m triplanenet.cli``, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    result = subprocess.run([sys.executable, "-m", "triplanenet.cli", "align", str(bad)],
                            capture_output=True, text=True, env=env, timeout=120)
    if "ModuleNotFoundError" in result.stderr and "triplanenet.preprocess" not in result.stderr:
        pytest.skip(f"another sub-command of triplanenet.cli does not import yet: {result.stderr.strip()[-200:]}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    ok = subprocess.run([sys.executable, "-m", "triplanenet.cli", "align", str(photo), "--json"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["faces_found"] == 1
