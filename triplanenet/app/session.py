"""Per-session state and output files.

Every browser tab or API client is one session (Gradio's ``session_hash``). Its
:class:`Session` holds the current inversion (so sliders re-render from the cached
tri-planes) and owns one folder under the :class:`Workspace` root, where its
downloads are written. The folder is deleted when the session ends (the page is
closed, or its state expires, or the process exits).

File names carry the id of the inversion they belong to (``head-1a2b3c4d.glb``),
so results of different photos, and of different sessions, never share a name.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exports import save_mesh
from ..geometry import Mesh
from ..inversion import Inversion
from ..video import write_video
from ..views import View

ROOT_ENV = "TRIPLANENET_APP_OUTPUTS"
"""Environment variable naming the folder that holds the session folders (default: a temporary folder)."""

SAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")
NOTHING_YET = "There is no 3D head yet: upload a photo (or pick an example) and press Reconstruct first."


@dataclass
class Session:
    """One user's results: ``inversion`` and its ``input_view`` (the render at the photo's camera).

    ``result_id`` names the files of the current inversion; ``folder`` is where they go.
    """

    key: str
    folder: Path
    inversion: Inversion | None = None
    input_view: View | None = None
    result_id: str = ""
    written: list[Path] = field(default_factory=list)

    def start(self, inversion: Inversion, input_view: View) -> None:
        """Make ``inversion`` the current result (new file names; the previous result's files are deleted)."""
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()
        self.inversion, self.input_view = inversion, input_view
        self.result_id = uuid.uuid4().hex[:8]

    def require(self) -> tuple[Inversion, View]:
        """The current inversion and input view, or a ``ValueError`` telling the user to make one."""
        if self.inversion is None or self.input_view is None:
            raise ValueError(NOTHING_YET)
        return self.inversion, self.input_view

    def path(self, stem: str, suffix: str) -> Path:
        """``folder/<stem>-<result id><suffix>``, remembered for deletion with the result."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{stem}-{self.result_id}{suffix}"
        self.written.append(path)
        return path

    def save_inversion(self) -> Path:
        """The current inversion as ``inversion-<id>.safetensors`` (load it with ``Inversion.load``)."""
        inversion, _ = self.require()
        return inversion.save(self.path("inversion", ".safetensors"))

    def save_depth(self, depth: np.ndarray) -> Path:
        """Raw depth [H,W] float32 (world units along each ray) as ``depth-<id>.npy``."""
        path = self.path("depth", ".npy")
        np.save(path, depth.astype(np.float32))
        return path

    def save_mesh(self, mesh: Mesh) -> dict[str, Path]:
        """The coloured mesh as ``head-<id>.glb``, ``.ply`` and ``.obj``, by suffix."""
        return {suffix: save_mesh(mesh, self.path("head", suffix)) for suffix in (".glb", ".ply", ".obj")}

    def save_video(self, frames: list[np.ndarray], fps: float) -> Path:
        """Frames [H,W,3] uint8 as ``turntable-<id>.mp4`` (a ``.gif`` if ffmpeg is unavailable)."""
        written = write_video(frames, self.path("turntable", ".mp4"), fps)
        self.written.append(written)
        return written

    def close(self) -> None:
        """Forget the result and delete the folder."""
        self.inversion = self.input_view = None
        self.written.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def return_freed_memory() -> None:
    """Hand memory that Python and torch freed back to the operating system (glibc only; else nothing).

    glibc keeps freed blocks in its per-thread arenas, and after the first large
    free it serves tri-plane-sized blocks from them too, so a server's RSS would
    stay at its peak after sessions end. ``malloc_trim(0)`` releases those pages.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Workspace:
    """The root folder of all session folders (``<root>/<session key>``) and the live sessions.

    Ending a session frees its inversion at once (Gradio keeps a closed session's
    state for an hour, in case the page comes back) and deletes its folder.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        root = root or os.environ.get(ROOT_ENV) or Path(tempfile.gettempdir()) / f"triplanenet-app-{os.getpid()}"
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.sessions: dict[str, Session] = {}

    def folder(self, key: str) -> Path:
        """The folder of session ``key`` (characters other than letters, digits, ``_`` and ``-`` dropped)."""
        safe = SAFE_KEY.sub("", key)[:64] or "anonymous"
        return self.root / safe

    def session(self, key: str) -> Session:
        """The :class:`Session` of ``key``, created on first use (its folder when the first file is written)."""
        if key not in self.sessions:
            self.sessions[key] = Session(key, self.folder(key))
        return self.sessions[key]

    def end(self, key: str) -> None:
        """Session ``key`` is over (its page was closed): free its inversion, delete its folder."""
        session = self.sessions.pop(key, None)
        if session is None:
            shutil.rmtree(self.folder(key), ignore_errors=True)
            return
        session.close()
        return_freed_memory()

    def remove(self) -> None:
        """End every live session, and delete the root if nothing else is in it (the process exits)."""
        for key in list(self.sessions):
            self.end(key)
        try:
            self.root.rmdir()
        except OSError:
            pass
