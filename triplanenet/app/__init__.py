"""The logic behind the Gradio app (``app.py``): models, per-session state and files, and the steps.

* :mod:`.models`: which checkpoint runs, loaded once per process, and its inversion modes;
* :mod:`.steps`: photo -> alignment -> inversion -> views, depth, mesh, video (plain functions);
* :mod:`.session`: a session's current inversion and its output folder.

Nothing here imports Gradio; ``app.py`` is the page over it.
"""
from .models import MODE_LABELS, ModelSet, get_model_set, load_model_set
from .session import Session, Workspace

__all__ = ["MODE_LABELS", "ModelSet", "Session", "Workspace", "get_model_set", "load_model_set"]
