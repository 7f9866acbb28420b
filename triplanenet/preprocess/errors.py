"""The one exception type that face preprocessing raises for a person to read.

Everything that can go wrong with an uploaded photo (unreadable bytes, an image
too large to open safely, no face, a face too small, a bad face index, a missing
backend) raises :class:`FaceError` with a message that says what happened and
what to try. Callers (the command line, an app) catch this one type and show the
message; anything else escaping is a bug.
"""
from __future__ import annotations


class FaceError(ValueError):
    """A photo could not be turned into an aligned face; ``str(err)`` says why and what to do."""
