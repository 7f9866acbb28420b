"""Video in (:mod:`triplanenet.clips`) on the bundled model: speed, memory and steadiness.

* **speed**: :func:`~triplanenet.clips.invert_video` on the astronaut moved and zoomed smoothly through a
  640x480 clip of ``--seconds`` at 15 fps (camera ``input``, no refinement; with ``--refine-steps N`` a
  second run on the first second refines every frame): seconds per frame for the tracking pass and for
  crop + inversion + render + write, wall and CPU per thread (what it would take on otherwise idle cores);
* **memory**: peak RSS of that run above the RSS of the loaded, warmed-up pipeline (``VmHWM - VmRSS``), with
  glibc's allocator tuned as the app tunes it (:mod:`triplanenet.app.allocator`; ``--glibc-default``: untuned);
* **camera steadiness** (with speed): the astronaut repeated for ``--still-frames`` frames with fresh
  camera-like noise in each (``video_clips.NOISE_STD`` levels): the standard deviation of the camera's yaw
  and pitch per frame (smoothing off) and smoothed;
* **synthetic**: a held-out synthetic head rendered along a known camera path while it smiles
  (``--synthetic-frames``): per-frame camera error and PSNR of the re-rendered head against the truth,
  frames processed as single photos and as a clip (:func:`synthetic_truth`);
* **steadiness**: the mean frame-to-frame change of the frontal re-rendering of a still clip
  (``--render-frames`` frames, 8-bit levels) made per frame, from one fixed crop, with smoothed crops and
  with smoothed crops and heads (:func:`render_change`).

    python benchmarks/bench_clips.py [--parts speed,synthetic,steadiness] [--seconds 10] [--still-frames 30]
                                     [--render-frames 15] [--refine-steps 0] [--synthetic-frames 12]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

import video_clips
from triplanenet.clips import ClipProgress, SMOOTH_SECONDS, invert_video, open_clip
from triplanenet.clips.frame_heads import INVERT_BATCH, FrameHeads
from triplanenet.clips.head_smoothing import CODE_SECONDS, HeadSmoother
from triplanenet.clips.smoothing import face_track
from triplanenet.clips.tracking import Tracked, track_faces
from triplanenet.app import allocator
from triplanenet.evaluation.metrics import psnr
from triplanenet.outputs.views import View
from triplanenet.pipeline import Pipeline
from triplanenet.preprocess import AlignedFace, aligned_from_points, label_angles
from triplanenet.preprocess.align import render_crop

FPS = 15.0
SPEED_FRAME = (640, 480)
SYNTHETIC_SEED = 3
SMILE = 1.0
PARTS = ("speed", "synthetic", "steadiness")
"""Largest smile of the synthetic clip (the parameter's range is -0.2 .. 1)."""


def rss_now_mb() -> float:
    """Resident memory of this process now (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageClock:
    """A progress callback that notes when each stage ends, in wall and CPU-per-thread seconds."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float]] = {}
        self.frames = 0

    def __call__(self, state: ClipProgress) -> None:
        self.marks[state.stage] = (time.perf_counter(), time.process_time() / torch.get_num_threads())
        self.frames = state.done


def timed_run(clip: Path, out: Path, pipeline: Pipeline, refine_steps: int, seconds: float) -> dict[str, float]:
    """Per-frame seconds of both passes (wall, CPU per thread) and the peak RSS above now."""
    base = rss_now_mb()
    clock = StageClock()
    start = (time.perf_counter(), time.process_time() / torch.get_num_threads())
    result = invert_video(clip, out, "input", FPS, seconds, refine_steps, pipeline, clock)
    track, done = clock.marks["tracking"], clock.marks["inverting"]
    n = result.frames
    return {"frames": n, "track_wall": (track[0] - start[0]) / n, "track_cpu": (track[1] - start[1]) / n,
            "invert_wall": (done[0] - track[0]) / n, "invert_cpu": (done[1] - track[1]) / n,
            "peak_mb": peak_rss_mb() - base}


def speed_clip(photo: Image.Image, path: Path, seconds: float) -> Path:
    frames = int(round(seconds * FPS))
    motion = video_clips.smooth_motion(frames, (-40, -60), (80, 40), (1.4, 1.8))
    return video_clips.moving_clip(photo, path, motion, FPS, SPEED_FRAME)


def steadiness(photo: Image.Image, folder: Path, still_frames: int) -> dict[str, float]:
    """Yaw/pitch standard deviation (degrees) on a still clip, per frame and smoothed."""
    clip = video_clips.still_clip(photo, folder / "still.mp4", still_frames, FPS)
    info, frames = open_clip(clip, FPS, still_frames / FPS + 1)
    tracked = track_faces(frames)
    numbers = {}
    for name, seconds in (("raw", 0.0), ("smoothed", SMOOTH_SECONDS)):
        track = face_track(tracked, info.size, info.fps, seconds)
        poses = [track.pose(t) for t in range(len(track))]
        numbers[f"yaw_{name}"] = float(np.std([p.yaw_deg for p in poses]))
        numbers[f"pitch_{name}"] = float(np.std([p.pitch_deg for p in poses]))
    return numbers


def heads_rendered(pipeline: Pipeline, faces: list[AlignedFace], camera: str, code_seconds: float) -> list[View]:
    """The views of aligned frames ``faces`` (one clip, in order) at ``camera``, the heads smoothed over
    ``code_seconds`` (0: each frame's own head), as :func:`~triplanenet.clips.invert_video` makes them."""
    count = len(faces)
    heads = FrameHeads(pipeline, count, HeadSmoother(count, code_seconds * FPS), camera)
    views = [view for first in range(0, count, INVERT_BATCH)
             for _, view in heads.views(faces[first:first + INVERT_BATCH], first)]
    return views + [view for _, view in heads.finish()]


def tracked_faces(tracked: Tracked, frames: list[np.ndarray], smooth_seconds: float) -> list[AlignedFace]:
    """The frames [H,W,3] cropped at the track smoothed over ``smooth_seconds`` (0: each frame's own points)."""
    track = face_track(tracked, frames[0].shape[1::-1], FPS, smooth_seconds)
    return [track.aligned(t, frame) for t, frame in enumerate(frames)]


def synthetic_truth(folder: Path, pipeline: Pipeline, frames: int) -> dict[str, dict[str, float]]:
    """Per method: mean absolute yaw and pitch error (degrees) against the true camera, and the mean PSNR (dB)
    of the head rendered at the frame's estimated camera against the true frame cropped at the same box.

    The clip: a held-out synthetic head along a known path (yaw -0.4..+0.4 rad, pitch 0.1 sin) whose smile
    rises from 0 to :data:`SMILE` and falls back. ``single photo`` aligns every frame as a photo
    (``Pipeline.align``); the video methods crop at the clip's track.
    """
    phase = np.linspace(0, np.pi, frames)
    truth, true_frames = video_clips.synthetic_clip(SYNTHETIC_SEED, folder / "synthetic.mp4",
                                                    np.linspace(-0.4, 0.4, frames), 0.1 * np.sin(phase), FPS,
                                                    smiles=SMILE * np.sin(phase))
    true_angles = np.array([label_angles(camera) for camera in truth])
    _, decoded = open_clip(folder / "synthetic.mp4", FPS, frames / FPS + 1)
    decoded = list(decoded)
    tracked = track_faces(iter(decoded))
    methods = {"single photo": ([pipeline.align(Image.fromarray(frame)) for frame in decoded], 0.0),
               "video, smoothed crops": (tracked_faces(tracked, decoded, SMOOTH_SECONDS), 0.0),
               "video, smoothed crops + heads": (tracked_faces(tracked, decoded, SMOOTH_SECONDS), CODE_SECONDS)}
    table = {}
    for name, (faces, code_seconds) in methods.items():
        views = heads_rendered(pipeline, faces, "input", code_seconds)
        errors = np.abs(np.array([(f.yaw_deg, f.pitch_deg) for f in faces]) - true_angles).mean(axis=0)
        table[name] = {"yaw": errors[0], "pitch": errors[1],
                       "psnr": float(np.mean([truth_psnr(view.image, frame, face.box)
                                              for view, frame, face in zip(views, true_frames, faces)]))}
    return table


def truth_psnr(image: np.ndarray, true_frame: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """PSNR (dB) of a render [R,R,3] uint8 against the true frame [H,W,3] cropped at ``box`` (black outside)."""
    crop = render_crop(Image.fromarray(true_frame), box, size=image.shape[0], fill="black")
    target = torch.as_tensor(np.array(crop), dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1
    prediction = torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1
    return float(psnr(prediction, target)[0])


def render_change(photo: Image.Image, folder: Path, pipeline: Pipeline, frames: int) -> dict[str, float]:
    """Mean absolute change (8-bit levels) between consecutive frames of the frontal re-rendering of a still
    clip (rendered in memory, no video coding), per way of making it:

    ``per frame`` (each frame's own crop, camera and head), ``one crop`` (every frame cropped at the middle
    frame's smoothed crop and camera: only the pixels' noise changes), ``smoothed crops`` (crops and cameras
    smoothed) and ``smoothed crops + heads`` (the heads smoothed too: the default).
    """
    clip = video_clips.still_clip(photo, folder / "still_render.mp4", frames, FPS)
    _, decoded = open_clip(clip, FPS, frames / FPS + 1)
    decoded = list(decoded)
    tracked = track_faces(iter(decoded))
    smoothed = tracked_faces(tracked, decoded, SMOOTH_SECONDS)
    middle = smoothed[frames // 2]
    one_crop = [aligned_from_points(Image.fromarray(frame), middle.landmarks, middle.points5,
                                    middle.pose_points == "68 landmarks",
                                    backend=middle.backend, source=middle.alignment_points, faces_found=1,
                                    face_index=0) for frame in decoded]
    methods = {"per frame": (tracked_faces(tracked, decoded, 0.0), 0.0), "one crop": (one_crop, 0.0),
               "smoothed crops": (smoothed, 0.0), "smoothed crops + heads": (smoothed, CODE_SECONDS)}
    changes = {}
    for name, (faces, code_seconds) in methods.items():
        images = np.stack([view.image for view in heads_rendered(pipeline, faces, "frontal", code_seconds)])
        changes[name] = float(np.abs(np.diff(images.astype(np.float64), axis=0)).mean())
    return changes


def print_speed(photo: Image.Image, folder: Path, pipeline: Pipeline, args: argparse.Namespace) -> None:
    """Speed and memory of a whole clip (and with refinement), and the still clip's camera steadiness."""
    warm = video_clips.still_clip(photo, folder / "warm.mp4", 2, FPS)
    invert_video(warm, folder / "warm", "input", FPS, 1.0, 0, pipeline)
    speed = timed_run(speed_clip(photo, folder / "speed.mp4", args.seconds), folder / "speed", pipeline, 0,
                      args.seconds)
    print(f"{args.seconds:g} s clip, {speed['frames']} frames at {FPS:g} fps, no refinement: "
          f"tracking {speed['track_wall']:.2f} s/frame (CPU/thread {speed['track_cpu']:.2f}), "
          f"crop+invert+render+write {speed['invert_wall']:.2f} s/frame (CPU/thread {speed['invert_cpu']:.2f}); "
          f"total {speed['track_wall'] + speed['invert_wall']:.2f} s/frame "
          f"(CPU/thread {speed['track_cpu'] + speed['invert_cpu']:.2f}); "
          f"peak RSS {speed['peak_mb']:.0f} MB above the loaded pipeline")
    if args.refine_steps:
        refined = timed_run(folder / "speed.mp4", folder / "refined", pipeline, args.refine_steps, 1.0)
        print(f"with {args.refine_steps} refinement steps: {refined['invert_wall']:.2f} s/frame "
              f"(CPU/thread {refined['invert_cpu']:.2f}) after tracking")
    still = steadiness(photo, folder, args.still_frames)
    print(f"still clip, {args.still_frames} frames: yaw std {still['yaw_raw']:.3f} -> {still['yaw_smoothed']:.3f}"
          f" deg, pitch std {still['pitch_raw']:.3f} -> {still['pitch_smoothed']:.3f} deg (per frame -> smoothed)")


def print_synthetic(folder: Path, pipeline: Pipeline, frames: int) -> None:
    table = synthetic_truth(folder, pipeline, frames)
    print(f"synthetic head {SYNTHETIC_SEED}, {frames} frames along a known path, smile 0 -> {SMILE:g} -> 0:\n"
          "| method | mean abs yaw error | mean abs pitch error | PSNR vs truth |\n| --- | --- | --- | --- |")
    for name, row in table.items():
        print(f"| {name} | {row['yaw']:.2f}° | {row['pitch']:.2f}° | {row['psnr']:.2f} dB |")


def print_change(photo: Image.Image, folder: Path, pipeline: Pipeline, frames: int) -> None:
    change = render_change(photo, folder, pipeline, frames)
    print(f"frontal re-rendering of a still clip, {frames} frames:\n"
          "| made with | mean frame-to-frame change | ratio to per frame |\n| --- | --- | --- |")
    for name, value in change.items():
        print(f"| {name} | {value:.3f} levels | {value / change['per frame']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="which measures, comma-separated (%(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--still-frames", type=int, default=30)
    parser.add_argument("--render-frames", type=int, default=15)
    parser.add_argument("--refine-steps", type=int, default=0)
    parser.add_argument("--synthetic-frames", type=int, default=12)
    parser.add_argument("--glibc-default", action="store_true", help="leave glibc's allocator untuned (the app tunes it)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if not set(parts) <= set(PARTS):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    if not args.glibc_default:
        allocator.configure()
    photo = Image.fromarray(data.astronaut())
    pipeline = Pipeline.from_pretrained()
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if "speed" in parts:  # first: its peak RSS must not include the other parts'
            print_speed(photo, folder, pipeline, args)
        if "synthetic" in parts:
            print_synthetic(folder, pipeline, args.synthetic_frames)
        if "steadiness" in parts:
            print_change(photo, folder, pipeline, args.render_frames)
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
