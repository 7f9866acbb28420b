"""Benchmark inverters on held-out synthetic heads with exact 3D ground truth, or on aligned photos.

Protocol (``triplanenet evaluate``). Head ``seed`` is drawn by :func:`evaluation_head`
from its own generator stream (see :data:`EVALUATION_STREAM`), never from the
streams training draws from. Its ground truth is rendered by
:func:`triplanenet.synthetic.render` at the generator's image resolution ``R``,
from an FFHQ-like camera (the input view) and from yaw ``+0.5`` and ``-0.5`` rad at
pitch 0 (the novel views). Backgrounds: the generator renders empty space black
(-1 in [-1, 1]); the bundled generator learned ground truth composited on that black
(:mod:`triplanenet.training.generator_trainer`), and its encoders learned to
reconstruct clean synthetic heads on it (``SyntheticSource``). So every ground-truth
image here is composited on black with its mask, and the inverter gets that black
input view too: a perfect inversion would score exactly. Each method inverts the input
view (batch 1; the time of ``invert`` is the "seconds per image", after one
untimed warm-up), and its tri-planes are rendered deterministically at all three
cameras. Metrics, per head:

* ``psnr``, ``ssim``, ``lpips``: same view, images clamped to [-1, 1] and compared in
  [0, 1] (:func:`psnr`, :func:`ssim`; LPIPS-alex only when its weights are found);
* ``psnr_yaw+0.5``, ``psnr_yaw-0.5``: the novel views against their ground truth;
* ``depth_mae``: mean absolute depth error (world units, distance along the ray) at
  the neural rendering resolution ``r``, on pixels fully inside the ground-truth mask
  where the model is opaque (opacity >= :data:`OPAQUE`); ``depth_coverage`` is the
  fraction of the inside pixels where the model is opaque (:func:`depth_error`);
* ``chamfer_percent``: symmetric Chamfer distance between the model's marching-cubes
  mesh (by default at raw density 10, EG3D's level) and the ground truth's (the SDF's
  zero level set) on the same lattice with the same EG3D border trim, in % of the box
  side (:func:`chamfer_distance`); ``None`` when the model has no surface at that level;
* ``seconds``: wall time of ``invert`` (and of the refinement, for ``v2+refined``).

For a folder of real aligned photos (:func:`evaluate_photos`) the same-view image
metrics are computed on the whole crop (the photo is the target, background included,
which the generator can only show as black where it has no density) and inside the
face (``face_psnr``, ``face_ssim``: the hull of the 68 landmarks detected on the
photo). ``identity`` is dlib's face-descriptor distance between the render at the
photo's camera and the photo, both cut along the photo's landmarks (median over the
photos; ``recognised`` is the share under 0.6, dlib's same-person threshold; see
:mod:`triplanenet.identity`). ``identity_yaw-0.3`` ... ``identity_yaw+0.5`` (and their
``recognised_yaw...`` shares) are the same distance for the head at the photo's camera turned by
that yaw (radians, :func:`triplanenet.cameras.turned`: pitch kept), its face cut along the photo's
landmarks carried to the turned camera through the head's depth. With a ``people`` mapping (file -> person),
``cross_identity`` compares the inversion of photo A rendered at photo B's camera
with photo B, for every ordered pair of one person's photos.

Modules: :mod:`.heads` (the held-out heads and their ground truth), :mod:`.metrics`,
:mod:`.protocol` (methods and loops), :mod:`.report` (table and JSON), :mod:`.edits` (``--edits``: edit
directions against the truth with one parameter moved, and identity after an edit; its own protocol there).
"""
from .heads import EVALUATION_STREAM, GroundTruth, evaluation_head, ground_truth, parse_seeds, surface_mesh
from .metrics import (chamfer_distance, depth_error, face_mask, load_metric_lpips, point_triangle_distance, psnr,
                      ssim)
from .protocol import Method, evaluate_photos, evaluate_synthetic, methods_for
from .report import METRICS, PHOTO_METRICS, Report

__all__ = ["EVALUATION_STREAM", "GroundTruth", "METRICS", "Method", "PHOTO_METRICS", "Report", "chamfer_distance",
           "depth_error", "evaluate_photos", "evaluate_synthetic", "evaluation_head", "face_mask", "ground_truth",
           "load_metric_lpips", "methods_for", "parse_seeds", "point_triangle_distance", "psnr", "ssim",
           "surface_mesh"]
