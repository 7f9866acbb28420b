"""Stage 1: a photo in; the 512x512 EG3D crop of a face and its camera out (detect, landmark, crop, pose; offline).

``align_face(photo)`` returns an :class:`AlignedFace`: the 512x512 EG3D crop, its
box in the photo, 68 landmarks, yaw/pitch/roll, the 25-number EG3D camera label
and the backend that ran. Every user-caused failure raises :class:`FaceError`.
"""
from __future__ import annotations

from .align import CropTransform, FivePointFit, eg3d_box, fit_five_points, render_crop
from .errors import FaceError
from .face import MIN_FACE_PX, AlignedFace, align_face, aligned_from_points, detect_faces, face_points
from .images import MAX_PIXELS, load_image
from .landmarks import BACKENDS, DetectedFace, get_backend, resolve_backend_name
from .pose import HeadPose, estimate_pose, label_angles

__all__ = [
    "AlignedFace", "BACKENDS", "CropTransform", "DetectedFace", "FaceError", "FivePointFit", "HeadPose",
    "MAX_PIXELS", "MIN_FACE_PX", "align_face", "aligned_from_points", "detect_faces", "eg3d_box", "estimate_pose",
    "face_points", "fit_five_points", "get_backend", "label_angles", "load_image", "render_crop",
    "resolve_backend_name",
]
