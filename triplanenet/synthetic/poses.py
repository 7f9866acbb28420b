"""FFHQ-like camera poses for synthetic heads.

EG3D's FFHQ poses are mostly frontal: yaw spreads about +-30 degrees, pitch
much less. We draw yaw and pitch offsets (radians, the convention of
:mod:`triplanenet.cameras`) from normal distributions truncated at two standard
deviations (yaw std 0.3, |yaw| <= 0.6; pitch std 0.1, |pitch| <= 0.2); labels use
EG3D's orbit (radius 2.7, pivot (0, 0, 0.2), focal 4.2647).
"""
from __future__ import annotations

import torch

from .. import cameras

YAW_STD, YAW_LIMIT = 0.3, 0.6
PITCH_STD, PITCH_LIMIT = 0.1, 0.2


def truncated_normal(n: int, std: float, limit: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws [n] of a zero-mean normal with ``std``, truncated to ``[-limit, limit]`` (inverse CDF)."""
    edge = torch.special.ndtr(torch.tensor(limit / std, dtype=torch.float64))
    u = (1 - edge) + (2 * edge - 1) * torch.rand(n, generator=generator, dtype=torch.float64)
    return (std * torch.special.ndtri(u)).float()


def sample_poses(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """FFHQ-like yaw and pitch offsets [n] (radians)."""
    yaw = truncated_normal(n, YAW_STD, YAW_LIMIT, generator)
    pitch = truncated_normal(n, PITCH_STD, PITCH_LIMIT, generator)
    return yaw, pitch


def sample_cameras(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` FFHQ-like EG3D camera labels [n,25]."""
    yaw, pitch = sample_poses(n, generator)
    return cameras.camera(yaw, pitch)
