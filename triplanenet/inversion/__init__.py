"""Stage 2: an aligned crop and its camera in, an :class:`Inversion` out (w+ codes and tri-planes).

* :mod:`.modes`: which inversion modes a checkpoint offers (v2, v1, w+) and the inverter of each,
  loaded once per process (:class:`ModelSet`);
* :mod:`.encoding`: :func:`invert` runs an inverter and wraps its output;
* :mod:`.result`: :class:`Inversion`, the one object a reconstructed head is: it renders, meshes, saves
  and loads, and every later stage (refinement, views, depth, meshes) takes and returns it.
"""
from .encoding import invert
from .modes import MODE_LABELS, ModelSet, get_model_set, load_model_set
from .result import Inversion

__all__ = ["Inversion", "MODE_LABELS", "ModelSet", "get_model_set", "invert", "load_model_set"]
