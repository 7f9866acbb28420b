"""A processed clip as files, written frame by frame: ``side_by_side.mp4`` (input | re-rendered | depth, with
the input's audio), ``rendered.mp4`` (the re-rendered heads alone) and ``frames.json`` (one row per frame).

The depth panel keeps the first frame's depth range for the whole clip, so its colours do not flicker.
The input panel outlines the crop box: green where the face was found, orange where it was filled in
from the neighbouring frames. Audio is muxed in by ffmpeg afterwards (the video stream is copied, the
audio re-encoded to AAC and cut to the frames written).
"""
from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..outputs.depth import colorize_depth, depth_range
from ..outputs.video import mp4_writer
from ..outputs.views import View
from ..preprocess import AlignedFace
from .decode import ClipInfo

PANEL_HEIGHT = 256
FOUND_COLOUR = (40, 200, 60)
FILLED_COLOUR = (250, 150, 20)
SIDE_BY_SIDE = "side_by_side.mp4"
RENDERED = "rendered.mp4"
FRAMES_JSON = "frames.json"
SILENT_SUFFIX = ".silent.mp4"


@dataclass(frozen=True)
class FrameRow:
    """One line of ``frames.json``: frame ``index``, its ``time`` (s), whether the face was ``found`` (else
    filled), the crop ``box`` (frame pixels) and the head's yaw, pitch and roll (degrees)."""

    index: int
    time: float
    found: bool
    box: tuple[float, float, float, float]
    yaw_deg: float
    pitch_deg: float
    roll_deg: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time": round(self.time, 4), "face": "found" if self.found else "filled",
                "box": [round(v, 2) for v in self.box], "yaw_deg": round(self.yaw_deg, 3),
                "pitch_deg": round(self.pitch_deg, 3), "roll_deg": round(self.roll_deg, 3)}


def _resized(image: np.ndarray | Image.Image, height: int) -> Image.Image:
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    width = max(1, round(picture.width * height / picture.height))
    return picture.resize((width, height), Image.Resampling.BILINEAR)


def input_panel(frame: np.ndarray, face: AlignedFace, found: bool) -> Image.Image:
    """The frame [H,W,3] at :data:`PANEL_HEIGHT` with the crop box outlined (green: found, orange: filled)."""
    panel = _resized(frame, PANEL_HEIGHT)
    scale = PANEL_HEIGHT / frame.shape[0]
    ImageDraw.Draw(panel).rectangle([v * scale for v in face.box], outline=FOUND_COLOUR if found else
                                    FILLED_COLOUR, width=2)
    return panel


def side_by_side(panels: list[Image.Image]) -> np.ndarray:
    """Panels of one height side by side -> [H,W,3] uint8."""
    return np.concatenate([np.asarray(panel.convert("RGB")) for panel in panels], axis=1)


def mux_audio(video: Path, source: Path, out: Path, seconds: float) -> None:
    """``out``: the stream of ``video`` with the first audio stream of ``source`` (if any), cut to ``seconds``."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-i",
                    str(source), "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac",
                    "-t", f"{seconds:.3f}", str(out)], check=True, capture_output=True)


class ClipWriter:
    """Streams the clip's frames into its files in ``out``; :meth:`finish` closes them (or removes them if no
    frame was added)."""

    def __init__(self, out: Path, source: Path, info: ClipInfo, camera: str):
        self.out, self.source, self.info, self.camera = out, source, info, camera
        out.mkdir(parents=True, exist_ok=True)
        self.silent = out / (Path(SIDE_BY_SIDE).stem + SILENT_SUFFIX)
        self.rows: list[FrameRow] = []
        self.depth_range: tuple[float, float] | None = None
        self._files = ExitStack()
        self._side = self._files.enter_context(mp4_writer(self.silent, info.fps))
        self._rendered = self._files.enter_context(mp4_writer(out / RENDERED, info.fps))

    def add(self, row: FrameRow, panel: Image.Image, view: View) -> None:
        """Append frame ``row.index``: its :func:`input_panel` and the head's ``view``."""
        if self.depth_range is None:
            self.depth_range = depth_range(view.depth, view.opacity)
        depth, _ = colorize_depth(view.depth, view.opacity, near=self.depth_range[0], far=self.depth_range[1])
        self._side(side_by_side([panel, _resized(view.image, PANEL_HEIGHT),
                                 _resized(depth, PANEL_HEIGHT)]))
        self._rendered(view.image)
        self.rows.append(row)

    def finish(self, stopped: bool) -> list[Path]:
        """Close the videos, add the audio, write ``frames.json``; returns the files written ([] if none)."""
        if not self.rows:
            self.abort()
            return []
        self._files.close()
        side = self.out / SIDE_BY_SIDE
        if self.info.audio:
            mux_audio(self.silent, self.source, side, len(self.rows) / self.info.fps)
            self.silent.unlink()
        else:
            self.silent.replace(side)
        (self.out / FRAMES_JSON).write_text(json.dumps(self.summary(stopped), indent=1))
        return [side, self.out / RENDERED, self.out / FRAMES_JSON]

    def abort(self) -> None:
        """Close and remove the videos begun."""
        self._files.close()
        for path in (self.silent, self.out / RENDERED):
            path.unlink(missing_ok=True)

    def summary(self, stopped: bool) -> dict[str, Any]:
        """What ``frames.json`` holds: the settings, how the clip was cut, and the rows."""
        info = self.info
        return {"source": self.source.name, "fps": info.fps, "camera": self.camera, "size": list(info.size),
                "duration": info.duration, "max_seconds": info.max_seconds, "truncated": info.truncated,
                "stopped": stopped, "audio": info.audio, "frames": [row.to_dict() for row in self.rows]}
