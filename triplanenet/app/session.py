"""A session's state and output files.

Every browser tab or API client is one session (Gradio's ``session_hash``). Its
:class:`Session` holds the current inversion (so sliders re-render from the cached
tri-planes) and owns one folder under the :class:`~.workspace.Workspace` root, where
its downloads are written.

File names carry the id of the inversion they belong to (``head-1a2b3c4d.glb``),
so results of different photos, and of different sessions, never share a name.
The module is longer than most: the workspace's bounds and the sessions they bound belong together.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..editing import Editor
from ..inversion.result import Inversion
from ..outputs.exports import save_mesh, to_trimesh
from ..outputs.meshes import Mesh
from ..outputs.video import write_video
from ..outputs.views import View

NOTHING_YET = "There is no 3D head yet: upload a photo (or pick an example) and press Reconstruct first."
EVICTED = ("This session's 3D head was removed {why}. Press Reconstruct to start again "
           "(API clients: call /align and /invert again).")
MESH_SUFFIXES = (".glb", ".ply", ".obj.zip")
"""Mesh downloads. The .obj is text (331 MB at 512^3, four times the .ply), so it is written zipped."""
OBJ_COMPRESSION = 1
"""zlib level of the zipped .obj: the fastest, already a quarter of the text's size."""


@dataclass
class Session:
    """One user's results: ``inversion`` and its ``input_view`` (the render at the photo's camera).

    ``result_id`` names the files of the current inversion; ``folder`` is where they go. When the current
    inversion is an applied edit, ``unedited`` holds the inversion and view it was made from (Reset goes back
    to them); ``editor`` is the edit section's :class:`~triplanenet.editing.Editor` of the unedited inversion.
    """

    key: str
    folder: Path
    served: Path | None = None
    inversion: Inversion | None = None
    input_view: View | None = None
    unedited: tuple[Inversion, View] | None = None
    editor: Editor | None = field(default=None, repr=False)
    result_id: str = ""
    written: list[Path] = field(default_factory=list)
    ended: str = ""
    """Why the session was evicted (``""``: it is live)."""
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    """Requests of this session running now (it is not evicted while any are)."""
    after_write: Callable[[], None] = field(default=lambda: None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def start(self, inversion: Inversion, input_view: View, unedited: tuple[Inversion, View] | None = None) -> None:
        """Make ``inversion`` the current result (new file names; the previous result's files are deleted).

        ``unedited``: the inversion and view that ``inversion`` is an edit of; None: a new head (its own base).
        """
        with self.lock:
            self._check_live()
            self._delete_files()
            self.inversion, self.input_view, self.unedited = inversion, input_view, unedited
            self.result_id = uuid.uuid4().hex[:8]

    def _check_live(self) -> None:
        if self.ended:
            raise ValueError(EVICTED.format(why=self.ended))

    def require(self) -> tuple[Inversion, View]:
        """The current inversion and input view, or a ``ValueError`` telling the user to make one (again)."""
        self._check_live()
        if self.inversion is None or self.input_view is None:
            raise ValueError(NOTHING_YET)
        return self.inversion, self.input_view

    def _write(self, stem: str, suffix: str, writer: Callable[[Path], Path]) -> Path:
        """``writer(folder/<stem>-<result id><suffix>)``, its file remembered for deletion with the result.

        Refused (``ValueError``) once the session is evicted, so no file outlives it.
        """
        with self.lock:
            self._check_live()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{stem}-{self.result_id}{suffix}"
            self.written.append(path)
            written = writer(path)
            if written != path:
                self.written.append(written)
        self.after_write()
        return written

    def _copies(self, path: Path) -> list[Path]:
        """Gradio's served copies of ``path`` (``<served>/<hash>/<name>``; none when it serves ``path`` itself)."""
        if self.served is None:
            return []
        return [copy for copy in self.served.glob(f"*/{path.name}") if copy != path]

    def bytes_on_disk(self) -> int:
        """Bytes of the files this session has written and of Gradio's served copies of them."""
        paths = [p for path in self.written for p in (path, *self._copies(path))]
        return sum(_size(path) for path in paths)

    def save_inversion(self) -> Path:
        """The current inversion as ``inversion-<id>.safetensors`` (load it with ``Inversion.load``)."""
        inversion, _ = self.require()
        return self._write("inversion", ".safetensors", inversion.save)

    def save_depth(self, depth: np.ndarray) -> Path:
        """Raw depth [H,W] float32 (world units along each ray) as ``depth-<id>.npy``."""
        def write(path: Path) -> Path:
            np.save(path, depth.astype(np.float32))
            return path
        return self._write("depth", ".npy", write)

    def save_mesh(self, mesh: Mesh) -> dict[str, Path]:
        """The coloured mesh as ``head-<id>.glb``, ``.ply`` and ``.obj.zip``, by suffix (:data:`MESH_SUFFIXES`)."""
        return {suffix: self._write("head", suffix, lambda path: _save_mesh_file(mesh, path))
                for suffix in MESH_SUFFIXES}

    def save_video(self, frames: list[np.ndarray], fps: float) -> Path:
        """Frames [H,W,3] uint8 as ``turntable-<id>.mp4`` (a ``.gif`` if ffmpeg is unavailable)."""
        return self._write("turntable", ".mp4", lambda path: write_video(frames, path, fps))

    def keep_fresh(self) -> None:
        """Mark the files as new (ctime), so Gradio's age-based cache sweep leaves them while the session lives."""
        with self.lock:
            for path in self.written:
                with contextlib.suppress(OSError):
                    os.utime(path)

    def _delete_files(self) -> None:
        """Delete the written files and Gradio's served copies of them (``<served>/<hash>/<name>``)."""
        for path in self.written:
            path.unlink(missing_ok=True)
            for copy in self._copies(path):
                copy.unlink(missing_ok=True)
                remove_empty(copy.parent)
        self.written.clear()

    def close(self, why: str = "") -> None:
        """Forget the result and delete the folder and the served copies; ``why`` (if given) marks it evicted."""
        with self.lock:
            self.ended = why
            self.inversion = self.input_view = self.unedited = self.editor = None
            self._delete_files()
            shutil.rmtree(self.folder, ignore_errors=True)


def _save_mesh_file(mesh: Mesh, path: Path) -> Path:
    """``mesh`` written to ``path``: a mesh format, or ``<name>.obj.zip`` (one .obj in a zip archive)."""
    if path.suffix != ".zip":
        return save_mesh(mesh, path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=OBJ_COMPRESSION) as archive:
        with archive.open(path.stem, "w", force_zip64=True) as member:
            to_trimesh(mesh).export(member, file_type="obj", include_color=True, include_normals=True,
                                    include_texture=False)
    return path


def _size(path: Path) -> int:
    """Bytes in file ``path`` (0 once it is gone)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def remove_empty(folder: Path) -> None:
    """Remove ``folder`` if it is empty."""
    try:
        folder.rmdir()
    except OSError:
        pass
