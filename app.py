"""TriPlaneNet's Gradio app: a face photo in, a 3D head out (views, depth, coloured mesh, downloads).

    python app.py [--checkpoint CKPT] [--host 127.0.0.1] [--port 7860]

``CKPT`` is a published TriPlaneNet ``.pth``, a ``save_pretrained`` folder, a Hugging Face
Hub id or ``bundled`` / ``bundled-v1`` (default: ``$TRIPLANENET_CHECKPOINT``, else the
bundled offline model). This file is the page only; the work is in :mod:`triplanenet.app`.
It is read top to bottom: how an error reaches the user (:func:`readable`), what each event
does (:class:`Handlers`, one method per API endpoint), the page's sections (photo and
inversion, views, depth and mesh, downloads), and how events chain (:func:`wire_events`).
It is longer than our other modules because the Gradio code lives here (the Edit section's in ``app_edit.py``).
"""
from __future__ import annotations

import spaces  # noqa: I001  (first: on a ZeroGPU Space it must come before anything touches CUDA)

import argparse
import base64
import contextlib
import faulthandler
import functools
import html
import inspect
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pydantic
from gradio.exceptions import InvalidPathError
from starlette.middleware import Middleware

import app_edit
from triplanenet.app import Session, Workspace, allocator, clip_jobs, people, steps
from triplanenet.app.body_limit import BodyLimit, body_limit_bytes
from triplanenet.app.turns import Turns
from triplanenet.app.workspace import MAX_SESSIONS, OWNER_FILE
from triplanenet.clips import CAMERAS, DEFAULT_FPS, DEFAULT_MAX_SECONDS
from triplanenet.clips.decode import FPS_LIMITS, SECONDS_LIMITS
from triplanenet.inversion.modes import MODE_LABELS, ModelSet
from triplanenet.loading import CheckpointError
from triplanenet.loading.bundled import CHECKPOINT_ENV, default_checkpoint
from triplanenet.outputs.exports import mesh_figure
from triplanenet.outputs.surface import MESH_RESOLUTION, MESH_RESOLUTIONS
from triplanenet.pipeline import Pipeline
from triplanenet.refinement import DEFAULT_STEPS as DEFAULT_REFINE_STEPS, STEP_LIMITS

ROOT = Path(__file__).resolve().parent
EXAMPLES = [ROOT / "examples" / "astronaut.png", ROOT / "examples" / "synthetic_heads.png"]

QUEUE_SIZE = 32
"""Requests that may wait in the queue; more are refused with "the queue is full" instead of waiting for minutes."""
SHORT_CONCURRENCY = 2
"""Short model work (inversion, gallery, render) that may be in progress at once; more waits in the queue."""
LONG_CONCURRENCY = 2
"""Long model work (refinement, mesh, video) that may be in progress at once. Every request takes turns at the
model (:class:`~triplanenet.app.turns.Turns`) one unit at a time, so short work never waits for a long job."""
MAX_UPLOAD_MB = 40
"""Largest upload, as a file or inline (a ``data:`` URL in the request)."""
SESSION_TTL = 2 * 3600
"""Seconds a session's inversion is kept after its last update (its folder goes with it)."""
CACHE_SWEEP = (600, 1800)
"""Gradio's ``delete_cache``: every 10 minutes, delete served copies of files older than 30 minutes
(served copies of a session's own files go as soon as the session ends)."""
FACE_INDICES = (0, 99)
FIGURE_FACES = 60_000
"""Largest number of faces sent to the plotly figure (the downloads keep every face)."""
VIDEO_FPS = 30
REFINE_STEPS = (STEP_LIMITS[0], 200)
"""Range of the refinement steps of the Refine button and the /refine endpoint."""
AUTO_REFINE_STEPS = (0, REFINE_STEPS[1])
"""Range of the page's steps slider: Reconstruct refines by that many steps after the inversion; 0 turns it off."""

# GPU work. On a ZeroGPU Space each call holds a GPU for at most `duration` seconds; elsewhere
# `spaces.GPU` returns the function unchanged.
gpu_invert = spaces.GPU(duration=60)(steps.invert)
gpu_views = spaces.GPU(duration=60)(steps.views)
gpu_novel_view = spaces.GPU(duration=20)(steps.novel_view)
gpu_mesh = spaces.GPU(duration=90)(steps.mesh)
gpu_turntable = spaces.GPU(duration=180)(steps.turntable_frames)
gpu_refine = spaces.GPU(duration=180)(steps.refine)
gpu_clip = spaces.GPU(duration=600)(clip_jobs.run)
gpu_add_photos = spaces.GPU(duration=60)(people.add_photos)


def inline_bytes(url: str) -> bytes:
    """The bytes of a ``data:`` URL, refused from its length before decoding when over :data:`MAX_UPLOAD_MB`."""
    encoded = url.partition(",")[2]
    size_mb = len(encoded) * 3 / 4 / 2**20
    if size_mb > MAX_UPLOAD_MB:
        raise ValueError(f"The image sent inline is {size_mb:.0f} MB; uploads are limited to {MAX_UPLOAD_MB} MB.")
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("The image sent inline is not valid base64.") from None


def too_large(size_mb: float) -> str:
    """The message for a request body over :func:`~triplanenet.app.body_limit.body_limit_bytes` (:data:`MAX_UPLOAD_MB`)."""
    return (f"The request is {size_mb:.0f} MB, too large for an upload: uploads are limited to {MAX_UPLOAD_MB} MB "
            "(sent as a file or inline).")


def photo_source(photo: str | dict | None, missing: str = "Upload a photo (or pick an example) first."
                 ) -> str | bytes:
    """An uploaded image for our loader, undecoded: a file path, or the bytes of a ``data:`` URL.

    Every event runs with ``preprocess=False`` because ``gr.Image`` would open the
    upload with PIL first, so that a corrupt file or a decompression bomb failed there
    with a bare "Error" (and a 12000x12000 crop took 5 GB); :func:`triplanenet.preprocess.load_image`
    refuses them with a message a person can act on. Gradio still checks that the path
    is one of its uploads; an inline image goes through the upload size limit
    (:func:`inline_bytes`) and then the same loader. ``missing`` is the error when there is no image.
    """
    if isinstance(photo, dict):
        url = photo.get("url") or ""
        if not photo.get("path") and isinstance(url, str) and url.startswith("data:"):
            return inline_bytes(url)
        photo = photo.get("path")
    if not photo or not isinstance(photo, str):
        raise ValueError(missing)
    return photo


def readable(fn: Callable) -> Callable:
    """Show every failure as ``gr.Error`` with a message a person can read, never Gradio's generic one.

    Expected failures (bad photo, bad setting, nothing inverted yet) carry their own
    message; anything else is a bug, logged with its traceback and reported as one.
    However the request ends, the memory it freed goes back to the system
    (:func:`~triplanenet.app.allocator.release_free_memory`).
    """
    @contextlib.contextmanager
    def errors_as_messages():
        try:
            yield
        except gr.Error:
            raise
        except (ValueError, OSError) as exc:
            raise gr.Error(html.escape(str(exc), quote=False), title="Cannot do that", print_exception=False) from exc
        except Exception as exc:
            traceback.print_exc()
            raise gr.Error(f"The server failed on this request ({html.escape(type(exc).__name__)}). Try again; "
                           "if it keeps failing, please report it.", title="Server error",
                           print_exception=False) from exc
        finally:
            allocator.release_free_memory()

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            with errors_as_messages():
                yield from fn(*args, **kwargs)
        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with errors_as_messages():
            return fn(*args, **kwargs)
    return wrapper


def reporter(progress: gr.Progress, turns: Turns) -> steps.Report:
    """A :data:`steps.Report` that moves Gradio's progress bar and lets requests waiting for the model go first."""
    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)
        turns.pass_turn()
    return report


def check_refine_steps(count: object) -> int:
    """The number of refinement steps a client asked for: a whole number in the slider's range (not a boolean)."""
    name = "The number of refinement steps"
    number = steps.check_number(name, count, REFINE_STEPS)
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {count!r:.40}")
    return int(number)


class Handlers:
    """What each event of the page does, over one :class:`Pipeline` and :class:`Workspace`.

    Every handler is also a named API endpoint; the work is in :mod:`triplanenet.app.steps`.
    Model work takes :attr:`turns` one unit at a time; a handler's session has a request
    in flight while it runs (:meth:`Workspace.serving`), so it is never evicted meanwhile.
    """

    def __init__(self, pipeline: Pipeline, workspace: Workspace, turns: Turns):
        self.pipeline, self.models, self.workspace, self.turns = pipeline, pipeline.models, workspace, turns

    def align(self, photo: str | dict | None, face_index: float | None):
        """Crop and pose a face: preview with landmarks, summary, the 512 crop and its 25-number EG3D camera."""
        index = steps.check_number("The face number", 0 if face_index is None else face_index, FACE_INDICES)
        with self.turns.errand():
            alignment = steps.align(self.pipeline, photo_source(photo), int(index))
        return alignment.preview, alignment.summary, alignment.crop, alignment.camera

    def invert(self, crop, camera, mode: str, session: Session | None, request: gr.Request,
               progress=gr.Progress()):
        """Invert the crop seen from ``camera`` in ``mode`` (v2, v1 or w+): input | reconstruction, summary."""
        first = "Align a photo first: upload one (or pick an example) and press Reconstruct."
        if not camera:
            raise ValueError(first)
        source = photo_source(crop, missing=first)
        self.models.inverter(mode)  # an unknown mode is refused before any work
        progress(0.1, desc=f"inverting with {MODE_LABELS[mode]}")
        start = time.perf_counter()
        with self.turns.turn():
            inversion, input_view = gpu_invert(self.pipeline, source, camera, mode)
        seconds = time.perf_counter() - start
        session = self.workspace.session(request.session_hash or (session.key if session else uuid.uuid4().hex))
        session.start(inversion, input_view)
        size = inversion.input_image.shape[-1]
        info = (f"**{MODE_LABELS[mode]}** in {seconds:.1f} s. Left: the crop as the network sees it ({size} px); "
                "right: the reconstruction rendered from the photo's camera. **Refine** fits it to the photo.")
        if mode == "w+":
            info += (" This is the pSp codes alone: compare with a TriPlaneNet mode to see what the tri-plane "
                     "branch adds.")
        return steps.comparison(inversion, input_view), info, session

    def refine(self, count: float, session: Session | None, progress=gr.Progress()):
        """Fit the session's head to its photo in ``count`` steps; the reconstruction updates as it goes.

        The session's inversion is replaced only when the refinement finishes: stopped or
        failed, the previous result stays (and :meth:`show_current` shows it again).
        Each step takes a turn at the model of its own.
        """
        count = check_refine_steps(count)
        with self.workspace.serving(session) as session:
            start = time.perf_counter()
            for update in self.turns.each_in_a_turn(gpu_refine(self.pipeline, session.inversion, count)):
                progress(update.step / update.steps, desc=f"refining: step {update.step} of {update.steps}")
                if update.result is None and update.preview is not None:
                    yield update.preview, gr.skip(), gr.skip()
            session.start(*update.result)
        info = (f"**Refined** in {time.perf_counter() - start:.1f} s ({update.steps} steps): the tri-planes were "
                "fitted to the photo (and its mirror image) at its camera. Views, depth and mesh below show the "
                "refined head; the saved inversion is the refined one.")
        yield update.preview, info, session

    def refine_after_invert(self, count: float, session: Session | None, progress=gr.Progress()):
        """Reconstruct's own refinement, right after the encoder's head is shown: ``count`` steps of
        :meth:`refine` (0: none, the encoder's head stays). Stop keeps the encoder's head."""
        if steps.check_number("The number of refinement steps", count, AUTO_REFINE_STEPS) == 0:
            yield gr.skip(), gr.skip(), gr.skip()
            return
        yield from self.refine(count, session, progress)

    def show_current(self, session: Session | None):
        """The current result's input | reconstruction (after a stopped refinement), or nothing yet."""
        if session is None or session.inversion is None:
            return gr.skip()
        return steps.comparison(*session.require())

    def views(self, count: float, session: Session | None, progress=gr.Progress()):
        """A yaw sweep of ``count`` views of the current head, with captions."""
        with self.workspace.serving(session) as session:
            progress(0.1, desc="rendering views")
            with self.turns.turn():
                return gpu_views(session.inversion, count)

    def depth(self, session: Session | None):
        """Depth at the photo's camera: colour picture, and raw .npy (512x512 float32, world units)."""
        with self.workspace.serving(session) as session:
            depth, picture = steps.depth(session.input_view)
            return picture, str(session.save_depth(depth))

    def mesh(self, resolution: float, session: Session | None, progress=gr.Progress()):
        """Coloured mesh at ``resolution``^3: .glb for the viewer, plotly figure, .glb/.ply/.obj.zip files, a note.

        The density grid is computed a chunk per turn at the model; the files are written after it.
        """
        with self.workspace.serving(session) as session:
            with self.turns.turn():
                mesh, note = gpu_mesh(session.inversion, resolution, report=reporter(progress, self.turns),
                                      pause=self.turns.pass_turn)
            progress(0.9, desc="writing .glb, .ply, .obj.zip")
            paths = session.save_mesh(mesh)
            figure = mesh_figure(mesh, max_faces=FIGURE_FACES)
            return str(paths[".glb"]), figure, [str(p) for p in paths.values()], note

    def render(self, yaw: float, pitch: float, session: Session | None):
        """The head from ``yaw`` / ``pitch`` (degrees): image and depth picture, from the cached tri-planes."""
        with self.workspace.serving(session) as session, self.turns.turn():
            return gpu_novel_view(session.inversion, yaw, pitch)

    def video(self, frames: float, session: Session | None, progress=gr.Progress()):
        """Turntable video (.mp4, 30 frames per second) of ``frames`` frames along EG3D's orbit.

        Frames are rendered a batch per turn at the model; the video is written after them.
        """
        with self.workspace.serving(session) as session:
            with self.turns.turn():
                images = gpu_turntable(session.inversion, frames, report=reporter(progress, self.turns))
            return str(session.save_video(images, VIDEO_FPS))

    def clip(self, video: str | dict | None, camera: str, refine_steps: float, fps: float, max_seconds: float,
             session: Session | None, request: gr.Request, progress=gr.Progress()):
        """A face video -> a 3D head per frame: input | re-rendered | depth (.mp4), its files, a summary.

        **Stop** (or the ``stop_clip`` endpoint) ends the job after its current batch; the frames made so far
        are the result. The job holds a turn at the model and lets waiting requests go first after every
        frame tracked and every batch inverted.
        """
        settings = clip_jobs.check_settings(camera, refine_steps, fps, max_seconds)
        source = clip_jobs.video_path(video)
        session = self.workspace.session(request.session_hash or (session.key if session else uuid.uuid4().hex))
        start = time.perf_counter()
        with self.workspace.busy(session), self.turns.turn():
            result = gpu_clip(self.pipeline, session, source, settings, reporter(progress, self.turns))
        seconds = time.perf_counter() - start
        info = " ".join([f"**{result.frames} frames** at {settings.fps:g} fps in {seconds:.0f} s "
                         f"({seconds / max(result.frames, 1):.1f} s per frame).", *result.notes])
        return str(result.files[0]), [str(path) for path in result.files], info, session

    def add_photos(self, files: list | None, mode: str, session: Session | None, progress=gr.Progress()):
        """More photos of the same person, each aligned and shown with its camera; Refine then fits them all."""
        photos = [photo_source(file) for file in files or []]
        with self.workspace.serving(session) as session:
            inversion, input_view = session.require()
            progress(0.1, desc=f"aligning and inverting {len(photos)} more photos")
            with self.turns.turn():  # other requests go between two photos
                more = gpu_add_photos(self.pipeline, inversion, photos, mode, self.turns.pass_turn)
            session.start(more.inversion, input_view)
        return more.gallery, more.summary, session

    def save_inversion(self, session: Session | None):
        """The current inversion as .safetensors (``triplanenet.Inversion.load``)."""
        with self.workspace.serving(session) as session:
            return str(session.save_inversion())

    def page_opened(self, request: gr.Request) -> None:
        """A browser page was loaded: its session is kept while the page is open (up to its time to live)."""
        if request.session_hash:
            self.workspace.page_opened(request.session_hash)

    def end_session(self, request: gr.Request) -> None:
        """The page was closed (or the API client disconnected)."""
        if request.session_hash:
            self.workspace.end(request.session_hash)

    def forget(self, session: Session | None) -> None:
        """The session's state expired (``gr.State``'s delete callback, through :meth:`forgetter`)."""
        if session is not None:
            self.workspace.end(session.key)

    def forgetter(self) -> Callable[[Session | None], None]:
        """:meth:`forget` as a plain function, for ``gr.State(delete_callback=...)``.

        The callback is part of the page's config, which Gradio deep-copies for every
        ``GET /config`` (each page load, each ``gradio_client`` connection). A bound method
        is deep-copied with its object, here the handlers and through them the models:
        0.6 s and about 200 MiB per request, so 16 clients connecting at once waited 19.5 s
        and left the server 3.2 GB larger. A function is copied as itself.
        """
        def forget(session: Session | None) -> None:
            self.forget(session)

        return forget


NOT_AN_UPLOAD = ("A file sent to this server must be one of its uploads: upload it first (gradio_client: "
                 "handle_file(path)), or pick an example.")


class Blocks(gr.Blocks):
    """Gradio's ``Blocks`` whose refusals of a client's file input are our readable message.

    Before any event runs, Gradio checks that every file input is one of its uploads
    (or an allowed file) and is well formed; a path it refuses (``/etc/passwd``, a
    malformed file entry) used to reach the client as a bare "Error" and the log as a
    traceback.
    """

    async def preprocess_data(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().preprocess_data(*args, **kwargs)
        except (InvalidPathError, pydantic.ValidationError):
            raise gr.Error(NOT_AN_UPLOAD, title="Cannot do that", print_exception=False) from None


class Page:
    """The components events read and write, created section by section (attributes named as below)."""


def photo_section(page: Page, models: ModelSet, handlers: Handlers) -> None:
    """Upload, face choice, mode and Reconstruct; the alignment, the inversion and its refinement."""
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            page.photo = gr.Image(label="Photo", sources=["upload", "webcam", "clipboard"], type="filepath",
                                  height=360, elem_id="photo")
            with gr.Row():
                page.face_index = gr.Number(0, label="Face (0: the largest)", precision=0, minimum=FACE_INDICES[0],
                                            maximum=FACE_INDICES[1])
                page.mode = gr.Radio([(MODE_LABELS[m], m) for m in models.modes], value=models.default_mode,
                                     label="Inversion")
            page.run = gr.Button("Reconstruct in 3D", variant="primary", elem_id="reconstruct")
        with gr.Column(scale=1, min_width=320):
            page.preview = gr.Image(label="Alignment: the 512 crop with its landmarks", interactive=False,
                                    format="png", height=300, elem_id="alignment")
            page.alignment_info = gr.Markdown(label="Alignment summary")
            page.comparison = gr.Image(label="Input | reconstruction", interactive=False, format="png",
                                       elem_id="comparison")
            page.inversion_info = gr.Markdown(label="Inversion summary")
            page.refine_steps = gr.Slider(*AUTO_REFINE_STEPS, value=DEFAULT_REFINE_STEPS, step=1,
                                          label="Refinement steps after Reconstruct (fit the head to the photo: "
                                                "about 0.5 s each; 0: off)")
            with gr.Row():
                page.refine = gr.Button("Refine", variant="secondary", scale=3, elem_id="refine")
                page.stop = gr.Button("Stop", variant="stop", size="sm", scale=1, elem_id="stop-refine")
    with gr.Accordion("Crop and camera (what the inversion receives)", open=False):
        with gr.Row():
            page.crop = gr.Image(label="Aligned crop", type="pil", format="png", interactive=False)
            page.camera = gr.JSON(label="EG3D camera label (16 cam2world + 9 intrinsics)")
    with gr.Accordion(f"More photos of the same person (up to {people.MORE_PHOTOS} more): Refine fits the head to "
                      "all of them", open=False):
        with gr.Row():
            page.more_photos = gr.File(label="Other photos of this person", file_count="multiple",
                                       file_types=["image"])
            page.more_gallery = gr.Gallery(label="Aligned, with their cameras", columns=4, height=240, format="png")
        page.add_photos = gr.Button("Add them to the head", elem_id="add-photos")
        page.more_info = gr.Markdown(label="More photos")
    page.examples = gr.Examples([[str(path), 0] for path in EXAMPLES], inputs=[page.photo, page.face_index],
                                outputs=[page.preview, page.alignment_info, page.crop, page.camera],
                                fn=readable(handlers.align), cache_examples=True, cache_mode="lazy",
                                label="Examples (public domain / our renders)")


def views_section(page: Page, models: ModelSet) -> None:
    """The yaw sweep, and the sliders' view with its depth."""
    gr.Markdown("## Views\nA yaw sweep rendered from the cached tri-planes; the sliders render any other view.")
    page.gallery = gr.Gallery(label="Views", columns=5, height=300, format="png", elem_id="views")
    page.count = gr.Slider(*steps.VIEW_COUNTS, value=models.default_view_count, step=1, label="Number of views")
    with gr.Row():
        with gr.Column(scale=1, min_width=240):
            page.yaw = gr.Slider(*steps.YAW_DEGREES, value=20, step=1, label="Yaw (degrees)")
            page.pitch = gr.Slider(*steps.PITCH_DEGREES, value=0, step=1, label="Pitch (degrees)")
        page.novel = gr.Image(label="View from the sliders", interactive=False, format="png", height=280,
                              elem_id="novel-view")
        page.novel_depth = gr.Image(label="Its depth", interactive=False, format="png", height=280)


def depth_and_mesh_sections(page: Page) -> None:
    """Depth at the photo's camera; the coloured mesh in two viewers, its resolution and downloads."""
    gr.Markdown("## Depth")
    with gr.Row():
        page.depth_picture = gr.Image(label="Depth at the photo's camera", interactive=False, format="png",
                                      height=300, elem_id="depth")
        page.depth_file = gr.File(label="Depth .npy (512x512 float32, world units along each ray)")
    gr.Markdown("## Coloured mesh")
    with gr.Row():
        page.model3d = gr.Model3D(label="Mesh (GLB)", height=420, elem_id="mesh3d")
        page.figure = gr.Plot(label="Interactive mesh (plotly)", elem_id="mesh-plot")
    with gr.Row():
        page.resolution = gr.Slider(*MESH_RESOLUTIONS, value=MESH_RESOLUTION, step=32,
                                    label="Mesh resolution (grid points per axis)")
        page.mesh_files = gr.File(label="Mesh downloads (.glb, .ply, zipped .obj)", file_count="multiple")
    page.mesh_note = gr.Markdown(label="Mesh note")


def downloads_section(page: Page) -> None:
    """The turntable video and the saved inversion, on request."""
    gr.Markdown("## Turntable video and the inversion")
    with gr.Row():
        with gr.Column(scale=1, min_width=240):
            page.frames = gr.Slider(*steps.VIDEO_FRAMES, value=60, step=4, label="Video frames (30 per second)")
            page.video_button = gr.Button("Make the turntable video")
            page.save_button = gr.Button("Save the inversion (.safetensors)")
        page.video = gr.Video(label="Turntable", interactive=False, elem_id="turntable")
        page.inversion_file = gr.File(label="Inversion (load with triplanenet.Inversion.load)")


# No event lets Gradio preprocess its inputs: our loaders and range checks see what the client sent
# (a non-image crop, "abc" for a slider, NaN) and answer with a readable message.
RAW = {"preprocess": False}
MODEL_WORK = {"concurrency_id": "model", "concurrency_limit": SHORT_CONCURRENCY, **RAW}
LONG_WORK = {"concurrency_id": "long", "concurrency_limit": LONG_CONCURRENCY, **RAW}


def chain_results(page: Page, handlers: Handlers, event: Any, named: Callable[[str], dict[str, Any]]) -> None:
    """Chain views -> depth -> mesh after a new head; each shows up as soon as it exists."""
    session, mesh = page.session, [page.model3d, page.figure, page.mesh_files, page.mesh_note]
    (event
     .success(readable(handlers.views), [page.count, session], page.gallery, **named("views"), **MODEL_WORK)
     .success(readable(handlers.depth), session, [page.depth_picture, page.depth_file], **named("depth"), **RAW)
     .success(readable(handlers.mesh), [page.resolution, session], mesh, **named("mesh"), **LONG_WORK))


def wire_events(page: Page, handlers: Handlers, demo: gr.Blocks) -> None:
    """Every event: alignment -> inversion -> views -> depth -> mesh as a chain, then the on-demand ones."""
    session = page.session
    head = [page.comparison, page.inversion_info, session]
    mesh = [page.model3d, page.figure, page.mesh_files, page.mesh_note]
    private = {"api_visibility": "private"}
    show_results = functools.partial(chain_results, page, handlers)

    def after_alignment(aligned: Any, public: bool) -> Any:
        """Chain inversion -> refinement -> views -> depth -> mesh after an alignment; the refinement event."""
        def named(name: str) -> dict[str, Any]:
            return {"api_name": name} if public else {"api_name": f"{name}_after_example", **private}
        inverted = aligned.success(readable(handlers.invert), [page.crop, page.camera, page.mode, session], head,
                                   **named("invert"), **MODEL_WORK)
        refined = inverted.success(readable(handlers.refine_after_invert), [page.refine_steps, session], head,
                                   api_name=f"refine_after_{'invert' if public else 'example'}", **private,
                                   **LONG_WORK)
        show_results(refined, named)
        return refined

    aligned = page.run.click(readable(handlers.align), [page.photo, page.face_index],
                             [page.preview, page.alignment_info, page.crop, page.camera], api_name="align",
                             preprocess=False, concurrency_id="align", concurrency_limit=2)
    automatic = [after_alignment(aligned, public=True), after_alignment(page.examples.cache_event, public=False)]

    refined = page.refine.click(readable(handlers.refine), [page.refine_steps, session], head, api_name="refine",
                                **LONG_WORK)
    show_results(refined, lambda name: {"api_name": f"{name}_after_refine", **private})
    stopped = page.stop.click(handlers.show_current, session, page.comparison, cancels=[refined, *automatic],
                              api_name="stop_refine", **private, **RAW)
    show_results(stopped, lambda name: {"api_name": f"{name}_after_stop", **private})
    page.count.release(readable(handlers.views), [page.count, session], page.gallery, api_name="views_again",
                       **private, **MODEL_WORK)
    page.resolution.release(readable(handlers.mesh), [page.resolution, session], mesh, api_name="mesh_again",
                            **private, **LONG_WORK)
    gr.on([page.yaw.release, page.pitch.release], readable(handlers.render), [page.yaw, page.pitch, session],
          [page.novel, page.novel_depth], api_name="render", show_progress="minimal", **MODEL_WORK)
    page.video_button.click(readable(handlers.video), [page.frames, session], page.video, api_name="video",
                            **LONG_WORK)
    page.save_button.click(readable(handlers.save_inversion), session, page.inversion_file, api_name="inversion",
                           **RAW)
    page.add_photos.click(readable(handlers.add_photos), [page.more_photos, page.mode, session],
                          [page.more_gallery, page.more_info, session], api_name="add_photos", **MODEL_WORK)
    demo.load(handlers.page_opened, **private)
    demo.unload(handlers.end_session)


def video_section(page: Page, handlers: Handlers) -> None:
    """The **Video** tab: a clip in, a 3D head per frame out (input | re-rendered | depth), with Stop; wired here."""
    with gr.Tab("Video"):
        gr.Markdown("## A face video in 3D\nEvery frame's face is tracked, inverted and re-rendered from the "
                    "camera you choose. **Stop** keeps the frames made so far.")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                page.clip_in = gr.Video(label="Video (upload or record)", sources=["upload", "webcam"],
                                        elem_id="clip-in")
                page.clip_camera = gr.Radio(list(CAMERAS), value="input", label="Camera (input: each frame's "
                                            "own; frontal: fixed; orbit: a slow yaw sweep)")
                page.clip_steps = gr.Slider(*clip_jobs.REFINE_STEPS, value=0, step=1,
                                            label="Refinement steps per frame (about 0.5 s each)")
                with gr.Row():
                    page.clip_fps = gr.Slider(*FPS_LIMITS, value=DEFAULT_FPS, step=1, label="Frames per second")
                    page.clip_seconds = gr.Slider(*SECONDS_LIMITS, value=DEFAULT_MAX_SECONDS, step=0.5,
                                                  label="Maximum seconds")
                with gr.Row():
                    page.clip_run = gr.Button("Make the 3D video", variant="primary", scale=3, elem_id="clip-run")
                    page.clip_stop = gr.Button("Stop", variant="stop", size="sm", scale=1, elem_id="clip-stop")
            with gr.Column(scale=1, min_width=320):
                page.clip_out = gr.Video(label="Input | re-rendered | depth", interactive=False, elem_id="clip-out")
                page.clip_files = gr.File(label="Downloads (side_by_side.mp4, rendered.mp4, frames.json)",
                                          file_count="multiple")
                page.clip_info = gr.Markdown(label="Video summary")

    def stop(request: gr.Request) -> None:
        """Ask this page's running video job to stop after its current batch."""
        clip_jobs.STOPS.request(request.session_hash or "")

    page.clip_run.click(readable(handlers.clip), [page.clip_in, page.clip_camera, page.clip_steps, page.clip_fps,
                                                  page.clip_seconds, page.session],
                        [page.clip_out, page.clip_files, page.clip_info, page.session], api_name="clip",
                        **LONG_WORK)
    page.clip_stop.click(stop, api_name="stop_clip", queue=False, **RAW)


def build_app(pipeline: Pipeline, workspace: Workspace, turns: Turns) -> gr.Blocks:
    """The page: upload -> alignment -> inversion (-> refinement) -> views -> depth -> mesh, then video, downloads."""
    handlers, page = Handlers(pipeline, workspace, turns), Page()
    models = pipeline.models
    with Blocks(title="TriPlaneNet: a face photo in 3D", delete_cache=CACHE_SWEEP) as demo:
        page.session = gr.State(None, time_to_live=SESSION_TTL, delete_callback=handlers.forgetter())
        gr.Markdown("# TriPlaneNet: a face photo in 3D\n"
                    "Upload a photo with a face (or use the webcam, or paste one), press **Reconstruct**, and see "
                    "the head from any angle, as a depth map and as a coloured mesh. The face is cropped and posed "
                    "the way EG3D was trained, inverted into EG3D's tri-planes with TriPlaneNet, and every view "
                    "below is rendered from those tri-planes, which are then refined to fit the photo (**Stop** "
                    "keeps the encoder's head; the steps slider at 0 turns the refinement off).")
        gr.Markdown(models.description(), elem_id="model-info")
        photo_section(page, models, handlers)
        views_section(page, models)
        directions = app_edit.directions_or_none(models)
        if directions is not None:
            app_edit.edit_section(page, directions)
        depth_and_mesh_sections(page)
        downloads_section(page)
        wire_events(page, handlers, demo)
        if directions is not None:
            app_edit.wire_edit_events(page, app_edit.EditHandlers(directions, workspace, turns), readable, MODEL_WORK,
                                      functools.partial(chain_results, page, handlers))
        video_section(page, handlers)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=default_checkpoint(),
                        help="published TriPlaneNet .pth, a save_pretrained folder, a Hub id, or 'bundled' / "
                             f"'bundled-v1' (default: ${CHECKPOINT_ENV}, else 'bundled')")
    parser.add_argument("--host", default=None, help="address to serve on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--max-sessions", type=int, default=MAX_SESSIONS,
                        help="live sessions kept; the least recently used is evicted (default: %(default)s)")
    return parser.parse_args(argv)


SHUTTING_DOWN = "The server is shutting down: your request was stopped. Try again in a minute."
SHUTDOWN_GRACE = 3.0
"""Seconds that requests get, after SIGTERM, to reach their next turn at the model and tell their clients."""


def stop_on_sigterm(turns: Turns, signum: int, frame: Any) -> None:
    """SIGTERM ends the server like Ctrl-C, after telling the clients of running requests why they end.

    Every request is refused its next turn at the model with :data:`SHUTTING_DOWN`;
    once they are gone (or after :data:`SHUTDOWN_GRACE` seconds) Gradio closes the server.
    """
    turns.close(SHUTTING_DOWN)
    turns.wait_until_free(SHUTDOWN_GRACE)
    raise KeyboardInterrupt


def exit_now(status: int) -> None:
    """End the process with ``status`` at once (output flushed).

    Python's own shutdown would destroy torch's thread pools under a request thread
    still inside a native call (a refinement step, a mesh chunk), which aborts the
    process ("terminate called without an active exception", status 134); by then
    the workspace is deleted and nothing is left to finalise.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def open_workspace(max_sessions: int) -> Workspace:
    """The session workspace; Gradio's cache is its root unless ``$GRADIO_TEMP_DIR`` is set.

    Inside it, the cache is swept with the workspace when a later start finds this process dead.
    """
    workspace = Workspace(served=os.environ.get("GRADIO_TEMP_DIR"), max_sessions=max_sessions)
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.served)
    workspace.start_sweeper()
    return workspace


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faulthandler.enable()  # a native crash prints every thread's Python stack before the process dies
    try:
        allocator.configure()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        pipeline = Pipeline.from_pretrained(args.checkpoint)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"error: cannot load the model {args.checkpoint!r}: {exc}", file=sys.stderr)
        return 2
    if args.max_sessions < 1:
        print(f"error: --max-sessions must be at least 1, got {args.max_sessions}", file=sys.stderr)
        return 2
    workspace = open_workspace(args.max_sessions)
    turns = Turns()
    signal.signal(signal.SIGTERM, functools.partial(stop_on_sigterm, turns))
    demo = build_app(pipeline, workspace, turns)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    try:  # _frontend=False: Gradio's self-check after start (one HEAD, 3 s timeout) stops a healthy server
        demo.launch(server_name=args.host, server_port=args.port, ssr_mode=False, max_file_size=f"{MAX_UPLOAD_MB}mb",
                    allowed_paths=[str(ROOT / "examples"), str(workspace.root)],
                    blocked_paths=[str(workspace.root / OWNER_FILE)], _frontend=False,
                    app_kwargs={"middleware": [Middleware(BodyLimit, limit=body_limit_bytes(MAX_UPLOAD_MB),
                                                          message=too_large)]})
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the removal
        workspace.remove()
    return 0


if __name__ == "__main__":
    status = 1
    try:
        status = main()
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C before the server ran
        status = 0
    except Exception:
        traceback.print_exc()
    exit_now(status)
