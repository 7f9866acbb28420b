"""Stage 3 (optional): an :class:`~triplanenet.inversion.Inversion` in, the same head fitted to its photo out.

"Refine" in this package means this per-photo fitting and nothing else (the encoder's
tri-plane correction is the *branch*, :meth:`~triplanenet.models.triplanenet.TriPlaneNet.branch_v2`).
:func:`refine` runs it; :func:`refinement_steps` yields after every step (progress, stop).
"""
from .fit import (DEFAULT_STEPS, STEP_LIMITS, RefineProgress, RefineSettings, check_steps, refine,
                  refinement_steps)

__all__ = ["DEFAULT_STEPS", "RefineProgress", "RefineSettings", "STEP_LIMITS", "check_steps", "refine",
           "refinement_steps"]
