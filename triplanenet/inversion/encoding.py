"""Running an inverter on aligned crops: :func:`invert` wraps what the network computes as an :class:`Inversion`."""
from __future__ import annotations

from ..cameras import CameraInput
from ..image_tensors import ImageInput
from ..models.triplanenet import TriPlaneNet
from .result import Inversion


def invert(inverter: TriPlaneNet, image: ImageInput, camera: CameraInput, branch: bool = True, cttr: bool = False,
           deterministic: bool = True) -> Inversion:
    """Invert aligned face crop(s) seen from ``camera`` into an :class:`Inversion` rendered by the inverter's generator.

    ``image`` and ``camera`` as :meth:`TriPlaneNet.forward <triplanenet.models.triplanenet.TriPlaneNet.forward>`
    takes them; ``branch=False`` is the "w+ only" mode (no tri-plane branch); ``cttr``
    (v1 only) runs cascaded test-time refinement.
    """
    out = inverter(image, camera, branch=branch, cttr=cttr, deterministic=deterministic)
    return Inversion(out.ws, out.planes_initial, out.planes, out.camera, out.image, out.method,
                     generator=inverter.decoder)
