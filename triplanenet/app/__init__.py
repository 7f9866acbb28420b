"""The logic behind the Gradio app (``app.py``): models, per-session state and files, and the steps.

* :mod:`triplanenet.pipeline` (shared with the command line and evaluation): which checkpoint runs,
  loaded once per process, and its inversion modes;
* :mod:`.steps`: photo -> alignment -> inversion -> views, depth, mesh, video (plain functions);
* :mod:`.session`: a session's current inversion and its output folder;
* :mod:`.turns`: model work one unit at a time, first come, first served;
* :mod:`.allocator`: glibc's allocator tuned for a server.

Nothing here imports Gradio; ``app.py`` is the page over it.
"""
from .session import Session, Workspace

__all__ = ["Session", "Workspace"]
