"""Procedural 3D heads with exact ground truth, rendered like EG3D's FFHQ data.

A head is a parameter vector (:class:`HeadParams`: skull and face proportions,
eyes, brows, nose, lips, ears, neck, hair style, beard, glasses, colours,
lighting, background). Its shape is a signed distance field (:func:`sdf`), its
colour an albedo field (:func:`albedo`); :func:`render` sphere-traces it at EG3D
cameras (the rays of :func:`triplanenet.rendering.rays.ray_bundle`) and returns
the image with its exact depth and mask. Heads sit in the box like aligned FFHQ
heads in EG3D, and :func:`sample_cameras` draws FFHQ-like poses.

Example::

    g = torch.Generator().manual_seed(0)
    params = sample_params(8, g)
    out = render(params, sample_cameras(8, g), resolution=128)
    out["image"], out["depth"], out["mask"]      # [8,3,128,128], [8,1,128,128] x2

:class:`SyntheticHeads` is the deterministic on-the-fly training dataset.
"""
from .poses import sample_cameras, sample_poses
from .dataset import Sample, SyntheticHeads
from .materials import albedo
from .params import FIELDS, SIZE, HeadParams, sample_params
from .preview import contact_sheet
from .imaging import RAY_END, RAY_START, render
from .shape import landmarks, sdf

__all__ = ["FIELDS", "RAY_END", "RAY_START", "SIZE", "HeadParams", "Sample", "SyntheticHeads", "albedo",
           "contact_sheet", "landmarks", "render", "sample_cameras", "sample_params", "sample_poses", "sdf"]
