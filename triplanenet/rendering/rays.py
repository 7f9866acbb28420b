"""Camera rays through pixel centres."""
from __future__ import annotations

import torch


def ray_bundle(cam2world: torch.Tensor, intrinsics: torch.Tensor,
               resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One ray per pixel centre of a ``resolution``² image.

    cam2world [N,4,4] (OpenCV), normalised intrinsics [N,3,3] (with skew).
    Returns ``origins`` and unit ``directions``, both [N, resolution², 3]; ray
    ``m`` is pixel ``(row, col) = divmod(m, resolution)``.
    """
    n = cam2world.shape[0]
    device = cam2world.device
    steps = torch.arange(resolution, dtype=torch.float32, device=device)
    rows, cols = torch.meshgrid(steps, steps, indexing="ij")
    u = cols.reshape(1, -1) * (1.0 / resolution) + (0.5 / resolution)
    v = rows.reshape(1, -1) * (1.0 / resolution) + (0.5 / resolution)
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy, skew = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None], intrinsics[:, 0, 1, None]
    x = (u - cx + cy * skew / fy - skew * v / fy) / fx
    y = (v - cy) / fy
    z = torch.ones_like(x)
    cam_points = torch.stack((x, y, z, torch.ones_like(z)), dim=-1)
    world_points = torch.bmm(cam2world, cam_points.permute(0, 2, 1)).permute(0, 2, 1)[:, :, :3]
    origin = cam2world[:, :3, 3]
    directions = torch.nn.functional.normalize(world_points - origin[:, None, :], dim=2)
    origins = origin.unsqueeze(1).expand(n, resolution * resolution, 3)
    return origins, directions
