"""Video in (triplanenet.clips): real clips written and read with ffmpeg, made here from the astronaut photo."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import load_benchmark
from triplanenet.clips import ClipError, invert_video, open_clip
from triplanenet.clips.decode import MAX_SIDE
from triplanenet.clips.head_smoothing import MAX_RADIUS, HeadSmoother
from triplanenet.clips.smoothing import face_track, fill_lost, smoothing_matrix
from triplanenet.clips.tracking import nearest_face, track_faces
from triplanenet.inversion.result import Inversion
from triplanenet.outputs.video import write_video
from triplanenet.preprocess import DetectedFace, align_face

clips = load_benchmark("video_clips")
FPS = 15.0


@pytest.fixture(scope="module")
def photo(astronaut) -> Image.Image:
    return Image.open(astronaut).convert("RGB")


@pytest.fixture(scope="module")
def motion():
    return clips.smooth_motion(6, (100, 20), (60, 40), (1.0, 1.3))


@pytest.fixture(scope="module")
def moving(photo, motion, tmp_path_factory):
    return clips.moving_clip(photo, tmp_path_factory.mktemp("clips") / "moving.mp4", motion, FPS)


def read_all(path, fps=FPS, max_seconds=10.0):
    info, frames = open_clip(path, fps, max_seconds)
    return info, list(frames)


# Reading


def test_a_clip_reads_back_at_the_target_rate(moving, photo, motion):
    info, frames = read_all(moving)
    assert info.size == clips.FRAME_SIZE and info.fps == FPS and not info.audio and not info.truncated
    assert len(frames) == 6 and frames[0].shape == (256, 256, 3)
    truth = clips.render_window(photo, motion.origin[3], motion.scale[3]).astype(float)
    assert np.abs(frames[3] - truth).mean() < 4  # H.264 at quality 8
    _, slower = read_all(moving, fps=5.0)
    assert len(slower) == 2
    _, shorter_than_one_interval = read_all(moving, fps=1.0)
    assert len(shorter_than_one_interval) == 1


def test_the_duration_limit_cuts_the_clip(photo, tmp_path):
    path = clips.still_clip(photo.resize((64, 64)), tmp_path / "long.mp4", 12, FPS)
    info, frames = read_all(path, max_seconds=0.5)
    assert info.truncated and info.duration == pytest.approx(0.8, abs=0.05)
    assert 7 <= len(frames) <= 8


@pytest.mark.parametrize("suffix", [".mov", ".mkv", ".webm", ".gif"])
def test_other_containers_read(moving, tmp_path, suffix):
    """(A GIF stores whole hundredths of a second per frame: written and read at 10 fps.)"""
    fps = 10.0 if suffix == ".gif" else FPS
    path = (write_video(read_all(moving)[1], tmp_path / "clip.gif", fps) if suffix == ".gif"
            else clips.convert(moving, tmp_path / f"clip{suffix}"))
    info, frames = read_all(path, fps)
    assert info.size == clips.FRAME_SIZE and len(frames) == 6


def test_a_phone_video_stored_sideways_comes_out_upright(photo, tmp_path):
    small = photo.resize((128, 96))
    path = clips.sideways_clip(small, tmp_path / "phone.mp4", 2, FPS)
    info, frames = read_all(path)
    assert info.size == (128, 96)
    assert np.abs(frames[0].astype(float) - np.asarray(small)).mean() < 6


def test_frames_above_4k_are_downscaled(tmp_path):
    wide = np.tile(np.linspace(0, 255, 4000, dtype=np.uint8)[None, :, None], (40, 1, 3))
    info, frames = read_all(write_video([wide], tmp_path / "wide.mp4", FPS))
    assert info.size == (MAX_SIDE, 38) and frames[0].shape == (38, MAX_SIDE, 3)


def test_bad_files_get_a_readable_error(moving, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "cut.mp4").write_bytes(moving.read_bytes()[:2000])
    expected = {"notes.mp4": "not a video", "empty.mp4": "empty", "cut.mp4": "not a video",
                "missing.mp4": "No such file", ".": "folder"}
    for name, words in expected.items():
        with pytest.raises(ClipError, match=words):
            read_all(tmp_path / name)
    with pytest.raises(ValueError, match="fps must be between"):
        read_all(moving, fps=0.0)


# Smoothing and filling


def test_the_smoother_keeps_straight_motion_and_shrinks_noise():
    matrix = smoothing_matrix(30, 3.0)
    line = 5.0 + 0.7 * np.arange(30)
    np.testing.assert_allclose(matrix @ line, line, atol=1e-9)  # no lag, ends included
    noise = np.random.default_rng(0).normal(size=(30, 2000))
    assert (matrix @ noise)[8:22].std() < noise.std() / 3
    np.testing.assert_array_equal(smoothing_matrix(30, 0.0), np.eye(30))


def small_head(ws: torch.Tensor, planes: torch.Tensor) -> Inversion:
    """A one-face head with codes ws [1,2,4] and planes [1,3,2,4,4] (no generator: never rendered)."""
    return Inversion(ws, planes + 1, planes, torch.zeros(1, 25))


def test_heads_are_smoothed_streamed_without_lag_and_hand_back_every_frame():
    rng = np.random.default_rng(0)
    count, sigma = 12, 1.5
    line = [small_head(torch.full((1, 2, 4), 2.0 + 0.5 * t), torch.full((1, 3, 2, 4, 4), -1.0 + 0.25 * t))
            for t in range(count)]
    noisy = [small_head(torch.as_tensor(rng.normal(size=(1, 2, 4)), dtype=torch.float32),
                        torch.as_tensor(rng.normal(size=(1, 3, 2, 4, 4)), dtype=torch.float32)) for _ in range(count)]
    for heads, straight in ((line, True), (noisy, False)):
        smoother, out = HeadSmoother(count, sigma), []
        for t, head in enumerate(heads):
            ready = smoother.push(t, head)
            assert len(smoother.heads) <= 2 * MAX_RADIUS + 1 and all(s <= t - smoother.radius for s, _ in ready)
            out += ready
        out += smoother.finish()
        assert [t for t, _ in out] == list(range(count))
        assert all(torch.equal(head.planes_initial, head.planes) for _, head in out)
        if straight:  # a straight line comes back as it went in, ends included
            for (t, head), truth in zip(out, heads):
                torch.testing.assert_close(head.ws, truth.ws)
                torch.testing.assert_close(head.planes, truth.planes)
        else:
            assert torch.stack([h.planes for _, h in out[3:-3]]).std() < 0.6 * torch.stack(
                [h.planes for h in heads]).std()
    unchanged = HeadSmoother(count, 0.0)
    assert unchanged.push(0, noisy[0])[0][1].ws is noisy[0].ws


def test_a_stopped_clip_gets_its_held_heads_back():
    smoother = HeadSmoother(10, 1.5)
    pushed = [smoother.push(t, small_head(torch.zeros(1, 2, 4), torch.zeros(1, 3, 2, 4, 4))) for t in range(5)]
    assert [t for ready in pushed for t, _ in ready] == [0, 1] and [t for t, _ in smoother.finish()] == [2, 3, 4]


def test_lost_frames_are_interpolated_and_the_ends_held():
    values = np.arange(6, dtype=float)[:, None] * np.array([[1.0, 10.0]])
    found = np.array([False, True, False, False, True, False])
    filled = fill_lost(np.where(found[:, None], values, np.nan), found)
    np.testing.assert_allclose(filled[:, 0], [1, 1, 2, 3, 4, 4])


def test_the_track_follows_the_nearest_face_not_the_largest(photo):
    face = align_face(photo)
    small = DetectedFace((0, 0, 1, 1), face.landmarks * 0.6 + 20, 1.0)
    large = DetectedFace((0, 0, 1, 1), face.landmarks * 1.2 + 150, 1.0)
    assert nearest_face([large, small], None, 0.0) == 0
    assert nearest_face([large, small], small.landmarks.mean(0) + 3, small.size) == 1
    assert nearest_face([large], small.landmarks.mean(0), small.size) is None  # too far: lost


# Tracking real clips


def test_the_tracked_box_follows_the_known_motion(photo, motion, moving):
    info, frames = open_clip(moving)
    track = face_track(track_faces(frames), info.size, info.fps)
    truth = motion.to_frame(np.array(align_face(photo).box).reshape(2, 2)).reshape(-1, 4)
    boxes = np.array([track.aligned(t, frame).box for t, frame in enumerate(read_all(moving)[1])])
    side = truth[:, 2] - truth[:, 0]
    assert track.found.all()
    assert np.abs(boxes - truth).max(axis=1).max() < 0.05 * side.min()
    yaws = [track.pose(t).yaw_deg for t in range(len(track))]
    assert np.ptp(yaws) < 1.5  # the window moves, the head does not turn


def test_a_still_clip_gives_a_still_camera(photo, tmp_path):
    path = clips.still_clip(photo, tmp_path / "still.mp4", 10, FPS)
    info, frames = open_clip(path)
    tracked = track_faces(frames)
    raw, smoothed = (face_track(tracked, info.size, info.fps, seconds) for seconds in (0.0, 0.2))
    for angle in ("yaw_deg", "pitch_deg"):
        spread_raw = np.std([getattr(raw.pose(t), angle) for t in range(10)])
        spread = np.std([getattr(smoothed.pose(t), angle) for t in range(10)])
        assert spread <= 0.2 and spread < spread_raw, (angle, spread, spread_raw)


def test_frames_without_the_face_are_filled_and_marked(photo, motion, tmp_path):
    frames = [clips.render_window(photo, o, s) for o, s in zip(motion.origin, motion.scale)]
    frames[2] = frames[3] = np.full_like(frames[2], 128)
    info, decoded = open_clip(write_video(frames, tmp_path / "gap.mp4", FPS))
    track = face_track(track_faces(decoded), info.size, info.fps)
    assert track.found.tolist() == [True, True, False, False, True, True]
    centres = track.points5.mean(axis=1)
    assert np.all(np.linalg.norm(centres[2:4] - (centres[1] + centres[4]) / 2, axis=1) < 25)


def test_a_clip_without_any_face_says_so(tmp_path):
    path = write_video([np.full((96, 96, 3), v, np.uint8) for v in (60, 120)], tmp_path / "grey.mp4", FPS)
    info, frames = open_clip(path)
    with pytest.raises(ClipError, match="No face found in any frame"):
        face_track(track_faces(frames), info.size, info.fps)


# Inverting and writing


def tracks_in(path) -> list[dict]:
    import imageio_ffmpeg

    frames = imageio_ffmpeg.read_frames(str(path))
    meta = next(frames)
    frames.close()
    return meta


@pytest.mark.slow
def test_a_stopped_job_keeps_its_frames_and_the_audio(moving, tmp_path):
    source = clips.with_tone(moving, tmp_path / "talking.mp4")
    seen = []
    result = invert_video(source, tmp_path / "out", camera="orbit",
                          progress=lambda state: seen.append(state) or state.stage != "inverting")
    assert result.stopped and result.frames == 4 and result.total == 6
    assert [s.stage for s in seen] == ["tracking"] * 6 + ["inverting"]
    side, rendered, table = result.files
    assert tracks_in(side)["audio_codec"] == "aac" and tracks_in(side)["size"][1] == 256
    _, images = read_all(rendered)
    assert len(images) == 4
    summary = json.loads(table.read_text())
    assert summary["stopped"] and summary["camera"] == "orbit" and len(summary["frames"]) == 4
    assert set(summary["frames"][0]) == {"index", "time", "face", "box", "yaw_deg", "pitch_deg", "roll_deg"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frames.json", "rendered.mp4",
                                                                    "side_by_side.mp4"]


@pytest.mark.slow
def test_refinement_starts_from_the_previous_frames_fit(photo):
    from triplanenet.clips.frame_heads import FrameHeads
    from triplanenet.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained()
    faces = [align_face(photo), align_face(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
    heads = FrameHeads(pipeline, 2, HeadSmoother(2, 0.0), "frontal", refine_steps=1)
    warm = heads.views(faces, 0)
    cold = FrameHeads(pipeline, 1, HeadSmoother(1, 0.0), "frontal", refine_steps=1).views(faces[1:], 0)
    assert [t for t, _ in warm] == [0, 1] and heads.finish() == []
    assert heads.correction is not None and float(heads.correction[1].abs().max()) > 0
    assert np.abs(warm[1][1].image.astype(int) - cold[0][1].image).max() > 0


@pytest.mark.slow
def test_the_command_line_writes_the_three_files_or_one_error_line(photo, tmp_path, capsys):
    from triplanenet.cli import main

    path = clips.still_clip(photo, tmp_path / "still.mp4", 2, FPS)
    assert main(["invert-video", str(path), "--out", str(tmp_path / "out"), "--camera", "frontal",
                 "--fps", "3"]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["side_by_side.mp4", "rendered.mp4", "frames.json"]
    assert len(json.loads((tmp_path / "out" / "frames.json").read_text())["frames"]) == 1
    (tmp_path / "notes.mp4").write_text("not a video")
    assert main(["invert-video", str(tmp_path / "notes.mp4"), "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.startswith("error: notes.mp4 is not a video")
    with pytest.raises(SystemExit):
        main(["invert-video", str(path), "--out", str(tmp_path / "bad"), "--refine-steps", "-1"])
