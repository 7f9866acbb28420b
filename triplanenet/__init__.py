"""TriPlaneNet: turn a face photo into a 3D head by inverting EG3D.

Top-level API::

    import triplanenet
    G = triplanenet.load_generator("ffhq512-128.pkl")   # or .pth, a folder, a Hub id
    c = triplanenet.cameras.camera(yaw=0.3, pitch=0.0)
    out = G(torch.randn(1, 512), c)                      # out["image"]: [1,3,512,512]
"""
from . import cameras
from .clips import invert_video
from .inversion import Inversion, invert
from .loading import CheckpointError, load_generator, load_inverter
from .models import TriPlaneGenerator
from .models.triplanenet import TriPlaneNet
from .outputs import extract_mesh, head_mesh
from .pipeline import Pipeline, Reconstruction
from .refinement import RefineSettings, refine

__all__ = ["CheckpointError", "Inversion", "Pipeline", "Reconstruction", "RefineSettings", "TriPlaneGenerator",
           "TriPlaneNet", "cameras", "extract_mesh", "head_mesh", "invert", "invert_video", "load_generator",
           "load_inverter", "refine"]
