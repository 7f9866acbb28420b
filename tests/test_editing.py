"""Semantic edits (:mod:`triplanenet.editing`): directions, the edit, its record, its checks, the command line,
and the scores of :mod:`triplanenet.evaluation.edits`.

Most tests use the tiny EG3D snapshot of ../shared/parity with principal-component directions (fast); the
bundled model's shipped attribute directions are tested where they are the point.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import triplanenet
from triplanenet.cli import main as cli_main
from triplanenet.editing import ATTRIBUTES, Directions, Editor, check_generator, directions_for, edit, parse_settings
from triplanenet.editing.directions import (DIRECTIONS_NAME, NAMES_FILE, attribute_directions, cached_components,
                                            component_directions, read_names)
from triplanenet.evaluation.edits import edit_scores, moved_head
from triplanenet.evaluation.heads import evaluation_head, render_truth
from triplanenet.inversion import Inversion, invert
from triplanenet.loading import bundled
from triplanenet.synthetic.codes import HeadCodes
from triplanenet.synthetic.params import field_columns


@pytest.fixture(scope="module")
def tiny_generator(parity_dir):
    return triplanenet.load_generator(parity_dir / "eg3d_tiny_snapshot.pkl")


@pytest.fixture(scope="module")
def components(tiny_generator) -> Directions:
    return component_directions(tiny_generator, samples=2000)


@pytest.fixture(scope="module")
def inversion(tiny_generator) -> Inversion:
    """A tiny-generator head whose tri-planes carry a correction of their own (as the branch or refinement adds)."""
    torch.manual_seed(0)
    c = triplanenet.cameras.camera(0.2, 0.0)
    with torch.no_grad():
        ws = tiny_generator.mapping(torch.randn(1, tiny_generator.z_dim), c)
        planes = tiny_generator.planes(ws)
    return Inversion(ws, planes, planes + 0.1 * torch.randn_like(planes), c, generator=tiny_generator)


@pytest.fixture(scope="module")
def bundled_inverter():
    return triplanenet.load_inverter("bundled")


def test_amount_zero_gives_back_the_inversion_bit_for_bit(inversion, components):
    same = edit(inversion, components, {"component_1": 0, "component_2": "0"})
    for name in ("ws", "planes", "planes_initial"):
        assert torch.equal(getattr(same, name), getattr(inversion, name))
    assert same.edits == {}


def test_the_edit_moves_ws_and_keeps_the_planes_correction(inversion, components, tiny_generator):
    edited = edit(inversion, components, {"component_1": 1.5, "component_3": -1})
    expected_ws = inversion.ws + 1.5 * components.vector("component_1") - components.vector("component_3")
    assert torch.allclose(edited.ws, expected_ws, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(edited.planes_initial, tiny_generator.planes(edited.ws))
        correction = inversion.planes - tiny_generator.planes(inversion.ws)
    assert torch.allclose(edited.planes - edited.planes_initial, correction, atol=1e-5)
    assert not torch.allclose(edited.planes, inversion.planes)
    assert edited.edits == {"component_1": 1.5, "component_3": -1.0}


def test_edits_compose_and_are_recorded_in_the_saved_file(inversion, components, tiny_generator, tmp_path):
    twice = edit(edit(inversion, components, {"component_2": 1.0}), components, {"component_2": 0.5, "component_4": 2})
    once = edit(inversion, components, {"component_2": 1.5, "component_4": 2})
    assert torch.allclose(twice.ws, once.ws, atol=1e-6) and torch.allclose(twice.planes, once.planes, atol=1e-4)
    assert twice.edits == once.edits == {"component_2": 1.5, "component_4": 2.0}
    for suffix in (".safetensors", ".npz"):
        loaded = Inversion.load(twice.save(tmp_path / f"edited{suffix}"), tiny_generator)
        assert loaded.edits == twice.edits and torch.equal(loaded.planes, twice.planes)
    image, _ = once.render()
    assert image.shape[0] == 1 and torch.isfinite(image).all()


def test_a_saved_edit_record_that_is_not_name_to_number_is_refused(inversion, tmp_path):
    tensors = {name: t.clone() for name, t in inversion.tensors().items()}
    for record in ('["smile"]', '{"smile": "lots"}', "not json"):
        metadata = {"format": "triplanenet.Inversion", "format_version": "1", "method": "v2", "edits": record}
        save_file(tensors, str(tmp_path / "head.safetensors"), metadata=metadata)
        with pytest.raises(ValueError, match="'edits' must be a JSON object of name -> number"):
            Inversion.load(tmp_path / "head.safetensors")


def test_an_editor_starts_every_edit_from_the_original(inversion, components):
    editor = Editor(inversion, components)
    first, second = editor({"component_1": 2}), editor({"component_1": -1})
    assert second.edits == {"component_1": -1.0}
    assert torch.allclose(second.ws, inversion.ws - components.vector("component_1"), atol=1e-6)
    assert not torch.equal(first.ws, second.ws)


@pytest.mark.parametrize("amounts, message", [
    ({"smiel": 1}, "unknown edit 'smiel'; this checkpoint offers component_1, component_2"),
    ({"component_1": "lots"}, "must be a number, got 'lots'"),
    ({"component_1": 3.5}, "between -3 and 3"),
    ({"component_1": float("nan")}, "between -3 and 3"),
])
def test_bad_amounts_and_names_are_refused_readably(inversion, components, amounts, message):
    with pytest.raises(ValueError, match=message):
        edit(inversion, components, amounts)


def test_settings_parse_name_equals_amount(components):
    assert parse_settings(["component_1=1.5", " component_2 = -2 ", "component_1=0.5"], components) == {
        "component_1": 0.5, "component_2": -2.0}
    with pytest.raises(ValueError, match="NAME=AMOUNT"):
        parse_settings(["component_1"], components)


def test_components_are_unit_spread_orthogonal_and_cached(tiny_generator, tmp_path):
    directions = cached_components(tiny_generator, tmp_path)
    assert directions.names[0] == "component_1" and len(directions.names) == 10
    cached = list(tmp_path.glob("components-*.safetensors"))
    assert len(cached) == 1
    again = cached_components(tiny_generator, tmp_path)
    assert torch.equal(again.vectors, directions.vectors)
    axes = directions.vectors[:, 0].double()
    gram = (axes / axes.norm(dim=1, keepdim=True)) @ (axes / axes.norm(dim=1, keepdim=True)).T
    assert torch.allclose(gram, torch.eye(10, dtype=torch.float64), atol=1e-2)
    norms = axes.norm(dim=1)
    assert (norms[:-1] >= norms[1:] - 1e-3).all()


def test_component_names_come_from_a_small_json(tiny_generator, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIPLANENET_CACHE", str(tmp_path / "cache"))
    checkpoint = tmp_path / "model"
    checkpoint.mkdir()
    (checkpoint / NAMES_FILE).write_text(json.dumps({"component_2": "age"}))
    assert directions_for(str(checkpoint), tiny_generator).names[:3] == ("component_1", "age", "component_3")
    (checkpoint / NAMES_FILE).write_text(json.dumps({"component_11": "age"}))
    with pytest.raises(ValueError, match="names component_11, which do not exist"):
        directions_for(str(checkpoint), tiny_generator)
    (checkpoint / NAMES_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a JSON object of component -> name"):
        read_names(checkpoint / NAMES_FILE)


def test_missing_or_malformed_directions_files_say_so(tmp_path, tiny_generator):
    with pytest.raises(ValueError, match="no edit directions: .* is missing"):
        Directions.load(tmp_path / DIRECTIONS_NAME)
    (tmp_path / DIRECTIONS_NAME).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not an edit directions file"):
        Directions.load(tmp_path / DIRECTIONS_NAME)
    (tmp_path / DIRECTIONS_NAME).unlink()
    shipped = Directions.load(bundled.BUNDLED_DIR / DIRECTIONS_NAME)
    shipped.save(tmp_path / DIRECTIONS_NAME)
    with pytest.raises(ValueError, match=r"directions of \(14, 128\) w codes, but the generator has"):
        directions_for(str(tmp_path), tiny_generator)


def test_an_inversion_of_another_generator_is_refused_naming_both(inversion, bundled_inverter):
    with pytest.raises(ValueError, match=r"head.safetensors was made by another generator .* than checkpoint "
                                         r"'bundled' \(14 w codes of 128\)"):
        check_generator(inversion, bundled_inverter.decoder, "head.safetensors", "bundled")


def test_the_bundled_attribute_directions_are_shipped_and_exact(bundled_inverter):
    generator = bundled_inverter.decoder
    shipped = directions_for("bundled", generator)
    assert shipped.kind == "attributes" and shipped.names == tuple(ATTRIBUTES) and len(shipped.names) >= 8
    assert (bundled.BUNDLED_DIR / DIRECTIONS_NAME).stat().st_size < 100_000
    recomputed = attribute_directions(generator, HeadCodes.read(bundled.BUNDLED_DIR), samples=64)
    for name in ("smile", "skin_color"):
        cosine = torch.nn.functional.cosine_similarity(recomputed.vector(name).flatten(),
                                                       shipped.vector(name).flatten(), dim=0)
        assert cosine > 0.95, name


def test_the_truth_moves_one_parameter_by_one_spread_and_flips_switches():
    codes = HeadCodes.read(bundled.BUNDLED_DIR)
    params, _ = evaluation_head(0)
    moved, amount = moved_head(params, "skin_color", codes)
    change = moved.to_tensor() - params.to_tensor()
    columns = field_columns("skin_color")
    assert amount == pytest.approx(1.0) and torch.allclose(change[0, columns], codes.std[columns])
    assert change[0, :columns.start].abs().max() == 0 and change[0, columns.stop:].abs().max() == 0
    glasses, amount = moved_head(params, "glasses", codes)
    before = float(params.glasses[0])
    assert float(glasses.glasses[0]) == 1 - before
    assert amount == pytest.approx((1 - 2 * before) / float(codes.std[field_columns("glasses")]))


def test_gain_and_leak_score_the_edit_against_the_moved_truth():
    truth = torch.zeros(1, 3, 16, 16)
    moved = truth.clone()
    moved[..., 4:8, 4:8] = 0.8
    before = truth + 0.1 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    toward = before.clone()
    toward[..., 4:8, 4:8] = moved[..., 4:8, 4:8]
    good = edit_scores(before, toward, truth, moved)
    assert good["gain_db"] > 3 and good["leak_db"] == 0.0
    assert good["region"] == pytest.approx(8 * 8 / 256)
    away = before.clone()
    away[..., 12:, 12:] += 0.5
    bad = edit_scores(before, away, truth, moved)
    assert bad["gain_db"] < 0 and bad["leak_db"] < 0


def test_edit_command_writes_the_edited_head_and_lists_directions(bundled_inverter, tmp_path, capsys):
    params, camera = evaluation_head(1)
    truth, _ = render_truth(params, camera, bundled_inverter.decoder.img_resolution)
    saved = invert(bundled_inverter, truth, camera).save(tmp_path / "head.safetensors")
    assert cli_main(["edit", "--list"]) == 0
    assert "smile" in capsys.readouterr().out
    out = tmp_path / "edited"
    assert cli_main(["edit", str(saved), "--set", "smile=1.5", "--set", "glasses=1", "--out", str(out),
                     "--views", "2", "--mesh-resolution", "64"]) == 0
    edited = Inversion.load(out / "inversion.safetensors")
    assert edited.edits == {"smile": 1.5, "glasses": 1.0}
    assert (out / "views" / "gallery.png").is_file() and (out / "views" / "depth_01.npy").is_file()
    capsys.readouterr()
    assert cli_main(["edit", str(saved), "--set", "smiel=1", "--out", str(out)]) == 2
    assert "unknown edit 'smiel'; this checkpoint offers smile, glasses" in capsys.readouterr().err
    assert cli_main(["edit", str(tmp_path / "none.safetensors"), "--set", "smile=1", "--out", str(out)]) == 2
    assert "invert a photo first" in capsys.readouterr().err
    assert cli_main(["edit", str(saved), "--set", "smile=4", "--out", str(out)]) == 2
    assert "between -3 and 3" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_edits_writes_gain_and_leak_per_attribute(tmp_path, capsys):
    out = tmp_path / "edits.json"
    assert cli_main(["evaluate", "--seeds", "0", "--edits", "--json", str(out)]) == 0
    edits = json.loads(out.read_text())["edits"]
    assert list(edits) == list(ATTRIBUTES)
    for values in edits.values():
        assert isinstance(values["gain_db"], float) and isinstance(values["leak_db"], float)
        assert values["identity"] is None
    assert "hair_color" in capsys.readouterr().out
    assert cli_main(["evaluate", "--seeds", "0", "--edits", "--true-params"]) == 2
    assert "--edits goes with --seeds or --photos alone" in capsys.readouterr().err
