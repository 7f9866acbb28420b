"""The front end behind the Gradio page (``app.py``): the steps a client calls, per-session state and files.

* :mod:`triplanenet.pipeline` (shared with the command line and evaluation): photo -> alignment ->
  inversion (-> refinement), over the checkpoint loaded once per process;
* :mod:`.steps`: each endpoint's work, its settings checked, through the pipeline and
  :mod:`triplanenet.outputs` (views, depth, mesh, video);
* :mod:`.edit_steps`: the Edit section's work (the checkpoint's directions, the amounts a client sends, a
  session's preview, Apply and Reset);
* :mod:`.session`: a session's current inversion and its output folder; :mod:`.workspace`: all sessions,
  their bounds and their cleanup;
* :mod:`.turns`: model work one unit at a time, first come, first served;
* :mod:`.allocator`: glibc's allocator tuned for a server;
* :mod:`.people`: more photos of the same person, recorded on the session's head for Refine to fit.

Nothing here imports Gradio; ``app.py`` (with ``app_edit.py``, its Edit section) is the page over it.
"""
from .session import Session
from .workspace import Workspace

__all__ = ["Session", "Workspace"]
