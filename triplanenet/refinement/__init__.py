"""Stage 3 (optional): an :class:`~triplanenet.inversion.Inversion` in, the same head fitted to its photo out.

"Refine" in this package means this per-photo fitting and nothing else (the encoder's
tri-plane correction is the *branch*, :meth:`~triplanenet.models.triplanenet.TriPlaneNet.branch_v2`).
:func:`refine` runs it; :func:`refinement_steps` yields after every step (progress, stop).
:func:`refine_together` takes several photos of one person in and gives one head fitted to all of them out.
"""
from .fit import (DEFAULT_STEPS, STEP_LIMITS, RefineProgress, RefineSettings, check_steps, refine,
                  refinement_steps)
from .together import MAX_PHOTOS, check_photo_count, joint_head, most_frontal, refine_together

__all__ = ["DEFAULT_STEPS", "MAX_PHOTOS", "RefineProgress", "RefineSettings", "STEP_LIMITS", "check_photo_count",
           "check_steps", "joint_head", "most_frontal",
           "refine", "refine_together", "refinement_steps"]
