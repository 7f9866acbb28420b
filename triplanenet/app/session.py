"""Per-session state and output files.

Every browser tab or API client is one session (Gradio's ``session_hash``). Its
:class:`Session` holds the current inversion (so sliders re-render from the cached
tri-planes) and owns one folder under the :class:`Workspace` root, where its
downloads are written. The folder, and Gradio's served copies of its files, are
deleted when the session ends (the page is closed, or its state expires, or the
process exits) or is evicted.

The workspace bounds what clients can hold: at most :data:`MAX_SESSIONS` live
sessions (the least recently used is evicted, and its owner is told to start
again on the next call), :data:`PAGELESS_SECONDS` of idleness for sessions with
no open page (API clients that never disconnect), and :data:`MAX_BYTES` of files.
Folders left by processes that died (``kill -9``) are swept when the next starts.

File names carry the id of the inversion they belong to (``head-1a2b3c4d.glb``),
so results of different photos, and of different sessions, never share a name.
The module is longer than most: the workspace's bounds and the sessions they bound belong together.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..outputs.exports import save_mesh
from ..outputs.meshes import Mesh
from ..inversion.result import Inversion
from ..outputs.video import write_video
from ..outputs.views import View

ROOT_ENV = "TRIPLANENET_APP_OUTPUTS"
"""Environment variable naming the folder that holds the session folders (default: a temporary folder)."""

SAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")
NOTHING_YET = "There is no 3D head yet: upload a photo (or pick an example) and press Reconstruct first."
EVICTED = ("This session's 3D head was removed {why}. Press Reconstruct to start again "
           "(API clients: call /align and /invert again).")

MAX_SESSIONS = 16
"""Live sessions (each holds an inversion, about 55 MB of RAM); the least recently used one is evicted."""
PAGELESS_SECONDS = 600
"""Idle seconds after which a session with no open page (an API client that never disconnected) is evicted."""
MAX_BYTES = 512 * 2**20
"""Bytes of session files and Gradio's served copies of them kept; above it, least recently used sessions
are evicted (the current one is kept)."""
SWEEP_SECONDS = 30
"""How often idle sessions are looked for."""
ROOT_PREFIX = "triplanenet-app-"
"""Default roots are ``<temp dir>/triplanenet-app-<pid>``; those of dead processes are swept at start-up."""
OWNER_FILE = ".owner"
"""File in the root holding the pid of the process that uses it."""
SERVED_DIR = ".gradio"
"""Gradio's cache (served copies of outputs, uploads) inside the root when ``$GRADIO_TEMP_DIR`` is not set.
The dot keeps it apart from session folders, whose names have no dots."""


@dataclass
class Session:
    """One user's results: ``inversion`` and its ``input_view`` (the render at the photo's camera).

    ``result_id`` names the files of the current inversion; ``folder`` is where they go.
    """

    key: str
    folder: Path
    served: Path | None = None
    inversion: Inversion | None = None
    input_view: View | None = None
    result_id: str = ""
    written: list[Path] = field(default_factory=list)
    ended: str = ""
    """Why the session was evicted (``""``: it is live)."""
    last_used: float = field(default_factory=time.monotonic)
    after_write: Callable[[], None] = field(default=lambda: None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def start(self, inversion: Inversion, input_view: View) -> None:
        """Make ``inversion`` the current result (new file names; the previous result's files are deleted)."""
        with self.lock:
            self._check_live()
            self._delete_files()
            self.inversion, self.input_view = inversion, input_view
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
        """Gradio's served copies of ``path`` (``<served>/<hash>/<name>``)."""
        return list(self.served.glob(f"*/{path.name}")) if self.served is not None else []

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
        """The coloured mesh as ``head-<id>.glb``, ``.ply`` and ``.obj``, by suffix."""
        return {suffix: self._write("head", suffix, lambda path: save_mesh(mesh, path))
                for suffix in (".glb", ".ply", ".obj")}

    def save_video(self, frames: list[np.ndarray], fps: float) -> Path:
        """Frames [H,W,3] uint8 as ``turntable-<id>.mp4`` (a ``.gif`` if ffmpeg is unavailable)."""
        return self._write("turntable", ".mp4", lambda path: write_video(frames, path, fps))

    def _delete_files(self) -> None:
        """Delete the written files and Gradio's served copies of them (``<served>/<hash>/<name>``)."""
        for path in self.written:
            path.unlink(missing_ok=True)
            for copy in self._copies(path):
                copy.unlink(missing_ok=True)
                _remove_empty(copy.parent)
        self.written.clear()

    def close(self, why: str = "") -> None:
        """Forget the result and delete the folder and the served copies; ``why`` (if given) marks it evicted."""
        with self.lock:
            self.ended = why
            self.inversion = self.input_view = None
            self._delete_files()
            shutil.rmtree(self.folder, ignore_errors=True)


def _size(path: Path) -> int:
    """Bytes in file ``path`` (0 once it is gone)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _remove_empty(folder: Path) -> None:
    """Remove ``folder`` if it is empty."""
    try:
        folder.rmdir()
    except OSError:
        pass


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


M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number for the mmap threshold."""
MMAP_THRESHOLD_BYTES = 1 << 20
"""Blocks from this size up are mapped and unmapped on their own (glibc's dynamic default starts at 128 KiB)."""


def pin_mmap_threshold() -> None:
    """Keep large blocks out of glibc's arenas for good (glibc only; else nothing).

    glibc raises its mmap threshold to the size of the largest mapped block freed
    (up to 32 MiB): after one refinement frees its tri-plane copies, every later
    tensor under that size comes from per-thread arenas, which concurrent sessions
    fragment (measured: 8 sessions after a refinement grew the server by 2.9 GB instead
    of 0.4 GB). Setting the threshold once fixes it and turns the adjustment off.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


class Workspace:
    """The root folder of all session folders (``<root>/<session key>``) and the live sessions.

    Ending a session frees its inversion at once (Gradio keeps a closed session's
    state for an hour, in case the page comes back) and deletes its folder and
    Gradio's served copies of its files (under ``served``). At most
    ``max_sessions`` sessions are live; sessions with no open page are evicted after
    ``pageless_seconds`` without use; session files are kept under ``max_bytes``.
    ``clock`` gives the time in seconds (``time.monotonic``).
    """

    def __init__(self, root: str | os.PathLike | None = None, served: str | os.PathLike | None = None,
                 max_sessions: int = MAX_SESSIONS, pageless_seconds: float = PAGELESS_SECONDS,
                 max_bytes: int = MAX_BYTES, clock: Callable[[], float] = time.monotonic):
        root = root or os.environ.get(ROOT_ENV)
        self.own_root = root is None
        if self.own_root:
            sweep_stale_roots(Path(tempfile.gettempdir()))
            root = Path(tempfile.gettempdir()) / f"{ROOT_PREFIX}{os.getpid()}"
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.served = Path(served).resolve() if served else self.root / SERVED_DIR
        _claim(self.root)
        self.max_sessions, self.pageless_seconds, self.max_bytes = max_sessions, pageless_seconds, max_bytes
        self.clock = clock
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.pages: set[str] = set()
        self.lock = threading.RLock()
        self._stop = threading.Event()

    def folder(self, key: str) -> Path:
        """The folder of session ``key`` (characters other than letters, digits, ``_`` and ``-`` dropped)."""
        safe = SAFE_KEY.sub("", key)[:64] or "anonymous"
        return self.root / safe

    def session(self, key: str) -> Session:
        """The :class:`Session` of ``key``, created on first use (its folder when the first file is written).

        Creating one beyond ``max_sessions`` evicts the least recently used other session.
        """
        with self.lock:
            self.sweep()
            if key not in self.sessions:
                self.sessions[key] = Session(key, self.folder(key), self.served,
                                             after_write=lambda: self.limit_bytes(key))
                while len(self.sessions) > self.max_sessions:
                    self._evict(next(iter(self.sessions)), f"to make room: the server keeps the "
                                f"{self.max_sessions} most recently used heads")
            return self.use(self.sessions[key])

    def use(self, session: Session) -> Session:
        """Mark ``session`` as just used (most recently used; its idle time restarts)."""
        with self.lock:
            session.last_used = self.clock()
            if self.sessions.get(session.key) is session:
                self.sessions.move_to_end(session.key)
        return session

    def require(self, session: Session | None) -> Session:
        """``session`` once it has an inversion (marked as used); otherwise the error that says what to do."""
        if session is None:
            raise ValueError(NOTHING_YET)
        self.sweep()
        session.require()
        return self.use(session)

    def page_opened(self, key: str) -> None:
        """A browser page of session ``key`` is open: its session is not evicted for idleness."""
        with self.lock:
            self.pages.add(key)

    def sweep(self) -> None:
        """Evict sessions with no open page that were not used for ``pageless_seconds``."""
        with self.lock:
            now = self.clock()
            idle = [key for key, session in self.sessions.items()
                    if key not in self.pages and now - session.last_used > self.pageless_seconds]
            for key in idle:
                self._evict(key, f"after {self.pageless_seconds / 60:g} minutes without use by a client "
                                 "with no open page")

    def limit_bytes(self, key: str) -> None:
        """Evict least recently used sessions other than ``key`` while the files exceed ``max_bytes``."""
        with self.lock:
            others = [k for k in self.sessions if k != key]
            while others and sum(s.bytes_on_disk() for s in self.sessions.values()) > self.max_bytes:
                self._evict(others.pop(0), f"to make room on the server's disk "
                                           f"({self.max_bytes / 2**20:.0f} MB for every session's files)")

    def _evict(self, key: str, why: str) -> None:
        """End session ``key``; its owner's next call is told ``why`` and to start again."""
        session = self.sessions.pop(key)
        session.close(why)
        return_freed_memory()

    def end(self, key: str) -> None:
        """Session ``key`` is over (its page was closed): free its inversion, delete its folder and copies."""
        with self.lock:
            self.pages.discard(key)
            session = self.sessions.pop(key, None)
        if session is None:
            shutil.rmtree(self.folder(key), ignore_errors=True)
            return
        session.close()
        return_freed_memory()

    def start_sweeper(self, interval: float = SWEEP_SECONDS) -> None:
        """Look for idle sessions every ``interval`` seconds in a daemon thread (until :meth:`remove`)."""
        def loop() -> None:
            while not self._stop.wait(interval):
                self.sweep()
        threading.Thread(target=loop, name="workspace-sweeper", daemon=True).start()

    def remove(self) -> None:
        """End every live session and delete what this process put on disk (it exits).

        A root of its own (the default) goes entirely, Gradio's cache in it included;
        a given root keeps only what was there that is not ours.
        """
        self._stop.set()
        for key in list(self.sessions):
            self.end(key)
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        if self.served == self.root / SERVED_DIR:
            shutil.rmtree(self.served, ignore_errors=True)
        (self.root / OWNER_FILE).unlink(missing_ok=True)
        _remove_empty(self.root)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_roots(parent: Path) -> list[Path]:
    """Delete ``<parent>/triplanenet-app-<pid>`` folders whose process is gone; returns what was deleted."""
    stale = [folder for folder in parent.glob(f"{ROOT_PREFIX}*")
             if folder.name.removeprefix(ROOT_PREFIX).isdigit()
             and not _alive(int(folder.name.removeprefix(ROOT_PREFIX)))]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def _claim(root: Path) -> None:
    """Write our pid into ``root``; if a dead process of ours used it before, delete what it left.

    Only a root with an owner file is cleared (session folders and Gradio's cache),
    so a folder that was never ours is never emptied. A root a live process still
    uses is shared as it is.
    """
    owner = root / OWNER_FILE
    previous = owner.read_text().strip() if owner.exists() else ""
    if previous.isdigit() and int(previous) != os.getpid() and not _alive(int(previous)):
        for child in root.iterdir():
            if child.is_dir() and (child.name == SERVED_DIR or not SAFE_KEY.search(child.name)):
                shutil.rmtree(child, ignore_errors=True)
    owner.write_text(str(os.getpid()))
