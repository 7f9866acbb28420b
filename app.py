"""TriPlaneNet's Gradio app: a face photo in, a 3D head out (views, depth, coloured mesh, downloads).

    python app.py [--checkpoint CKPT] [--host 127.0.0.1] [--port 7860]

``CKPT`` is a published TriPlaneNet ``.pth``, a ``save_pretrained`` folder, a Hugging Face
Hub id or ``bundled`` / ``bundled-v1`` (default: ``$TRIPLANENET_CHECKPOINT``, else the
bundled offline model). This file is the page only; the work is in :mod:`triplanenet.app`.
"""
from __future__ import annotations

import spaces  # noqa: I001  (first: on a ZeroGPU Space it must come before anything touches CUDA)

import argparse
import atexit
import base64
import contextlib
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

from triplanenet.app import Session, Workspace, steps
from triplanenet.app.session import MAX_SESSIONS
from triplanenet.exports import mesh_figure
from triplanenet.loading import CheckpointError
from triplanenet.loading.bundled import CHECKPOINT_ENV, default_checkpoint
from triplanenet.pipeline import MODE_LABELS, ModelSet, get_model_set
from triplanenet.refinement import DEFAULT_STEPS as DEFAULT_REFINE_STEPS, STEP_LIMITS

ROOT = Path(__file__).resolve().parent
EXAMPLES = [ROOT / "examples" / "astronaut.png", ROOT / "examples" / "synthetic_heads.png"]

QUEUE_SIZE = 32
"""Requests that may wait in the queue; more are refused with "the queue is full" instead of waiting for minutes."""
MODEL_CONCURRENCY = 1
"""Model work (inversion, renders, meshes, video) that runs at once; more waits in the queue."""
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
"""Range of the refinement slider (the API takes up to the refinement's own limit)."""

# GPU work. On a ZeroGPU Space each call holds a GPU for at most `duration` seconds; elsewhere
# `spaces.GPU` returns the function unchanged.
gpu_invert = spaces.GPU(duration=60)(steps.invert)
gpu_views = spaces.GPU(duration=60)(steps.views)
gpu_novel_view = spaces.GPU(duration=20)(steps.novel_view)
gpu_mesh = spaces.GPU(duration=90)(steps.mesh)
gpu_turntable = spaces.GPU(duration=180)(steps.turntable_frames)
gpu_refine = spaces.GPU(duration=180)(steps.refine)


def photo_source(photo: str | dict | None, missing: str = "Upload a photo (or pick an example) first."
                 ) -> str | bytes:
    """An uploaded image for our loader, undecoded: a file path, or the bytes of a ``data:`` URL.

    Every event runs with ``preprocess=False`` because ``gr.Image`` would open the
    upload with PIL first, so that a corrupt file or a decompression bomb failed there
    with a bare "Error" (and a 12000x12000 crop took 5 GB); :func:`triplanenet.preprocess.load_image`
    refuses them with a message a person can act on. Gradio still checks that the path
    is one of its uploads. ``missing`` is the error when there is no image.
    """
    if isinstance(photo, dict):
        url = photo.get("url") or ""
        if not photo.get("path") and isinstance(url, str) and url.startswith("data:"):
            return base64.b64decode(url.partition(",")[2])
        photo = photo.get("path")
    if not photo or not isinstance(photo, str):
        raise ValueError(missing)
    return photo


def readable(fn: Callable) -> Callable:
    """Show every failure as ``gr.Error`` with a message a person can read, never Gradio's generic one.

    Expected failures (bad photo, bad setting, nothing inverted yet) carry their own
    message; anything else is a bug, logged with its traceback and reported as one.
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


def reporter(progress: gr.Progress) -> steps.Report:
    """A :data:`steps.Report` that moves Gradio's progress bar."""
    return lambda fraction, message: progress(fraction, desc=message)


def build_app(models: ModelSet, workspace: Workspace) -> gr.Blocks:
    """The page: upload -> alignment -> inversion -> views -> depth -> mesh, then sliders, video, downloads."""

    def on_align(photo: str | dict | None, face_index: float | None):
        """Crop and pose a face: preview with landmarks, summary, the 512 crop and its 25-number EG3D camera."""
        index = steps.check_number("The face number", 0 if face_index is None else face_index, FACE_INDICES)
        alignment = steps.align(photo_source(photo), int(index))
        return alignment.preview, alignment.summary, alignment.crop, alignment.camera

    def on_invert(crop, camera, mode: str, session: Session | None, request: gr.Request,
                  progress=gr.Progress()):
        """Invert the crop seen from ``camera`` in ``mode`` (v2, v1 or w+): input | reconstruction, summary."""
        first = "Align a photo first: upload one (or pick an example) and press Reconstruct."
        if not camera:
            raise ValueError(first)
        source = photo_source(crop, missing=first)
        models.inverter(mode)  # an unknown mode is refused before any work
        progress(0.1, desc=f"inverting with {MODE_LABELS[mode]}")
        start = time.perf_counter()
        inversion, input_view = gpu_invert(models, source, camera, mode)
        seconds = time.perf_counter() - start
        session = workspace.session(request.session_hash or (session.key if session else uuid.uuid4().hex))
        session.start(inversion, input_view)
        size = inversion.input_image.shape[-1]
        info = (f"**{MODE_LABELS[mode]}** in {seconds:.1f} s. Left: the crop as the network sees it ({size} px); "
                "right: the reconstruction rendered from the photo's camera.")
        if mode == "w+":
            info += (" This is the pSp codes alone: compare with a TriPlaneNet mode to see what the tri-plane "
                     "branch adds.")
        return steps.comparison(inversion, input_view), info, session

    def on_refine(count: float, session: Session | None, progress=gr.Progress()):
        """Fit the session's head to its photo in ``count`` steps; the reconstruction updates as it goes.

        The session's inversion is replaced only when the refinement finishes: stopped or
        failed, the previous result stays (and :func:`on_show_current` shows it again).
        """
        session = workspace.require(session)
        start = time.perf_counter()
        for update in gpu_refine(session.inversion, count):
            progress(update.step / update.steps, desc=f"refining: step {update.step} of {update.steps}")
            if update.result is None and update.preview is not None:
                yield update.preview, gr.skip(), gr.skip()
        session.start(*update.result)
        info = (f"**Refined** in {time.perf_counter() - start:.1f} s ({update.steps} steps): the tri-planes were "
                "fitted to the photo (and its mirror image) at its camera. Views, depth and mesh below show the "
                "refined head; the saved inversion is the refined one.")
        yield update.preview, info, session

    def on_show_current(session: Session | None):
        """The current result's input | reconstruction (after a stopped refinement), or nothing yet."""
        if session is None or session.inversion is None:
            return gr.skip()
        return steps.comparison(*session.require())

    def on_views(count: float, session: Session | None, progress=gr.Progress()):
        """A yaw sweep of ``count`` views of the current head, with captions."""
        inversion = workspace.require(session).inversion
        progress(0.1, desc="rendering views")
        return gpu_views(inversion, count)

    def on_depth(session: Session | None):
        """Depth at the photo's camera: colour picture, and raw .npy (512x512 float32, world units)."""
        session = workspace.require(session)
        depth, picture = steps.depth_at_crop(session.input_view)
        return picture, str(session.save_depth(depth))

    def on_mesh(resolution: float, session: Session | None, progress=gr.Progress()):
        """Coloured mesh at ``resolution``^3: .glb for the viewer, plotly figure, .glb/.ply/.obj files, a note."""
        session = workspace.require(session)
        mesh, note = gpu_mesh(session.inversion, resolution, report=reporter(progress))
        progress(0.9, desc="writing .glb, .ply, .obj")
        paths = session.save_mesh(mesh)
        figure = mesh_figure(mesh, max_faces=FIGURE_FACES)
        return str(paths[".glb"]), figure, [str(p) for p in paths.values()], note

    def on_render(yaw: float, pitch: float, session: Session | None):
        """The head from ``yaw`` / ``pitch`` (degrees): image and depth picture, from the cached tri-planes."""
        return gpu_novel_view(workspace.require(session).inversion, yaw, pitch)

    def on_video(frames: float, session: Session | None, progress=gr.Progress()):
        """Turntable video (.mp4, 30 frames per second) of ``frames`` frames along EG3D's orbit."""
        session = workspace.require(session)
        images = gpu_turntable(session.inversion, frames, report=reporter(progress))
        return str(session.save_video(images, VIDEO_FPS))

    def on_save_inversion(session: Session | None):
        """The current inversion as .safetensors (``triplanenet.Inversion.load``)."""
        return str(workspace.require(session).save_inversion())

    def page_opened(request: gr.Request) -> None:
        """A browser page was loaded: its session is kept while the page is open (up to its time to live)."""
        if request.session_hash:
            workspace.page_opened(request.session_hash)

    def end_session(request: gr.Request) -> None:
        """The page was closed (or the API client disconnected)."""
        if request.session_hash:
            workspace.end(request.session_hash)

    def forget(session: Session | None) -> None:
        """``gr.State`` delete callback: the session's state expired."""
        if session is not None:
            workspace.end(session.key)

    with gr.Blocks(title="TriPlaneNet: a face photo in 3D", delete_cache=CACHE_SWEEP) as demo:
        session = gr.State(None, time_to_live=SESSION_TTL, delete_callback=forget)
        gr.Markdown("# TriPlaneNet: a face photo in 3D\n"
                    "Upload a photo with a face (or use the webcam, or paste one), press **Reconstruct**, and see "
                    "the head from any angle, as a depth map and as a coloured mesh. The face is cropped and posed "
                    "the way EG3D was trained, inverted into EG3D's tri-planes with TriPlaneNet, and every view "
                    "below is rendered from those tri-planes.")
        gr.Markdown(models.description(), elem_id="model-info")
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                photo = gr.Image(label="Photo", sources=["upload", "webcam", "clipboard"], type="filepath",
                                   height=360, elem_id="photo")
                with gr.Row():
                    face_index = gr.Number(0, label="Face (0: the largest)", precision=0, minimum=FACE_INDICES[0],
                                           maximum=FACE_INDICES[1])
                    mode = gr.Radio([(MODE_LABELS[m], m) for m in models.modes], value=models.default_mode,
                                    label="Inversion")
                run = gr.Button("Reconstruct in 3D", variant="primary", elem_id="reconstruct")
            with gr.Column(scale=1, min_width=320):
                preview = gr.Image(label="Alignment: the 512 crop with its landmarks", interactive=False,
                                   format="png", height=300, elem_id="alignment")
                alignment_info = gr.Markdown(label="Alignment summary")
                comparison = gr.Image(label="Input | reconstruction", interactive=False, format="png",
                                      elem_id="comparison")
                inversion_info = gr.Markdown(label="Inversion summary")
                with gr.Row():
                    refine_steps = gr.Slider(*REFINE_STEPS, value=DEFAULT_REFINE_STEPS, step=1,
                                             label="Refinement steps", scale=2)
                    refine_button = gr.Button("Refine: fit the photo (sharper, about 10 s)", scale=1,
                                              elem_id="refine")
                    stop_button = gr.Button("Stop", scale=0, variant="stop", elem_id="stop-refine")
        with gr.Accordion("Crop and camera (what the inversion receives)", open=False):
            with gr.Row():
                crop = gr.Image(label="Aligned crop", type="pil", format="png", interactive=False)
                camera = gr.JSON(label="EG3D camera label (16 cam2world + 9 intrinsics)")
        examples = gr.Examples([[str(path), 0] for path in EXAMPLES], inputs=[photo, face_index],
                               outputs=[preview, alignment_info, crop, camera], fn=readable(on_align),
                               cache_examples=True, cache_mode="lazy", label="Examples (public domain / our renders)")

        gr.Markdown("## Views\nA yaw sweep rendered from the cached tri-planes; the sliders render any other view.")
        gallery = gr.Gallery(label="Views", columns=5, height=300, format="png", elem_id="views")
        count = gr.Slider(*steps.VIEW_COUNTS, value=models.default_view_count, step=1, label="Number of views")
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                yaw = gr.Slider(*steps.YAW_DEGREES, value=20, step=1, label="Yaw (degrees)")
                pitch = gr.Slider(*steps.PITCH_DEGREES, value=0, step=1, label="Pitch (degrees)")
            novel = gr.Image(label="View from the sliders", interactive=False, format="png", height=280,
                             elem_id="novel-view")
            novel_depth = gr.Image(label="Its depth", interactive=False, format="png", height=280)

        gr.Markdown("## Depth")
        with gr.Row():
            depth_picture = gr.Image(label="Depth at the photo's camera", interactive=False, format="png",
                                     height=300, elem_id="depth")
            depth_file = gr.File(label="Depth .npy (512x512 float32, world units along each ray)")

        gr.Markdown("## Coloured mesh")
        with gr.Row():
            model3d = gr.Model3D(label="Mesh (GLB)", height=420, elem_id="mesh3d")
            figure = gr.Plot(label="Interactive mesh (plotly)", elem_id="mesh-plot")
        with gr.Row():
            resolution = gr.Slider(*steps.MESH_RESOLUTIONS, value=256, step=32,
                                   label="Mesh resolution (grid points per axis)")
            mesh_files = gr.File(label="Mesh downloads (.glb, .ply, .obj)", file_count="multiple")
        mesh_note = gr.Markdown(label="Mesh note")

        gr.Markdown("## Turntable video and the inversion")
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                frames = gr.Slider(*steps.VIDEO_FRAMES, value=60, step=4, label="Video frames (30 per second)")
                video_button = gr.Button("Make the turntable video")
                save_button = gr.Button("Save the inversion (.safetensors)")
            video = gr.Video(label="Turntable", interactive=False, elem_id="turntable")
            inversion_file = gr.File(label="Inversion (load with triplanenet.Inversion.load)")

        # No event lets Gradio preprocess its inputs: our loaders and range checks see what the client sent
        # (a non-image crop, "abc" for a slider, NaN) and answer with a readable message.
        raw = {"preprocess": False}
        model_work = {"concurrency_id": "model", "concurrency_limit": MODEL_CONCURRENCY, **raw}

        def show_results(event: Any, named: Callable[[str], dict[str, Any]]) -> None:
            """Chain views -> depth -> mesh after a new head; each shows up as soon as it exists."""
            (event
             .success(readable(on_views), [count, session], gallery, **named("views"), **model_work)
             .success(readable(on_depth), session, [depth_picture, depth_file], **named("depth"), **raw)
             .success(readable(on_mesh), [resolution, session], [model3d, figure, mesh_files, mesh_note],
                      **named("mesh"), **model_work))

        def after_alignment(aligned: Any, public: bool) -> None:
            """Chain inversion -> views -> depth -> mesh after an alignment."""
            def named(name: str) -> dict[str, Any]:
                return {"api_name": name} if public else {"api_name": f"{name}_after_example",
                                                          "api_visibility": "private"}
            show_results(aligned.success(readable(on_invert), [crop, camera, mode, session],
                                         [comparison, inversion_info, session], **named("invert"), **model_work),
                         named)

        aligned = run.click(readable(on_align), [photo, face_index], [preview, alignment_info, crop, camera],
                            api_name="align", preprocess=False, concurrency_id="align", concurrency_limit=2)
        after_alignment(aligned, public=True)
        after_alignment(examples.cache_event, public=False)

        refined = refine_button.click(readable(on_refine), [refine_steps, session],
                                      [comparison, inversion_info, session], api_name="refine", **model_work)
        show_results(refined, lambda name: {"api_name": f"{name}_after_refine", "api_visibility": "private"})
        stop_button.click(on_show_current, session, comparison, cancels=[refined], api_name="stop_refine",
                          api_visibility="private", **raw)
        count.release(readable(on_views), [count, session], gallery, api_name="views_again",
                      api_visibility="private", **model_work)
        resolution.release(readable(on_mesh), [resolution, session], [model3d, figure, mesh_files, mesh_note],
                           api_name="mesh_again", api_visibility="private", **model_work)
        gr.on([yaw.release, pitch.release], readable(on_render), [yaw, pitch, session], [novel, novel_depth],
              api_name="render", show_progress="minimal", **model_work)
        video_button.click(readable(on_video), [frames, session], video, api_name="video", **model_work)
        save_button.click(readable(on_save_inversion), session, inversion_file, api_name="inversion", **raw)
        demo.load(page_opened, api_visibility="private")
        demo.unload(end_session)
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


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM ends the server like Ctrl-C: Gradio closes it, then ``atexit`` deletes the workspace."""
    raise KeyboardInterrupt


def open_workspace(max_sessions: int) -> Workspace:
    """The session workspace, removed at exit; Gradio's cache goes inside it unless ``$GRADIO_TEMP_DIR`` is set.

    Inside it, the cache is swept with the workspace when a later start finds this process dead.
    """
    workspace = Workspace(served=os.environ.get("GRADIO_TEMP_DIR"), max_sessions=max_sessions)
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.served)
    atexit.register(workspace.remove)
    workspace.start_sweeper()
    return workspace


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        models = get_model_set(args.checkpoint)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"error: cannot load the model {args.checkpoint!r}: {exc}", file=sys.stderr)
        return 2
    if args.max_sessions < 1:
        print(f"error: --max-sessions must be at least 1, got {args.max_sessions}", file=sys.stderr)
        return 2
    workspace = open_workspace(args.max_sessions)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    demo = build_app(models, workspace)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    demo.launch(server_name=args.host, server_port=args.port, ssr_mode=False, max_file_size="40mb",
                allowed_paths=[str(ROOT / "examples"), str(workspace.root)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
