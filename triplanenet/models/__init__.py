"""Networks: the EG3D generator and its parts, and the TriPlaneNet encoders."""
from .generator import TriPlaneGenerator

__all__ = ["TriPlaneGenerator"]
