"""The app's **Edit** section (issue 21), built by ``app.py`` under the views when the checkpoint has edit directions.

A slider per direction of the running checkpoint (amounts in spreads, -3..3). Releasing one re-renders the
edited head at the sliders' view (yaw, pitch), without keeping it; **Apply edit** (the ``/edit`` endpoint:
a JSON object of attribute -> amount) makes the edited head the session's result, so the gallery, depth,
mesh, downloads and the saved inversion follow; **Reset** (``/reset_edit``) goes back to the unedited head.
The work is in :mod:`triplanenet.app.edit_steps`; this module is its Gradio part, kept out of ``app.py``, which
passes in its error wrapper, its concurrency settings and its chain of results.
"""
from __future__ import annotations

import spaces  # noqa: I001  (first, as in app.py: on a ZeroGPU Space it must come before anything touches CUDA)

import sys
from collections.abc import Callable
from typing import Any

import gradio as gr

from triplanenet.app import Session, Workspace, edit_steps, steps
from triplanenet.app.turns import Turns
from triplanenet.editing import AMOUNT_LIMIT, Directions
from triplanenet.inversion.modes import ModelSet

SLIDER_STEP = 0.1
SLIDERS_PER_ROW = 5
PRIVATE = {"api_visibility": "private"}

gpu_edited_view = spaces.GPU(duration=20)(edit_steps.edited_view)
gpu_edited_head = spaces.GPU(duration=20)(edit_steps.edited_head)


def directions_or_none(models: ModelSet) -> Directions | None:
    """The running checkpoint's edit directions, or None (logged with the reason): the page goes without Edit."""
    try:
        return edit_steps.load_directions(models)
    except (ValueError, OSError) as exc:
        print(f"warning: no Edit section: the edit directions of {models.source!r} cannot be used: {exc}",
              file=sys.stderr, flush=True)
        return None


class EditHandlers:
    """What the Edit section's events do, over the checkpoint's :class:`Directions` and the app's sessions."""

    def __init__(self, directions: Directions, workspace: Workspace, turns: Turns):
        self.directions, self.workspace, self.turns = directions, workspace, turns

    def amounts(self, *values: object) -> dict[str, object]:
        """The sliders' values as the JSON object ``/edit`` takes."""
        return edit_steps.slider_amounts(values, self.directions)

    def view(self, yaw: float, pitch: float, amounts: object, session: Session | None):
        """A slider was released: the unedited head with the sliders' edit, from yaw/pitch (nothing is applied)."""
        checked = edit_steps.parse_amounts(amounts, self.directions)
        edit_steps.check_inverted(session)
        with self.workspace.serving(session) as session, self.turns.turn():
            return gpu_edited_view(edit_steps.editor(session, self.directions), checked, yaw, pitch)

    def apply(self, amounts: object, session: Session | None):
        """Apply ``amounts`` (attribute -> spreads, -3..3, counted from the unedited head): input | edited head
        at the photo's camera, and a summary. Views, depth, mesh and the saved inversion follow the edit."""
        checked = edit_steps.parse_amounts(amounts, self.directions)
        edit_steps.check_inverted(session)
        with self.workspace.serving(session) as session:
            editor = edit_steps.editor(session, self.directions)
            with self.turns.turn():
                edited, view = gpu_edited_head(editor, checked)
            edit_steps.keep(session, edited, view)
            return steps.comparison(edited, view), edit_steps.summary(edited)

    def reset(self, session: Session | None):
        """Undo the applied edit: input | unedited head, and a summary."""
        edit_steps.check_inverted(session)
        with self.workspace.serving(session) as session:
            inversion, view = edit_steps.reset(session)
            return steps.comparison(inversion, view), edit_steps.summary(inversion)

    def zeros(self) -> list[float]:
        """Every slider back to 0 (after Reset)."""
        return [0.0] * len(self.directions.names)

    def new_head(self) -> list[object]:
        """A new head is on its way (Reconstruct, an example, Refine): every slider at 0, no summary."""
        return [*self.zeros(), ""]


def edit_section(page: Any, directions: Directions) -> None:
    """The sliders, Apply edit and Reset, and the summary; the sliders' JSON for ``/edit`` is hidden."""
    gr.Markdown("## Edit\nMove a slider (spreads of the attribute over the training heads) and release it to see "
                "the edited head from the view above; **Apply edit** carries it to the views, depth, mesh and "
                "downloads; **Reset** goes back to the unedited head.")
    names = directions.names
    page.edit_sliders = []
    for row in range(0, len(names), SLIDERS_PER_ROW):
        with gr.Row():
            page.edit_sliders += [gr.Slider(-AMOUNT_LIMIT, AMOUNT_LIMIT, value=0, step=SLIDER_STEP, label=name,
                                            info=edit_steps.describe(directions, name), elem_id=f"edit-{name}",
                                            min_width=160) for name in names[row:row + SLIDERS_PER_ROW]]
    with gr.Row():
        page.edit_apply = gr.Button("Apply edit", variant="primary", scale=3, elem_id="edit-apply")
        page.edit_reset = gr.Button("Reset", variant="secondary", scale=1, elem_id="edit-reset")
    page.edit_info = gr.Markdown(label="Edit summary", elem_id="edit-info")
    page.edit_amounts = gr.JSON(visible=False, label="Edit amounts")


def wire_edit_events(page: Any, handlers: EditHandlers, readable: Callable[[Callable], Callable],
                     model_work: dict[str, Any], show_results: Callable[[Any, Callable[[str], dict]], None]) -> None:
    """Slider release -> preview; Apply edit -> ``/edit`` -> views, depth, mesh; Reset -> ``/reset_edit`` -> the same;
    a new head (Reconstruct, an example, Refine) puts the sliders back to 0.

    ``readable``, ``model_work`` and ``show_results`` are ``app.py``'s error wrapper, concurrency settings
    of short model work, and chain of views -> depth -> mesh after a new head.
    """
    sliders, session, raw = page.edit_sliders, page.session, {"preprocess": False}
    head = [page.comparison, page.edit_info]

    collect = {"fn": readable(handlers.amounts), "inputs": sliders, "outputs": page.edit_amounts, "queue": False,
               **PRIVATE, **raw}  # the sliders' values into the hidden JSON, at once
    gr.on([s.release for s in sliders], **collect).success(
        readable(handlers.view), [page.yaw, page.pitch, page.edit_amounts, session], [page.novel, page.novel_depth],
        api_name="edit_view", show_progress="minimal", **model_work)
    applied = page.edit_apply.click(**collect).success(readable(handlers.apply), [page.edit_amounts, session], head,
                                                       api_name="edit", **model_work)
    show_results(applied, lambda name: {"api_name": f"{name}_after_edit", **PRIVATE})
    reset = page.edit_reset.click(readable(handlers.reset), session, head, api_name="reset_edit", **raw)
    reset.success(handlers.zeros, None, sliders, queue=False, **PRIVATE)
    show_results(reset, lambda name: {"api_name": f"{name}_after_reset", **PRIVATE})
    gr.on([page.run.click, page.examples.dataset.click, page.refine.click], handlers.new_head, None,
          [*sliders, page.edit_info], queue=False, **PRIVATE)
