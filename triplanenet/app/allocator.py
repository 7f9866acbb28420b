"""glibc's allocator, tuned once at the server's start for many sessions on few threads.

A server is not the library: Gradio runs every request on a worker thread of its
own, and glibc gives each thread that contends for memory an arena of its own (up to
8 per core). Freed blocks stay in the arena that served them, so concurrent sessions
fragment many arenas and the RSS stays at its peak. Against that the server once
pinned glibc's mmap threshold at 1 MiB (every large tensor mapped and unmapped on its
own), which fixed the growth but made the kernel zero every fresh mapping: a
refinement through the app ran twice as slowly as in the library.

:data:`TUNED` gets both: at most :data:`ARENAS` arenas (so freed memory is re-used
by the next request, whatever its thread), the mmap threshold pinned at glibc's
largest dynamic value (tensors of a refinement come from the arenas, as in the
library, and the threshold no longer moves), and :func:`release_free_memory`
(``malloc_trim``) after every request and every session's end. Measured with
``benchmarks/bench_allocator.py`` and ``benchmarks/bench_app_load.py`` (the tables are
in README.md, "Behaviour under load").

``$TRIPLANENET_ALLOCATOR`` picks another setting (``glibc``: glibc's defaults;
``pinned-1mib``: the previous pin), so the benchmarks compare them in one run.
Other C libraries are left alone.
"""
from __future__ import annotations

import ctypes
import functools
import os

ALLOCATOR_ENV = "TRIPLANENET_ALLOCATOR"
"""Environment variable naming one of :data:`SETTINGS` (default :data:`TUNED`)."""
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter numbers (malloc.h)."""
ARENAS = 2
"""Arenas (one per core of the 2-core CPU Space): threads beyond it share them."""
LARGEST_ARENA_BLOCK = 32 * 2**20
"""glibc's largest allowed mmap threshold on 64-bit (half a non-main heap): bigger blocks are always mapped."""
TRIM_THRESHOLD = 64 * 2**20
"""Free memory at the top of the main heap that glibc keeps before it gives some back by itself."""
TUNED = "tuned"
SETTINGS: dict[str, dict[int, int]] = {
    TUNED: {M_ARENA_MAX: ARENAS, M_MMAP_THRESHOLD: LARGEST_ARENA_BLOCK, M_TRIM_THRESHOLD: TRIM_THRESHOLD},
    "glibc": {},
    "pinned-1mib": {M_MMAP_THRESHOLD: 2**20},
}
"""``mallopt`` parameters of each setting."""


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """glibc, or None on another C library."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def configure(name: str | None = None) -> str:
    """Apply setting ``name`` (default ``$TRIPLANENET_ALLOCATOR``, else :data:`TUNED`); returns its name.

    Call it once, before the server's threads start. An unknown name is a ``ValueError``.
    """
    name = name or os.environ.get(ALLOCATOR_ENV) or TUNED
    if name not in SETTINGS:
        raise ValueError(f"${ALLOCATOR_ENV} must be one of {', '.join(SETTINGS)}, got {name!r}")
    libc = _libc()
    if libc is not None:
        for parameter, value in SETTINGS[name].items():
            libc.mallopt(parameter, value)
    return name


def release_free_memory() -> None:
    """Hand the memory that Python and torch freed back to the operating system (glibc only).

    ``malloc_trim(0)`` releases the free pages of every arena, not only the top of
    the main heap, so the RSS of a server returns to its baseline between requests.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
