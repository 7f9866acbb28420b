"""The sessions' workspace: where their folders live, how many are kept, and how they go.

Unless ``$GRADIO_TEMP_DIR`` names another folder, Gradio's cache is the workspace root
itself, so Gradio serves the session's files where they are instead of copying them
(a 512^3 mesh is written once). A session's folder, and any served copies of its
files, are deleted when the session ends (the page is closed, or its state expires,
or the process exits) or is evicted; until then its files are kept from Gradio's
age-based sweep, so a download link stays valid.

The workspace bounds what clients can hold: at most :data:`MAX_SESSIONS` live
sessions (the least recently used is evicted, and its owner is told to start
again on the next call), :data:`PAGELESS_SECONDS` of idleness for sessions with
no open page (API clients that never disconnect), and :data:`MAX_BYTES` of files.
A session with a request in flight is never evicted.
Folders left by processes that died (``kill -9``) are swept when the next starts.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from .allocator import release_free_memory

from .session import NOTHING_YET, Session, remove_empty

ROOT_ENV = "TRIPLANENET_APP_OUTPUTS"
"""Environment variable naming the folder that holds the session folders (default: a temporary folder)."""
SAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")
MAX_SESSIONS = 16
"""Live sessions (each holds an inversion, about 55 MB of RAM); the least recently used one is evicted."""
PAGELESS_SECONDS = 600
"""Idle seconds after which a session with no open page (an API client that never disconnected) is evicted."""
MAX_BYTES = 1024 * 2**20
"""Bytes of session files (and of Gradio's served copies of them, where it copies) kept; above it, least
recently used idle sessions are evicted (the current one is kept). A refined head meshed at 512^3 with every
download is about 320 MB, so two such sessions fit with room for the rest."""
SWEEP_SECONDS = 30
"""How often idle sessions are looked for."""
ROOT_PREFIX = "triplanenet-app-"
"""Default roots are ``<temp dir>/triplanenet-app-<pid>``; those of dead processes are swept at start-up."""
OWNER_FILE = ".owner"
"""File in the root holding the pid of the process that uses it (never served)."""
SESSION_PREFIX = "session-"
"""Session folders are ``<root>/session-<key>``: apart from Gradio's folders (hex hashes) in the same root."""


class Workspace:
    """The root folder of all session folders (``<root>/session-<key>``) and the live sessions.

    ``served`` is Gradio's cache (default: the root itself, where Gradio serves session
    files without copying them). Ending a session frees its inversion at once (Gradio
    keeps a closed session's state for an hour, in case the page comes back) and
    deletes its folder and any served copies of its files. At most ``max_sessions``
    sessions are live; sessions with no open page are evicted after
    ``pageless_seconds`` without use; session files are kept under ``max_bytes``.
    Sessions with a request in flight (:meth:`serving`) are never evicted.
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
        self.served = Path(served).resolve() if served else self.root
        _claim(self.root)
        self.found = {child.name for child in self.root.iterdir()} - {OWNER_FILE}
        """What the root held before this process: a given root keeps it at exit."""
        self.max_sessions, self.pageless_seconds, self.max_bytes = max_sessions, pageless_seconds, max_bytes
        self.clock = clock
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.pages: set[str] = set()
        self.lock = threading.RLock()
        self._stop = threading.Event()

    def folder(self, key: str) -> Path:
        """The folder of session ``key`` (characters other than letters, digits, ``_`` and ``-`` dropped)."""
        safe = SAFE_KEY.sub("", key)[:64] or "anonymous"
        return self.root / f"{SESSION_PREFIX}{safe}"

    def session(self, key: str) -> Session:
        """The :class:`Session` of ``key``, created on first use (its folder when the first file is written).

        Creating one beyond ``max_sessions`` evicts the least recently used other idle session.
        """
        with self.lock:
            self.sweep()
            if key not in self.sessions:
                self.sessions[key] = Session(key, self.folder(key), self.served,
                                             after_write=lambda: self.limit_bytes(key))
                idle = self._idle_others(key)
                while idle and len(self.sessions) > self.max_sessions:
                    self._evict(idle.pop(0), f"to make room: the server keeps the "
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

    @contextlib.contextmanager
    def busy(self, session: Session) -> Iterator[Session]:
        """``session`` with a request in flight for the ``with`` block.

        Nothing evicts it meanwhile, so what the request writes stays for its client to fetch.
        """
        with self.lock:
            session.in_flight += 1
        try:
            yield session
        finally:
            with self.lock:
                session.in_flight -= 1
            self.use(session)

    @contextlib.contextmanager
    def serving(self, session: Session | None) -> Iterator[Session]:
        """``session`` as :meth:`require` gives it (it has a head), :meth:`busy` for the ``with`` block."""
        with self.busy(self.require(session)) as session:
            yield session

    def _idle_others(self, key: str) -> list[str]:
        """Keys of the sessions other than ``key`` with no request in flight, least recently used first."""
        return [k for k, session in self.sessions.items() if k != key and not session.in_flight]

    def page_opened(self, key: str) -> None:
        """A browser page of session ``key`` is open: its session is not evicted for idleness."""
        with self.lock:
            self.pages.add(key)

    def sweep(self) -> None:
        """Evict sessions with no open page that were not used for ``pageless_seconds``."""
        with self.lock:
            now = self.clock()
            idle = [key for key in self._idle_others("") if key not in self.pages
                    and now - self.sessions[key].last_used > self.pageless_seconds]
            for key in idle:
                self._evict(key, f"after {self.pageless_seconds / 60:g} minutes without use by a client "
                                 "with no open page")

    def limit_bytes(self, key: str) -> None:
        """Evict least recently used idle sessions other than ``key`` while the files exceed ``max_bytes``."""
        with self.lock:
            others = self._idle_others(key)
            while others and sum(s.bytes_on_disk() for s in self.sessions.values()) > self.max_bytes:
                self._evict(others.pop(0), f"to make room on the server's disk "
                                           f"({self.max_bytes / 2**20:.0f} MB for every session's files)")

    def _evict(self, key: str, why: str) -> None:
        """End session ``key``; its owner's next call is told ``why`` and to start again."""
        session = self.sessions.pop(key)
        session.close(why)
        release_free_memory()

    def end(self, key: str) -> None:
        """Session ``key`` is over (its page was closed): free its inversion, delete its folder and copies."""
        with self.lock:
            self.pages.discard(key)
            session = self.sessions.pop(key, None)
        if session is None:
            shutil.rmtree(self.folder(key), ignore_errors=True)
            return
        session.close()
        release_free_memory()

    def start_sweeper(self, interval: float = SWEEP_SECONDS) -> None:
        """Every ``interval`` seconds in a daemon thread (until :meth:`remove`), evict idle sessions and keep
        the live ones' files fresh for Gradio's cache sweep (:meth:`Session.keep_fresh`)."""
        def loop() -> None:
            while not self._stop.wait(interval):
                self.sweep()
                with self.lock:
                    live = list(self.sessions.values())
                for session in live:
                    session.keep_fresh()
        threading.Thread(target=loop, name="workspace-sweeper", daemon=True).start()

    def remove(self) -> None:
        """End every live session and delete what this process put on disk (it exits).

        A root of its own (the default) goes entirely, Gradio's cache in it included;
        a given root keeps only what it held before this process started.
        """
        self._stop.set()
        for key in list(self.sessions):
            self.end(key)
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for child in self.root.iterdir():
            if child.name in self.found:
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        remove_empty(self.root)


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

    Only a root with an owner file is cleared (session folders and Gradio's folders),
    so a folder that was never ours is never emptied. A root a live process still uses is shared as it is.
    """
    owner = root / OWNER_FILE
    previous = owner.read_text().strip() if owner.exists() else ""
    if previous.isdigit() and int(previous) != os.getpid() and not _alive(int(previous)):
        for child in root.iterdir():
            if child.is_dir() and not SAFE_KEY.search(child.name):
                shutil.rmtree(child, ignore_errors=True)
    owner.write_text(str(os.getpid()))
