"""``triplanenet invert-video IN --out DIR [--camera input|frontal|orbit] [--fps F] [--max-seconds S]
[--refine-steps N]``: a face video -> a 3D head per frame -> DIR/side_by_side.mp4, rendered.mp4, frames.json."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .common import add_checkpoint_argument, guarded, refine_steps_argument

if TYPE_CHECKING:
    from ..clips import ClipProgress

def steps_or_zero(text: str) -> int:
    """argparse type of ``--refine-steps``: 0 (no refinement, the default) or a valid step count."""
    return 0 if text.strip() == "0" else refine_steps_argument(text)


def print_progress(state: ClipProgress) -> None:
    """Progress on stderr, one line per update (overwritten in a terminal)."""
    end = "\n" if state.done == state.total or not sys.stderr.isatty() else "\r"
    print(f"{state.stage}: frame {state.done}/{state.total}", end=end, file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..clips import CAMERAS, DEFAULT_FPS, DEFAULT_MAX_SECONDS

    parser.add_argument("video", type=Path, help="a video with a face (mp4, mov, webm, mkv, gif)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_checkpoint_argument(parser)
    parser.add_argument("--camera", choices=CAMERAS, default="input",
                        help="render each head from its frame's camera, a fixed frontal camera, or an orbit "
                             "(a slow yaw sweep over the clip); default input")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"frames per second sampled "
                                                                       f"(default {DEFAULT_FPS:g})")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                        help=f"process at most this much of the video (default {DEFAULT_MAX_SECONDS:g})")
    parser.add_argument("--refine-steps", type=steps_or_zero, default=0, metavar="N",
                        help="refinement steps per frame, warm-started from the previous frame (default 0)")


@guarded
def run(args: argparse.Namespace) -> int:
    from ..clips import invert_video
    from ..pipeline import Pipeline

    result = invert_video(args.video, args.out, args.camera, args.fps, args.max_seconds, args.refine_steps,
                          Pipeline.from_pretrained(args.checkpoint, "cpu"), print_progress)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for path in result.files:
        print(path)
    return 0
