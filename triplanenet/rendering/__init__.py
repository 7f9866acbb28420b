"""Volume rendering of tri-planes: rays, point sampling along rays, tri-plane
feature lookup, the ray marcher, and the importance renderer that composes them."""
from .ray_marcher import ray_march
from .rays import ray_bundle
from .renderer import ImportanceRenderer, RenderOutput
from .triplane import sample_planes

__all__ = ["ImportanceRenderer", "RenderOutput", "ray_bundle", "ray_march", "sample_planes"]
