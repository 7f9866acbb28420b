"""Everything that reads checkpoints: generators, inverters, the bundled model, Hub ids, safe readers.

Checkpoints are untrusted input: nothing here unpickles with arbitrary globals.

* :mod:`.files`: Hub ids -> local paths, file kinds, weights-only torch reads,
  ``save_pretrained`` folder checks, and :class:`CheckpointError`;
* :mod:`.snapshot`: official EG3D network pickles through an allow-listing unpickler;
* :mod:`.eg3d`: :func:`load_generator` (snapshot, ``.pth``, folder, Hub id);
* :mod:`.inverter`: :func:`load_inverter` (published ``.pth``, folder, Hub id, bundled name);
* :mod:`.bundled`: the offline model in ``assets/bundled``.

Our own format (safetensors + JSON) is :mod:`triplanenet.pretrained`, outside
this package because the networks in :mod:`triplanenet.models` inherit its
``save_pretrained`` / ``from_pretrained`` mixin, and networks import nothing from here.
"""
from .files import CheckpointError, resolve
from .eg3d import load_generator
from .inverter import load_inverter

__all__ = ["CheckpointError", "load_generator", "load_inverter", "resolve"]
