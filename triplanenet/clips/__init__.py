"""Video in: a face video in; per-frame aligned faces, 3D heads re-rendered from a chosen camera, and
videos + a per-frame JSON out.

::

    video ──decode──> frames at the target fps (streamed, upright, at most 4K)        decode
          ──track───> the same face in every frame, lost frames filled, points      tracking
                      smoothed over time (centred filter) -> crop + camera per frame smoothing
          ──invert──> one head per frame (batches through the Pipeline; optional    heads
                      refinement warm-started from the previous frame), rendered at
                      the frame's camera, a frontal camera or an orbit, with depth
          ──write───> side_by_side.mp4 (input | render | depth, with the input's     writing
                      audio), rendered.mp4, frames.json

``invert_video(path, out)`` runs it all (:mod:`.reconstruct`); every failure a person can cause raises
:class:`ClipError` (a :class:`~triplanenet.preprocess.FaceError`).
"""
from .decode import DEFAULT_FPS, DEFAULT_MAX_SECONDS, ClipError, ClipInfo, open_clip
from .frame_heads import CAMERAS
from .reconstruct import ClipProgress, ClipResult, invert_video
from .smoothing import SMOOTH_SECONDS

__all__ = ["CAMERAS", "DEFAULT_FPS", "DEFAULT_MAX_SECONDS", "SMOOTH_SECONDS", "ClipError", "ClipInfo",
           "ClipProgress", "ClipResult", "invert_video", "open_clip"]
