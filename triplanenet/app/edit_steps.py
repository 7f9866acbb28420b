"""The app's Edit section without Gradio: the running checkpoint's directions, the amounts a client sends, and a
session's edit (a preview at the sliders' view, Apply, Reset).

Amounts are always counted from the session's *unedited* inversion (the encoder's or the refined head), so
the sliders show the whole edit: applying ``smile=1`` twice is one spread of smile, not two, and Reset goes
back to the unedited head, which the session keeps (:attr:`~.session.Session.unedited`). The amounts are
checked by :func:`triplanenet.editing.check_amounts`, as the command line's are. Bad input raises
``ValueError`` with a message for people.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from ..editing import ATTRIBUTES, Directions, Editor, check_amounts, directions_for
from ..inversion.modes import ModelSet
from ..inversion.result import Inversion
from ..outputs.views import View, input_view
from .session import Session
from .steps import novel_view

INVERT_FIRST = ("Invert a photo first: there is no 3D head to edit yet. Upload a photo (or pick an example) "
                "and press Reconstruct (API clients: call /align and /invert).")
AMOUNTS_FORMAT = 'The edit is a JSON object that maps attributes to amounts in -3..3, e.g. {"smile": 1.5, "glasses": 2}'


def load_directions(models: ModelSet) -> Directions:
    """The edit directions of the running checkpoint (its own version's generator); ``ValueError`` says why not."""
    generator = models.inverters[models.default_version].decoder
    return directions_for(models.source, generator)


def describe(directions: Directions, name: str) -> str:
    """What moving ``name`` up does, for a slider's info line."""
    if directions.kind == "attributes" and name in ATTRIBUTES:
        return ATTRIBUTES[name]
    return "a principal component of w (unsupervised: look at the head to see what it changes)"


def parse_amounts(amounts: object, directions: Directions) -> dict[str, float]:
    """A client's amounts: a JSON object (or its text) of attribute -> amount, checked like the command line's."""
    if isinstance(amounts, str):
        try:
            amounts = json.loads(amounts)
        except json.JSONDecodeError:
            raise ValueError(f"{AMOUNTS_FORMAT}; got {amounts!r:.60}") from None
    if not isinstance(amounts, Mapping):
        raise ValueError(f"{AMOUNTS_FORMAT}; got {amounts!r:.60}")
    return check_amounts(amounts, directions)


def slider_amounts(values: Sequence[object], directions: Directions) -> dict[str, object]:
    """The sliders' values (one per direction, in order) as attribute -> amount, unchecked."""
    if len(values) != len(directions.names):
        raise ValueError(f"expected {len(directions.names)} slider values ({', '.join(directions.names)}), "
                         f"got {len(values)}")
    return dict(zip(directions.names, values))


def check_inverted(session: Session | None) -> None:
    """:data:`INVERT_FIRST` unless the session has a head (an evicted one is left to the workspace's message)."""
    if session is None or (not session.ended and session.inversion is None):
        raise ValueError(INVERT_FIRST)


def base(session: Session) -> tuple[Inversion, View]:
    """The session's unedited inversion and its view (its current result when no edit is applied)."""
    return session.unedited or session.require()


def editor(session: Session, directions: Directions) -> Editor:
    """The session's :class:`Editor` of its unedited inversion, made on first use and kept while it is the base."""
    inversion, _ = base(session)
    if session.editor is None or session.editor.inversion is not inversion:
        session.editor = Editor(inversion, directions)
    return session.editor


def edited_view(editor: Editor, amounts: Mapping[str, float], yaw_deg: float,
                pitch_deg: float) -> tuple[np.ndarray, Image.Image]:
    """The editor's head moved by ``amounts``, seen from yaw/pitch (image and depth picture)."""
    return novel_view(editor(amounts), yaw_deg, pitch_deg)


def edited_head(editor: Editor, amounts: Mapping[str, float]) -> tuple[Inversion, View]:
    """The editor's head moved by ``amounts`` and its view at the photo's camera (all zero: the head itself)."""
    edited = editor(amounts)
    return edited, input_view(edited)


def keep(session: Session, edited: Inversion, view: View) -> None:
    """Make ``edited`` (an edit of the session's unedited head) its result; Reset can go back."""
    unedited = base(session)
    if edited is unedited[0]:
        session.start(*unedited)
    else:
        session.start(edited, view, unedited=unedited)


def reset(session: Session) -> tuple[Inversion, View]:
    """Go back to the unedited head (nothing happens when no edit is applied)."""
    unedited = base(session)
    if session.unedited is not None:
        session.start(*unedited)
    return unedited


def summary(inversion: Inversion) -> str:
    """Markdown for people: the edit the session's head carries."""
    if not inversion.edits:
        return "**No edit applied**: views, depth, mesh and downloads show the unedited head."
    moved = ", ".join(f"{name} {amount:+.2g}" for name, amount in inversion.edits.items())
    return (f"**Edit applied**: {moved} (spreads). Views, depth, mesh and the saved inversion show the edited head; "
            "**Reset** goes back to the unedited one.")
