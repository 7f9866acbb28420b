"""The Gradio app end to end: ``app.py`` served on 127.0.0.1, driven by ``gradio_client`` like a script would.

One server (bundled model, offline) for the module: the whole flow on scikit-image's
astronaut photo with every output file checked, bad inputs as readable errors, and
8 concurrent sessions with separate files and bounded memory.
"""
from __future__ import annotations

import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

gradio_client = pytest.importorskip("gradio_client", reason="gradio-client is not installed (make test installs requirements.txt)")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from app_server import AppServer, start_app, wait_for  # noqa: E402
import triplanenet  # noqa: E402
from triplanenet.inversion.modes import BUNDLED_NOTE, MODE_LABELS, load_model_set
from triplanenet.loading.bundled import BUNDLED_DIR  # noqa: E402
from triplanenet.outputs.views import to_uint8

SESSIONS = 8
RSS_GROWTH_LIMIT_MIB = 1500
"""8 sessions each keep an inversion (two 3x32x256x256 float32 tri-planes, 50 MB) plus transient renders."""
RSS_AFTER_CLOSE_LIMIT_MIB = 250
"""Closed sessions free their inversions and the memory goes back to the system."""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> AppServer:
    running = start_app(tmp_path_factory.mktemp("app"))
    yield running
    running.stop()


CLIENT_TIMEOUT = 60
"""Seconds a client waits for the page config: 8 clients connect at once to a server busy with their work."""


def client(server: AppServer, downloads: Path | bool) -> Client:
    return Client(server.url, verbose=False, download_files=downloads, analytics_enabled=False,
                  httpx_kwargs={"timeout": CLIENT_TIMEOUT})


def picture(path: str) -> np.ndarray:
    """An output image file decoded to [H,W,3] uint8."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def load_download(path: str):
    """A mesh download as a ``trimesh.Trimesh`` (.glb, .ply, or the one .obj in a .obj.zip)."""
    import trimesh

    if not path.endswith(".zip"):
        return trimesh.load(path, force="mesh", process=False)
    with zipfile.ZipFile(path) as archive:
        [name] = archive.namelist()
        assert name == Path(path).stem, name
        with archive.open(name) as obj:
            return trimesh.load(obj, file_type="obj", force="mesh", process=False)


def session_files(server: AppServer) -> dict[str, list[str]]:
    """The files in each session folder, by folder name."""
    if not server.sessions.exists():
        return {}
    return {folder.name: sorted(p.name for p in folder.iterdir()) for folder in server.sessions.iterdir()
            if folder.is_dir()}


@pytest.mark.server
def test_whole_flow_on_a_photo(server, astronaut, tmp_path):
    app = client(server, tmp_path / "downloads")
    preview, summary, crop, camera = app.predict(handle_file(astronaut), 0, api_name="/align")
    assert picture(preview).shape == (512, 512, 3) and picture(crop).shape == (512, 512, 3)
    assert "1 face found" in summary and "yaw" in summary
    assert len(camera) == 25 and all(np.isfinite(camera))

    for mode in ("w+", "v1", "v2"):  # the bundled model offers all three; v2 last stays the session's result
        comparison, info = app.predict(handle_file(crop), camera, mode, api_name="/invert")
        assert MODE_LABELS[mode] in info
    side_by_side = picture(comparison)
    size = side_by_side.shape[0]
    assert side_by_side.shape == (size, 2 * size, 3)

    gallery = app.predict(3, api_name="/views")
    assert [item["caption"] for item in gallery] == ["yaw -35°", "yaw +0°", "yaw +35°"]
    assert all(picture(item["image"]).shape == (size, size, 3) for item in gallery)

    depth_picture, depth_file = app.predict(api_name="/depth")
    assert picture(depth_picture).ndim == 3
    depth = np.load(depth_file)
    assert depth.shape == (512, 512) and depth.dtype == np.float32 and np.isfinite(depth).all()

    glb, figure, mesh_files, note = app.predict(64, api_name="/mesh")
    assert figure["type"] == "plotly" and "64^3" in note
    assert sorted(Path(p).name.split(".", 1)[1] for p in mesh_files) == ["glb", "obj.zip", "ply"]
    for path in [glb, *mesh_files]:
        mesh = load_download(path)
        assert len(mesh.faces) > 0, path
        colours = np.asarray(mesh.visual.vertex_colors)
        assert colours.shape == (len(mesh.vertices), 4), path
        assert np.ptp(colours[:, :3]) > 0, f"{path}: vertex colours are all equal"

    novel, novel_depth = app.predict(20, 5, api_name="/render")
    assert picture(novel).shape == (size, size, 3) and picture(novel_depth).ndim == 3

    video = app.predict(8, api_name="/video")
    import imageio.v3 as iio

    frames = iio.imread(video)
    assert frames.shape[0] == 8 and frames.shape[1:3] == (size, size)

    saved = triplanenet.Inversion.load(app.predict(api_name="/inversion"),
                                       triplanenet.load_inverter("bundled").decoder)
    assert saved.method == "v2" and saved.planes.shape[-3:] == (32, 256, 256)
    image, _ = saved.render()
    shown = side_by_side[:, size:].astype(int)
    assert np.abs(to_uint8(image[0]).astype(int) - shown).max() <= 2, "the saved inversion is not the one shown"

    [(key, names)] = [(key, names) for key, names in session_files(server).items() if any(
        name.startswith("inversion-") for name in names)]
    result_id = Path(glb).stem.removeprefix("head-")
    assert all(result_id in name for name in names) and len(names) >= 6
    app.close()
    assert wait_for(lambda: key not in session_files(server)), "the session folder outlived the session"


@pytest.mark.server
def test_bad_inputs_are_readable_errors(server, astronaut, tmp_path):
    app = client(server, tmp_path / "downloads")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"these bytes are not an image")
    y, x = np.mgrid[0:480, 0:640]
    no_face = tmp_path / "gradient.png"
    Image.fromarray(np.stack([x * 255 // 639, y * 255 // 479, np.full_like(x, 128)], -1).astype(np.uint8)).save(no_face)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (13_000, 13_000)).save(bomb)  # 20 kB that decode to 169 megapixels
    expected = {not_an_image: "not an image", no_face: "No face found", bomb: "decompression-bomb"}
    for path, words in expected.items():
        with pytest.raises(AppError) as error:
            app.predict(handle_file(path), 0, api_name="/align")
        assert words in str(error.value) and "Traceback" not in str(error.value)

    with pytest.raises(AppError, match="There is no 3D head yet"):
        app.predict(3, api_name="/views")
    with pytest.raises(AppError, match="Face 5 was asked for"):
        app.predict(handle_file(astronaut), 5, api_name="/align")  # face 5 of a one-face photo
    _, _, crop, camera = app.predict(handle_file(astronaut), 0, api_name="/align")
    with pytest.raises(AppError, match="camera must be 25 numbers"):
        app.predict(handle_file(crop), camera[:7], "v2", api_name="/invert")
    app.predict(handle_file(crop), camera, "w+", api_name="/invert")
    with pytest.raises(AppError, match="The mesh resolution must be a number between 64 and 512, got 1000"):
        app.predict(1000, api_name="/mesh")
    assert server.alive()
    assert len(app.predict(2, api_name="/views")) == 2, "the session does not work after its errors"
    app.close()


@pytest.mark.server
def test_refine_fits_the_photo_and_the_rest_follows(server, astronaut, tmp_path):
    app = client(server, tmp_path / "downloads")
    with pytest.raises(AppError, match="There is no 3D head yet"):
        app.predict(5, api_name="/refine")
    _, _, crop, camera = app.predict(handle_file(astronaut), 0, api_name="/align")
    encoded, _ = app.predict(handle_file(crop), camera, "v2", api_name="/invert")
    for bad in (0, 201, 1000, "abc", None, True):
        with pytest.raises(AppError, match="The number of refinement steps must be a number between 1 and 200"):
            app.predict(bad, api_name="/refine")
    with pytest.raises(AppError, match="The number of refinement steps must be a whole number, got 2.5"):
        app.predict(2.5, api_name="/refine")
    refined, info = app.predict(8, api_name="/refine")
    assert "Refined" in info and "8 steps" in info

    def error(comparison: str) -> float:
        """Mean absolute difference between the two halves (input | reconstruction) of a comparison."""
        pair = picture(comparison).astype(float)
        size = pair.shape[0]
        return float(np.abs(pair[:, :size] - pair[:, size:]).mean())

    assert error(refined) < 0.8 * error(encoded), "refinement did not bring the reconstruction closer to the photo"
    saved = triplanenet.Inversion.load(app.predict(api_name="/inversion"),
                                       triplanenet.load_inverter("bundled").decoder)
    assert saved.method == "v2+refined" and saved.neural_rendering_resolution == 64
    shown = picture(refined)
    image, _ = saved.render()
    assert np.abs(to_uint8(image[0]).astype(int) - shown[:, shown.shape[0]:].astype(int)).max() <= 2
    depth_picture, depth_file = app.predict(api_name="/depth")
    assert np.load(depth_file).shape == (512, 512)

    job = app.submit(200, api_name="/refine")  # minutes of work: cancelled after its first steps
    assert wait_for(lambda: job.status().progress_data, seconds=60), "the refinement reported no progress"
    refining = cpu_rate(server)
    job.cancel()
    assert wait_for(lambda: job.done(), seconds=30)
    assert wait_for(lambda: cpu_rate(server) < refining / 4, seconds=60), "the cancelled refinement kept running"
    kept = triplanenet.Inversion.load(app.predict(api_name="/inversion"), saved.generator)
    assert kept.method == "v2+refined" and torch.equal(kept.planes, saved.planes), "the cancelled refinement stuck"
    app.close()


SAME_PERSON = ("e3dge_372.jpg", "e3dge_443.jpg")
"""Two photos of one actress in ``../shared/faces`` (dlib distance 0.28)."""


@pytest.mark.server
def test_more_photos_of_the_same_person_are_fitted_by_refine(server, faces_dir, tmp_path):
    app = client(server, tmp_path / "downloads")
    first, second = (faces_dir / name for name in SAME_PERSON)
    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(wall)
    with pytest.raises(AppError, match="There is no 3D head yet"):
        app.predict([handle_file(second)], "v2", api_name="/add_photos")
    _, _, crop, camera = app.predict(handle_file(first), 0, api_name="/align")
    app.predict(handle_file(crop), camera, "v2", api_name="/invert")
    with pytest.raises(AppError, match="Up to 7 more photos"):
        app.predict([handle_file(wall)] * 8, "v2", api_name="/add_photos")
    gallery, summary = app.predict([handle_file(second), handle_file(wall)], "v2", api_name="/add_photos")
    assert [item["caption"].split(":")[0] for item in gallery] == [second.name], gallery
    assert "2 photos of one person" in summary and "wall.png was left out" in summary, summary
    assert "someone else" not in summary, summary
    app.predict(2, api_name="/refine")
    saved = triplanenet.Inversion.load(app.predict(api_name="/inversion"),
                                       triplanenet.load_inverter("bundled").decoder)
    assert saved.method == "v2+refined" and saved.photo_cameras.shape == (1, 2, 25)
    app.close()


CPU_WINDOW = 3.0


def cpu_rate(server: AppServer) -> float:
    """CPU seconds per second that the server uses over the next :data:`CPU_WINDOW` seconds."""
    start = server.cpu_seconds()
    time.sleep(CPU_WINDOW)
    return (server.cpu_seconds() - start) / CPU_WINDOW


def run_session(server: AppServer, photo: Path) -> dict:
    """One user's flow; returns the server-side paths of the files it got and its session folder's files."""
    app = client(server, downloads=False)
    try:
        _, _, crop, camera = app.predict(handle_file(photo), 0, api_name="/align")
        app.predict(handle_file(crop["path"]), camera, "v2", api_name="/invert")
        app.predict(2, api_name="/views")
        _, depth_file = app.predict(api_name="/depth")
        glb, _, mesh_files, _ = app.predict(64, api_name="/mesh")
        app.predict(10, 0, api_name="/render")
        own = [depth_file["path"], glb["path"], *(f["path"] for f in mesh_files)]
        folders = {key: names for key, names in session_files(server).items()
                   if Path(glb["path"]).name in names}
        return {"files": own, "folders": folders, "client": app}
    except BaseException:
        app.close()
        raise


def run_wave(server: AppServer, photos: list[Path]) -> tuple[list[str], int]:
    """One session per photo at once; checks that they kept apart, then closes them.

    Returns their folder names and the server's RSS (KiB) while they were all open.
    """
    with ThreadPoolExecutor(len(photos)) as pool:
        results = list(pool.map(lambda photo: run_session(server, photo), photos))
    rss_open = server.rss_kib()
    try:
        names = [{Path(p).name for p in r["files"]} for r in results]
        assert all(len(n) == 4 for n in names)
        assert len(set.union(*names)) == 4 * len(photos), "two sessions got files of the same name"
        folders = [r["folders"] for r in results]
        assert all(len(f) == 1 for f in folders), "a session's files are not in exactly one session folder"
        keys = [next(iter(f)) for f in folders]
        assert len(set(keys)) == len(photos), "sessions share a folder"
        for own, folder in zip(names, folders):
            assert own <= set(next(iter(folder.values()))), "a session's folder lacks its files"
    finally:
        for r in results:
            r["client"].close()
    return keys, rss_open


@pytest.mark.server
def test_concurrent_sessions_are_separate_and_memory_stays_bounded(server, astronaut, tmp_path):
    photos = []  # one photo per user: the astronaut, each a little brighter
    for i in range(SESSIONS):
        photos.append(tmp_path / f"user{i}.png")
        Image.fromarray(np.clip(picture(astronaut).astype(int) + i + 1, 0, 255).astype(np.uint8)).save(photos[-1])
    run_wave(server, [astronaut])  # warm-up: models, thread pools, caches
    before = server.rss_kib()
    start = time.perf_counter()
    keys, rss_open = run_wave(server, photos)
    growth = (rss_open - before) / 1024
    print(f"{SESSIONS} sessions in {time.perf_counter() - start:.1f} s; server RSS {before / 1024:.0f} MiB before, "
          f"{rss_open / 1024:.0f} MiB with all open")
    assert server.alive()
    assert growth < RSS_GROWTH_LIMIT_MIB, f"RSS grew by {growth:.0f} MiB for {SESSIONS} sessions"
    assert wait_for(lambda: not set(keys) & set(session_files(server))), "session folders outlived their sessions"
    assert wait_for(lambda: (server.rss_kib() - before) / 1024 < RSS_AFTER_CLOSE_LIMIT_MIB), (
        f"RSS {server.rss_kib() / 1024:.0f} MiB after the sessions closed: they still hold their inversions")


def test_a_one_version_checkpoint_offers_its_version_and_w_plus():
    bundled = load_model_set("bundled-v1", "cpu")
    assert bundled.modes == ["v1", "v2", "w+"] and bundled.default_mode == "v1"
    assert BUNDLED_NOTE in bundled.description()
    folder = load_model_set(str(BUNDLED_DIR), "cpu")  # the same weights as a plain save_pretrained folder
    assert folder.modes == ["v2", "w+"] and not folder.is_bundled
    assert "Only its own version" in folder.description()
    with pytest.raises(ValueError, match="offers v2, w\\+"):
        folder.inverter("v1")
    inverter, refine = folder.inverter("w+")
    assert inverter.version == 2 and refine is False
