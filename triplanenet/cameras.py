"""EG3D cameras: look-at poses, the 25-number label, yaw/pitch, mirroring, and the
checks every camera a user passes goes through (:func:`as_cameras`).

Conventions (EG3D's, which every published checkpoint was trained with):

* World: the head sits near the origin, +y up, the face looks toward +z.
* A camera is an OpenCV cam2world matrix (x right, y down, z forward, i.e. the
  camera looks along its +z axis) plus *normalised* intrinsics, where the focal
  length and principal point are in units of the image size (FFHQ: focal
  4.2647, principal point 0.5).
* The **label** ``c`` is ``[cam2world.flatten() (16), intrinsics.flatten() (9)]``,
  row-major, 25 numbers. The generator is conditioned on it and renders from it.
* ``yaw`` and ``pitch`` are the offsets (radians) that EG3D's scripts add to the
  frontal view before calling its look-at sampler: the camera sits on a sphere
  of radius ``radius`` around the world origin at azimuth ``pi/2 + yaw`` and at
  polar angle ``arccos(1 - 2 (pi/2 + pitch) / pi)``, and looks at ``pivot``.
  Positive yaw moves the camera toward +x (the viewer sees the face's left
  side turn toward them), positive pitch lowers it (looks up at the chin).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

FOCAL = 4.2647
RADIUS = 2.7
PIVOT = (0.0, 0.0, 0.2)

Tensorish = float | Sequence[float] | torch.Tensor

RADIUS_RANGE = (1.5, 4.0)
"""Camera distances from the origin (world units) that can see the head.

EG3D's renderer samples each ray from 2.25 to 3.3 units in front of the camera
and the head lives in the box [-0.5, 0.5]^3 (half diagonal 0.87), so a camera
closer than about 1.4 or farther than about 4.2 renders nothing at all."""
MAX_AIM_DEGREES = 30.0
"""Largest angle between a camera's viewing axis and the direction to the origin.

EG3D's field of view is +-6.7 degrees and the head's box spans +-18 degrees seen
from 2.7 units, so a camera aimed more than about 25 degrees away sees no head."""
ROTATION_TOLERANCE = 1e-3
"""Largest entry of ``R^T R - I`` (and of ``det R - 1``) accepted for the cam2world rotation."""
FOCAL_RANGE = (2.0, 10.0)
"""Normalised focal lengths accepted (EG3D's FFHQ: 4.2647; a crop of the same face at other zooms)."""
PRINCIPAL_RANGE = (0.4, 0.6)
"""Normalised principal points accepted (EG3D: 0.5, the crop's centre)."""
SQUARE_PIXEL_TOLERANCE = 0.01
"""Largest relative difference between the two focal lengths (EG3D's pixels are square)."""


def intrinsics(focal: float = FOCAL, principal: float = 0.5) -> torch.Tensor:
    """Normalised 3x3 intrinsics ``[[f, 0, p], [0, f, p], [0, 0, 1]]``."""
    return torch.tensor([[focal, 0.0, principal], [0.0, focal, principal], [0.0, 0.0, 1.0]])


def _normalize(v: torch.Tensor) -> torch.Tensor:
    return v / torch.norm(v, dim=-1, keepdim=True)


def look_at(origin: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """OpenCV cam2world matrices [N,4,4] for cameras at ``origin`` [N,3] looking at ``target``.

    The camera's y axis is as close to world -y (down) as the view allows, so
    the image is upright with no roll.
    """
    forward = _normalize(target - origin)
    world_up = torch.tensor([0.0, 1.0, 0.0], dtype=origin.dtype).expand_as(forward)
    right = -_normalize(torch.cross(world_up, forward, dim=-1))
    up = _normalize(torch.cross(forward, right, dim=-1))
    cam2world = torch.eye(4, dtype=origin.dtype).repeat(origin.shape[0], 1, 1)
    cam2world[:, :3, :3] = torch.stack((right, up, forward), dim=-1)
    cam2world[:, :3, 3] = origin
    return cam2world


def orbit_origin(yaw: torch.Tensor, pitch: torch.Tensor, radius: float = RADIUS) -> torch.Tensor:
    """Camera centres [N,3] on EG3D's orbit for yaw/pitch offsets [N] (see module docstring)."""
    theta = math.pi / 2 + yaw
    v = torch.clamp(math.pi / 2 + pitch, 1e-5, math.pi - 1e-5) / math.pi
    phi = torch.arccos(1 - 2 * v)
    x = radius * torch.sin(phi) * torch.cos(math.pi - theta)
    y = radius * torch.cos(phi)
    z = radius * torch.sin(phi) * torch.sin(math.pi - theta)
    return torch.stack((x, y, z), dim=-1)


def look_at_pose(yaw: Tensorish = 0.0, pitch: Tensorish = 0.0, radius: float = RADIUS,
                 pivot: Sequence[float] = PIVOT) -> torch.Tensor:
    """cam2world [N,4,4] for yaw/pitch offsets from the frontal view (scalars or [N])."""
    yaw_t = torch.as_tensor(yaw, dtype=torch.float32).reshape(-1)
    pitch_t = torch.as_tensor(pitch, dtype=torch.float32).reshape(-1)
    yaw_t, pitch_t = torch.broadcast_tensors(yaw_t, pitch_t)
    origin = orbit_origin(yaw_t, pitch_t, radius)
    target = torch.tensor(pivot, dtype=torch.float32).expand_as(origin)
    return look_at(origin, target)


def label(cam2world: torch.Tensor, K: torch.Tensor | None = None) -> torch.Tensor:
    """The 25-number label(s) [N,25] from cam2world [N,4,4] (or [4,4]) and intrinsics [3,3] or [N,3,3]."""
    cam2world = cam2world.reshape(-1, 4, 4)
    K = intrinsics() if K is None else K
    K = K.to(cam2world.dtype).reshape(-1, 3, 3).expand(cam2world.shape[0], 3, 3)
    return torch.cat([cam2world.reshape(-1, 16), K.reshape(-1, 9)], dim=1)


def camera(yaw: Tensorish = 0.0, pitch: Tensorish = 0.0, radius: float = RADIUS,
           pivot: Sequence[float] = PIVOT, focal: float = FOCAL) -> torch.Tensor:
    """Label(s) [N,25] of EG3D look-at cameras at the given yaw/pitch offsets (radians)."""
    return label(look_at_pose(yaw, pitch, radius, pivot), intrinsics(focal))


def split(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split labels [N,25] into cam2world [N,4,4] and intrinsics [N,3,3]."""
    c = torch.as_tensor(c).reshape(-1, 25)
    return c[:, :16].reshape(-1, 4, 4), c[:, 16:].reshape(-1, 3, 3)


def yaw_pitch(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaw and pitch offsets [N] (radians) of the camera centre(s), inverse of :func:`camera`.

    Only the position is used, so it is defined for any camera (e.g. one with
    roll estimated from a photo), measured on the orbit around the origin.
    """
    cam2world, _ = split(c)
    pos = cam2world[:, :3, 3].double()
    r = pos.norm(dim=-1)
    phi = torch.arccos((pos[:, 1] / r).clamp(-1, 1))
    pitch = math.pi * (1 - torch.cos(phi)) / 2 - math.pi / 2
    theta = math.pi - torch.atan2(pos[:, 2], pos[:, 0])
    yaw = torch.remainder(theta - math.pi / 2 + math.pi, 2 * math.pi) - math.pi
    return yaw.float(), pitch.float()


def mirror(c: torch.Tensor) -> torch.Tensor:
    """The camera(s) [N,25] that see the horizontally mirrored image (x -> -x in the world).

    With ``S = diag(-1, 1, 1, 1)`` the mirrored cam2world is ``S @ M @ S``: the
    camera position's x and the rotation's off-diagonal x terms change sign.
    This is EG3D's ``flip_yaw`` used for its x-flip augmentation.
    """
    cam2world, K = split(c)
    s = torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=cam2world.dtype)
    flipped = cam2world * s[:, None] * s[None, :]
    return label(flipped, K)


def turned(c: torch.Tensor, yaw: float) -> torch.Tensor:
    """The camera(s) [N,25] orbited by ``yaw`` radians about the vertical axis through :data:`PIVOT`.

    Positive yaw moves the camera toward +x, as in :func:`camera`. Distance to the pivot, elevation,
    roll and intrinsics are kept, so the head stays framed as in the original view (``yaw=0`` gives
    ``c`` back): the photo's camera turned, pitch kept.
    """
    cam2world, K = split(c)
    cos, sin = math.cos(yaw), math.sin(yaw)
    rotation = torch.tensor([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]], dtype=cam2world.dtype)
    pivot = torch.tensor(PIVOT, dtype=cam2world.dtype)
    moved = cam2world.clone()
    moved[:, :3, :3] = rotation @ cam2world[:, :3, :3]
    moved[:, :3, 3] = (cam2world[:, :3, 3] - pivot) @ rotation.T + pivot
    return label(moved, K)


def unproject(uv: torch.Tensor, distance: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """World points [M,3] at ``distance`` [M] (world units along the unit ray, as rendered depth is) from
    camera ``c`` [1,25] through normalised image points ``uv`` [M,2] (0..1, x right, y down)."""
    cam2world, K = split(c)
    pixels = torch.cat([uv, torch.ones_like(uv[:, :1])], 1)
    directions = torch.nn.functional.normalize(pixels @ torch.linalg.inv(K[0]).T @ cam2world[0, :3, :3].T, dim=1)
    return cam2world[0, :3, 3] + distance[:, None] * directions


def project(points: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Normalised image points [M,2] (0..1, x right, y down) of world ``points`` [M,3] seen from ``c`` [1,25]."""
    cam2world, K = split(c)
    in_camera = (points - cam2world[0, :3, 3]) @ cam2world[0, :3, :3]
    pixels = in_camera @ K[0].T
    return pixels[:, :2] / pixels[:, 2:]


def _describe(index: int, count: int) -> str:
    return "The camera" if count == 1 else f"Camera {index}"


def _check_pose(cam2world: torch.Tensor, name: str) -> None:
    """Refuse a cam2world [4,4] (float64) that is not a rigid pose seeing the head, naming what is wrong."""
    if not torch.allclose(cam2world[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=cam2world.dtype)):
        raise ValueError(f"{name}'s cam2world matrix must end with the row 0, 0, 0, 1 (numbers 13-16 of 25), "
                         f"got {', '.join(f'{v:.4g}' for v in cam2world[3].tolist())}")
    rotation, position = cam2world[:3, :3], cam2world[:3, 3]
    error = max((rotation.T @ rotation - torch.eye(3, dtype=rotation.dtype)).abs().max().item(),
                abs(torch.linalg.det(rotation).item() - 1))
    if error > ROTATION_TOLERANCE:
        raise ValueError(f"{name}'s cam2world matrix does not hold a rotation (its 3x3 part must be orthonormal "
                         f"with determinant +1; it is off by {error:.3g})")
    radius = position.norm().item()
    if not RADIUS_RANGE[0] <= radius <= RADIUS_RANGE[1]:
        raise ValueError(f"{name} is {radius:.3g} units from the head; EG3D's renderer only sees the head from "
                         f"{RADIUS_RANGE[0]} to {RADIUS_RANGE[1]} units (its cameras are at {RADIUS})")
    cosine = (rotation[:, 2] @ -position).item() / radius
    aim = math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
    if aim > MAX_AIM_DEGREES:
        raise ValueError(f"{name} looks {aim:.0f} degrees away from the head (at most {MAX_AIM_DEGREES:.0f} "
                         "degrees can still see it; the viewing axis is the cam2world's third column)")


def _check_intrinsics(K: torch.Tensor, name: str) -> None:
    """Refuse normalised intrinsics [3,3] (float64) unlike EG3D's ``[[f,0,p],[0,f,p],[0,0,1]]``."""
    fx, fy, skew, cx, cy = K[0, 0].item(), K[1, 1].item(), K[0, 1].item(), K[0, 2].item(), K[1, 2].item()
    zeros = (skew, K[1, 0].item(), K[2, 0].item(), K[2, 1].item())
    if any(zeros) or K[2, 2].item() != 1:
        raise ValueError(f"{name}'s intrinsics (numbers 17-25) must be [[f, 0, p], [0, f, p], [0, 0, 1]] "
                         f"like EG3D's, got {', '.join(f'{v:.4g}' for v in K.flatten().tolist())}")
    if not (FOCAL_RANGE[0] <= fx <= FOCAL_RANGE[1] and abs(fx - fy) <= SQUARE_PIXEL_TOLERANCE * fx):
        raise ValueError(f"{name}'s focal lengths ({fx:.4g}, {fy:.4g}) must be equal and between {FOCAL_RANGE[0]} "
                         f"and {FOCAL_RANGE[1]} image sizes (EG3D's is {FOCAL})")
    if not all(PRINCIPAL_RANGE[0] <= p <= PRINCIPAL_RANGE[1] for p in (cx, cy)):
        raise ValueError(f"{name}'s principal point ({cx:.3g}, {cy:.3g}) must be near the crop's centre, between "
                         f"{PRINCIPAL_RANGE[0]} and {PRINCIPAL_RANGE[1]} of the image size (EG3D's is 0.5)")


def check(c: torch.Tensor) -> None:
    """Refuse labels [N,25] that are not EG3D cameras able to see the head, with a ``ValueError`` naming what is wrong.

    Each label must hold finite numbers, a rigid cam2world pose (a proper rotation,
    last row 0, 0, 0, 1) at a distance in :data:`RADIUS_RANGE` from the origin,
    aimed within :data:`MAX_AIM_DEGREES` of it, and intrinsics like EG3D's
    (square pixels, no skew, focal in :data:`FOCAL_RANGE`, principal point in
    :data:`PRINCIPAL_RANGE`). Anything else renders a black image and empty depth.
    """
    if not torch.isfinite(c).all():
        raise ValueError("camera contains NaN or infinite values")
    cam2world, K = split(c.detach().to("cpu", torch.float64))
    for index in range(len(c)):
        name = _describe(index, len(c))
        _check_pose(cam2world[index], name)
        _check_intrinsics(K[index], name)


CameraInput = torch.Tensor | np.ndarray | Sequence[float] | Sequence[Sequence[float]]


def as_cameras(camera: CameraInput, n: int | None = None) -> torch.Tensor:
    """Camera label(s) -> [n,25] float32 (a single camera is repeated for ``n`` images).

    Accepts 25 numbers or an [N,25] array as a list, numpy array or tensor.
    With ``n=None`` any number of cameras is returned as given. Each must be an
    EG3D camera that can see the head (:func:`triplanenet.cameras.check`).
    """
    try:
        c = camera if isinstance(camera, torch.Tensor) else torch.from_numpy(np.asarray(camera, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"camera must be 25 numbers or an [N,25] array ({exc})") from exc
    if c.ndim == 1:
        c = c[None]
    if c.ndim != 2 or c.shape[1] != 25 or c.shape[0] == 0:
        raise ValueError(f"camera must be 25 numbers (16 cam2world + 9 intrinsics) or [N,25], "
                         f"got shape {tuple(c.shape)}")
    if n is not None and len(c) not in (1, n):
        raise ValueError(f"got {len(c)} cameras for {n} image(s); pass one camera or one per image")
    check(c)
    c = c.float()
    return c.expand(n, 25).contiguous() if n is not None else c
