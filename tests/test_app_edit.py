"""The app's Edit section (issue 21): ``/edit_view`` (a slider release), ``/edit`` (Apply edit) and ``/reset_edit``
on ``app.py`` served on 127.0.0.1 (bundled model, offline), driven by ``gradio_client``; the amounts' checks; and
a page without the section when the directions file is malformed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client", reason="gradio-client is not installed (make test installs requirements.txt)")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

import triplanenet  # noqa: E402
from app_server import AppServer, start_app  # noqa: E402
from test_app import CLIENT_TIMEOUT, picture  # noqa: E402
from triplanenet.app import edit_steps  # noqa: E402
from triplanenet.editing import directions_for  # noqa: E402
from triplanenet.editing.directions import DIRECTIONS_NAME  # noqa: E402
from triplanenet.loading.bundled import BUNDLED_DIR  # noqa: E402

VIEW = (20, 0)
"""The sliders' view (yaw, pitch in degrees) the tests render at."""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> AppServer:
    running = start_app(tmp_path_factory.mktemp("app-edit"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def generator():
    return triplanenet.load_inverter("bundled").decoder


def connect(server: AppServer, tmp_path) -> Client:
    return Client(server.url, verbose=False, download_files=tmp_path / "downloads", analytics_enabled=False,
                  httpx_kwargs={"timeout": CLIENT_TIMEOUT})


def inverted(server: AppServer, astronaut, tmp_path) -> Client:
    """A client whose session holds the astronaut inverted with v2 (no refinement)."""
    app = connect(server, tmp_path)
    _, _, crop, camera = app.predict(handle_file(astronaut), 0, api_name="/align")
    app.predict(handle_file(crop), camera, "v2", api_name="/invert")
    return app


def render(app: Client) -> np.ndarray:
    image, _ = app.predict(*VIEW, api_name="/render")
    return picture(image)


@pytest.mark.server
def test_edit_changes_the_head_amount_zero_and_reset_give_it_back(server, astronaut, tmp_path, generator):
    app = inverted(server, astronaut, tmp_path)
    unedited = render(app)

    preview, _ = app.predict(*VIEW, {"smile": 2, "hair_color": 2}, api_name="/edit_view")
    assert np.abs(picture(preview).astype(int) - unedited).mean() > 1, "the slider's edit did not change the view"
    assert np.array_equal(render(app), unedited), "a slider release changed the session's head"
    zero, _ = app.predict(*VIEW, {"smile": 0}, api_name="/edit_view")
    assert np.array_equal(picture(zero), unedited)

    _, info = app.predict({"smile": 2, "hair_color": "2"}, api_name="/edit")
    assert "Edit applied" in info and "smile +2" in info
    assert np.array_equal(render(app), picture(preview)), "the applied edit is not the one previewed"
    saved = app.predict(api_name="/inversion")
    assert triplanenet.Inversion.load(saved, generator).edits == {"smile": 2.0, "hair_color": 2.0}
    glb, *_ = app.predict(64, api_name="/mesh")
    assert Path(glb).name.split(".")[0].removeprefix("head-") in Path(saved).name, "the mesh is of another head"

    _, info = app.predict({"smile": 1}, api_name="/edit")  # counted from the unedited head, not added
    assert triplanenet.Inversion.load(app.predict(api_name="/inversion"), generator).edits == {"smile": 1.0}
    _, info = app.predict({"smile": 0}, api_name="/edit")
    assert "No edit applied" in info and np.array_equal(render(app), unedited)
    assert triplanenet.Inversion.load(app.predict(api_name="/inversion"), generator).edits == {}

    app.predict({"glasses": 2}, api_name="/edit")
    assert not np.array_equal(render(app), unedited)
    _, info = app.predict(api_name="/reset_edit")
    assert "No edit applied" in info and np.array_equal(render(app), unedited)
    reset = triplanenet.Inversion.load(app.predict(api_name="/inversion"), generator)
    assert reset.edits == {} and reset.method == "v2"
    app.close()


@pytest.mark.server
def test_bad_edits_are_readable_errors(server, astronaut, tmp_path):
    app = connect(server, tmp_path)
    for api_name, args in (("/edit", ({"smile": 1},)), ("/edit_view", (*VIEW, {"smile": 1})), ("/reset_edit", ())):
        with pytest.raises(AppError, match="Invert a photo first"):
            app.predict(*args, api_name=api_name)
    app.close()

    app = inverted(server, astronaut, tmp_path)
    bad = {
        '{"smiel": 1}': "unknown edit 'smiel'; this checkpoint offers smile, glasses, beard",
        '{"smile": "abc"}': "the amount of 'smile' must be a number, got 'abc'",
        '{"smile": null}': "the amount of 'smile' must be a number, got None",
        '{"glasses": true}': "the amount of 'glasses' must be a number, got True",
        '{"smile": 3.5}': "the amount of 'smile' must be between -3 and 3",
        '{"smile": -1e9}': "the amount of 'smile' must be between -3 and 3",
        '[1, 2]': "The edit is a JSON object that maps attributes to amounts",
        'smile=1': "The edit is a JSON object that maps attributes to amounts",
    }
    for amounts, words in bad.items():
        for value in (amounts, *_decoded(amounts)):
            with pytest.raises(AppError) as error:
                app.predict(value, api_name="/edit")
            assert words in str(error.value) and "Traceback" not in str(error.value), (value, str(error.value))
    with pytest.raises(AppError, match="must be between -3 and 3"):
        app.predict(*VIEW, {"smile": 4}, api_name="/edit_view")
    assert server.alive()
    _, info = app.predict({"smile": 1}, api_name="/edit")
    assert "Edit applied" in info, "the session does not edit after its errors"
    app.close()


def _decoded(text: str) -> list[object]:
    """``text`` as the JSON value a client would send, where it is one."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return []


def test_amounts_are_checked_like_the_command_line(generator):
    directions = directions_for("bundled", generator)
    assert edit_steps.parse_amounts('{"smile": "1.5", "glasses": 2}', directions) == {"smile": 1.5, "glasses": 2.0}
    assert edit_steps.slider_amounts([0] * len(directions.names), directions) == dict.fromkeys(directions.names, 0)
    for value in (True, False):
        with pytest.raises(ValueError, match="must be a number"):
            edit_steps.parse_amounts({"smile": value}, directions)
    with pytest.raises(ValueError, match="expected 10 slider values"):
        edit_steps.slider_amounts([0], directions)


def test_a_malformed_directions_file_leaves_the_page_without_edit(tmp_path, capsys):
    import app
    from triplanenet.app import Workspace
    from triplanenet.app.turns import Turns
    from triplanenet.inversion.modes import load_model_set
    from triplanenet.pipeline import Pipeline

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(BUNDLED_DIR, checkpoint)
    (checkpoint / DIRECTIONS_NAME).write_bytes(b"not a safetensors file")
    demo = app.build_app(Pipeline(load_model_set(str(checkpoint), "cpu")), Workspace(root=tmp_path / "outputs"),
                         Turns())
    names = {dependency.get("api_name") for dependency in demo.config["dependencies"]}
    assert "invert" in names and not names & {"edit", "edit_view", "reset_edit"}
    assert f"no Edit section: the edit directions of '{checkpoint}' cannot be used" in capsys.readouterr().err
