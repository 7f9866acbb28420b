"""Stage 3b (optional): an :class:`~triplanenet.inversion.Inversion` and slider amounts in, the edited
:class:`~triplanenet.inversion.Inversion` out (it renders, meshes and saves like any other, and records the edit).

* :mod:`.directions`: :class:`Directions` (named moves of the w+ codes, one spread each): the bundled model's
  exact attribute directions (``edit_directions.safetensors``, written by ``pack-bundled``), or the principal
  components of any other checkpoint's w, cached on disk; :func:`directions_for` picks a checkpoint's;
* :mod:`.edit`: :func:`edit` and :class:`Editor` (one inversion, many edits: a slider) and the checks of
  user input (names, amounts in -3..3, which generator made the inversion).
"""
from .directions import ATTRIBUTES, Directions, directions_for, write_attribute_directions
from .edit import AMOUNT_LIMIT, Editor, check_amounts, check_generator, edit, parse_settings

__all__ = ["AMOUNT_LIMIT", "ATTRIBUTES", "Directions", "Editor", "check_amounts", "check_generator", "directions_for",
           "edit", "parse_settings", "write_attribute_directions"]
