"""Start ``app.py`` as a real server on 127.0.0.1 for the app tests (offline, bundled model)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

STARTUP_SECONDS = 180


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """A running ``app.py``: its ``url``, process, session-folder root and log file."""

    url: str
    process: subprocess.Popen
    sessions: Path
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_kib(self) -> int:
        """Resident memory of the server process (VmRSS from /proc, KiB)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line in /proc/PID/status")

    def _stat(self) -> list[str]:
        """The fields of ``/proc/PID/stat`` after the process name (field 3 first)."""
        return Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()

    def cpu_seconds(self, user: bool = True) -> float:
        """System CPU seconds the server process has used, plus user CPU seconds if ``user``."""
        fields = self._stat()
        return (int(fields[12]) + (int(fields[11]) if user else 0)) / os.sysconf("SC_CLK_TCK")

    def minor_faults(self) -> int:
        """Minor page faults of the server process so far."""
        return int(self._stat()[7])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_app(folder: Path, *extra_args: str, own_temp: bool = False, environment: dict[str, str] | None = None,
              app: Path | None = None) -> AppServer:
    """Run ``app.py`` from ``folder`` (its caches and session folders go there); wait until it answers.

    ``own_temp``: instead of fixed session and Gradio cache folders, give the app
    ``folder/tmp`` as its temporary directory, where it makes its own
    ``triplanenet-app-<pid>`` root (with Gradio's cache inside), as on a real server.
    ``environment``: more environment variables for the server (``TRIPLANENET_ALLOCATOR``, ``MALLOC_CHECK_``).
    ``app``: another ``app.py`` to run (a benchmark's older checkout); default this project's.
    """
    port = free_port()
    log = folder / f"server-{port}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TRIPLANENET_CHECKPOINT": "bundled", "TRIPLANENET_APP_OUTPUTS": str(folder / "sessions"),
           "GRADIO_TEMP_DIR": str(folder / "gradio-cache")}
    env.pop("GRADIO_SERVER_NAME", None)
    env.update(environment or {})
    if own_temp:
        (folder / "tmp").mkdir(exist_ok=True)
        env["TMPDIR"] = str(folder / "tmp")
        del env["TRIPLANENET_APP_OUTPUTS"], env["GRADIO_TEMP_DIR"]
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, str(app or ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
                                    *extra_args], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    sessions = folder / "tmp" / f"triplanenet-app-{process.pid}" if own_temp else folder / "sessions"
    server = AppServer(f"http://127.0.0.1:{port}/", process, sessions, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"app.py exited with code {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(server.url, timeout=5) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"app.py did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Whether ``condition()`` becomes true within ``seconds`` (polled 4 times a second)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()
