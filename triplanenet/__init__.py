"""TriPlaneNet: turn a face photo into a 3D head by inverting EG3D.

Top-level API::

    import triplanenet
    G = triplanenet.load_generator("ffhq512-128.pkl")   # or .pth, a folder, a Hub id
    c = triplanenet.cameras.camera(yaw=0.3, pitch=0.0)
    out = G(torch.randn(1, 512), c)                      # out["image"]: [1,3,512,512]
"""
from . import cameras
from .inversion import Inversion
from .loading import CheckpointError, load_generator, load_inverter
from .models import TriPlaneGenerator
from .models.triplanenet import TriPlaneNet

__all__ = ["CheckpointError", "Inversion", "TriPlaneGenerator", "TriPlaneNet", "cameras", "load_generator",
           "load_inverter"]
