"""Video in (:mod:`triplanenet.clips`) on the bundled model: speed, memory and steadiness.

* **speed**: :func:`~triplanenet.clips.invert_video` on the astronaut moved and zoomed smoothly through a
  640x480 clip of ``--seconds`` at 15 fps (camera ``input``, no refinement; with ``--refine-steps N`` a
  second run on the first second refines every frame): seconds per frame for the tracking pass and for
  crop + inversion + render + write, wall and CPU per thread (what it would take on otherwise idle cores);
* **memory**: peak RSS of that run above the RSS of the loaded, warmed-up pipeline (``VmHWM - VmRSS``), with
  glibc's allocator tuned as the app tunes it (:mod:`triplanenet.app.allocator`; ``--glibc-default``: untuned);
* **camera error**: a held-out synthetic head rendered along a known camera path (``--synthetic-frames``):
  mean absolute yaw and pitch error against the truth, per frame (what a photo gets) and smoothed;
* **steadiness**: the astronaut repeated for ``--still-frames`` frames with fresh camera-like noise in each
  (``video_clips.NOISE_STD`` levels): the standard deviation of the camera's yaw and pitch per frame
  (smoothing off) and smoothed, and the mean frame-to-frame change of the frontal re-rendering
  (``--render-frames`` frames, 8-bit levels) with independent per-frame crops and with the smoothed ones.

    python benchmarks/bench_clips.py [--seconds 10] [--still-frames 30] [--render-frames 10] [--refine-steps 0]
                                     [--synthetic-frames 10] [--only-synthetic]
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
from triplanenet.clips.smoothing import face_track
from triplanenet.clips.tracking import track_faces
from triplanenet.app import allocator
from triplanenet.pipeline import Pipeline
from triplanenet.preprocess import label_angles

FPS = 15.0
SPEED_FRAME = (640, 480)
SYNTHETIC_SEED = 3


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


def synthetic_errors(folder: Path, frames: int) -> dict[str, float]:
    """Mean absolute yaw and pitch error (degrees) against the truth along a synthetic head's camera path
    (yaw -0.4..+0.4 rad, pitch 0.1 sin), per frame (a photo's estimate) and smoothed."""
    yaws = np.linspace(-0.4, 0.4, frames)
    pitches = 0.1 * np.sin(np.linspace(0, np.pi, frames))
    truth = video_clips.synthetic_clip(SYNTHETIC_SEED, folder / "synthetic.mp4", yaws, pitches, FPS)
    true_angles = np.array([label_angles(camera) for camera in truth])
    info, decoded = open_clip(folder / "synthetic.mp4", FPS, frames / FPS + 1)
    tracked = track_faces(decoded)
    numbers = {"found": float(tracked.found.mean())}
    for name, seconds in (("raw", 0.0), ("smoothed", SMOOTH_SECONDS)):
        track = face_track(tracked, info.size, info.fps, seconds)
        angles = np.array([(track.pose(t).yaw_deg, track.pose(t).pitch_deg) for t in range(len(track))])
        numbers[f"yaw_{name}"], numbers[f"pitch_{name}"] = np.abs(angles - true_angles).mean(axis=0)
    return numbers


def render_change(photo: Image.Image, folder: Path, pipeline: Pipeline, frames: int) -> dict[str, float]:
    """Mean absolute change between consecutive frames of the frontal re-rendering of a still clip."""
    clip = video_clips.still_clip(photo, folder / "still_render.mp4", frames, FPS)
    numbers = {}
    for name, seconds in (("raw", 0.0), ("smoothed", SMOOTH_SECONDS)):
        out = folder / f"frontal_{name}"
        invert_video(clip, out, "frontal", FPS, frames / FPS + 1, 0, pipeline, smooth_seconds=seconds)
        _, rendered = open_clip(out / "rendered.mp4", FPS, frames / FPS + 1)
        images = np.stack(list(rendered)).astype(np.float64)
        numbers[f"change_{name}"] = float(np.abs(np.diff(images, axis=0)).mean())
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--still-frames", type=int, default=30)
    parser.add_argument("--render-frames", type=int, default=10)
    parser.add_argument("--refine-steps", type=int, default=0)
    parser.add_argument("--synthetic-frames", type=int, default=10)
    parser.add_argument("--only-synthetic", action="store_true", help="run the synthetic camera path alone")
    parser.add_argument("--glibc-default", action="store_true", help="leave glibc's allocator untuned (the app tunes it)")
    args = parser.parse_args()
    if not args.glibc_default:
        allocator.configure()
    photo = Image.fromarray(data.astronaut())
    pipeline = Pipeline.from_pretrained()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        synthetic = synthetic_errors(folder, args.synthetic_frames)
        print(f"synthetic head {SYNTHETIC_SEED}, {args.synthetic_frames} frames along a known path (face found in "
              f"{synthetic['found']:.0%}): mean abs error yaw {synthetic['yaw_raw']:.2f} -> "
              f"{synthetic['yaw_smoothed']:.2f} deg, pitch {synthetic['pitch_raw']:.2f} -> "
              f"{synthetic['pitch_smoothed']:.2f} deg (per frame -> smoothed)")
        if args.only_synthetic:
            return
        warm = video_clips.still_clip(photo, folder / "warm.mp4", 2, FPS)
        invert_video(warm, folder / "warm", "input", FPS, 1.0, 0, pipeline)
        print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
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
        change = render_change(photo, folder, pipeline, args.render_frames)
        ratio = change["change_smoothed"] / change["change_raw"]
        print(f"frontal re-rendering, {args.render_frames} frames: frame-to-frame change {change['change_raw']:.3f}"
              f" -> {change['change_smoothed']:.3f} levels (ratio {ratio:.2f})")
        print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
