"""Per-photo refinement: a few optimisation steps that fit an inversion to its own photo.

An encoder (pSp, then TriPlaneNet's tri-plane branch) predicts a head in one pass;
optimisation-based methods (EG3D's projector, PTI) then fit that head to the photo.
Here the variables are the inversion's ``planes`` [N,3,32,256,256] and ``ws``
[N,num_ws,w_dim] (the super-resolution reads ``ws``); the generator's weights stay
fixed, so a refined head is still an :class:`~triplanenet.inversion.Inversion` that
saves, loads and renders like any other.

Each step renders two views at the fit resolution ``r`` (the super-resolution's
native input, so its output has real detail: 64 px for the bundled model, 128 px
for FFHQ) and compares the final images with the photo:

* the photo at its own camera;
* the mirrored photo at the mirrored camera (faces are nearly symmetric: the prior
  TriPlaneNet v2 trains with), weighted by ``mirror_weight``;
* a head mask: where the encoder's head is transparent (the photo's background for
  a generator that shows empty space), the target is the encoder's own render, so the
  background stays out of the tri-planes; the mask is the encoder's opacity, dilated
  and softened;
* a density term: the raw density ``sigma`` at random points of the box stays close
  to the encoder's (``density_weight``), so the head keeps its shape while its
  surface takes the photo's detail;
* the xy plane (which faces the camera) learns ten times faster than the xz and zy
  planes: detail goes where a frontal photo can tell it, and the sides of the head
  smear less when seen from other angles;
* a distortion term (mip-NeRF 360's, on the ray weights of both views,
  ``distortion_weight``) gathers each ray's weight at one depth, so the photo's colour
  lands on a surface rather than along the ray, where it smears sideways once the head
  turns.

Everything is deterministic for a given ``seed`` (the renderer samples fixed depths,
the density points come from a seeded generator) and runs the same on CPU and CUDA.
:func:`refinement_steps` yields after every step, so a caller shows progress and may
stop early; :func:`refine` runs them all.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from .. import cameras
from ..devices import autocast
from ..inversion.result import Inversion

DEFAULT_STEPS = 20
STEP_LIMITS = (1, 1000)
OPAQUE = 0.5
"""Encoder opacity above which a pixel belongs to the head."""
MASK_DILATION = 2
"""Pixels (at the fit resolution) by which the head mask grows before it is softened."""


@dataclass(frozen=True)
class RefineSettings:
    """How a refinement runs (the defaults were chosen on held-out synthetic heads and real photos)."""

    steps: int = DEFAULT_STEPS
    planes_lr: float = 0.17
    """Adam's step on the planes, as a fraction of their standard deviation (generators differ in scale)."""
    ws_lr: float = 0.03
    """Adam's step on ``ws``, as a fraction of their standard deviation."""
    side_planes_lr_scale: float = 0.1
    """Learning rate of the xz and zy planes relative to the xy plane's (which faces the camera)."""
    mirror_weight: float = 0.5
    """Weight of the mirrored photo at the mirrored camera, relative to the photo's."""
    density_weight: float = 0.05
    """Weight of the mean absolute change of ``sigma`` at ``density_points`` random points per step."""
    density_points: int = 8192
    distortion_weight: float = 1.0
    """Weight of the mean ray distortion of the fitted views (:func:`triplanenet.rendering.ray_marcher.distortion`):
    each ray's weight gathers at one depth, so the photo's colour sits on a surface instead of being spread
    along the ray (which turns into a horizontal smear when the head turns)."""
    resolution: int | None = None
    """Neural rendering resolution to fit at (None: the super-resolution's input resolution)."""
    seed: int = 0
    fast: bool = False
    """Render in the generator's reduced-precision mode (bfloat16 on CPU, float16 on CUDA)."""


@dataclass
class RefineProgress:
    """What one step reports: ``step`` of ``steps`` done and its photo ``loss`` (mean absolute error in [-1, 1]).

    :attr:`inversion` copies out the head as it is after this step; read it before the
    next step runs (the optimisation goes on in place).
    """

    step: int
    steps: int
    loss: float
    snapshot: Callable[[], Inversion] = field(repr=False)

    @property
    def inversion(self) -> Inversion:
        return self.snapshot()


def check_steps(steps: object) -> int:
    """``steps`` as an int in :data:`STEP_LIMITS`, or a ``ValueError`` a person can act on."""
    low, high = STEP_LIMITS
    try:
        value = float(steps)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"The number of refinement steps must be a whole number from {low} to {high}, "
                         f"got {steps!r}") from None
    if not (value.is_integer() and low <= value <= high):
        raise ValueError(f"The number of refinement steps must be a whole number from {low} to {high}, got {steps!r}")
    return int(value)


def fit_resolution(inversion: Inversion) -> int:
    """The super-resolution's native input side: the largest neural rendering whose detail reaches the image."""
    return inversion._generator().superresolution.variant.input_resolution


def head_mask(opacity: torch.Tensor, size: int) -> torch.Tensor:
    """Soft head mask [N,1,size,size] in [0, 1] from the encoder's opacity [N,1,r,r]."""
    inside = (opacity > OPAQUE).float()
    grown = F.max_pool2d(inside, 2 * MASK_DILATION + 1, stride=1, padding=MASK_DILATION)
    soft = F.avg_pool2d(grown, 2 * MASK_DILATION + 1, stride=1, padding=MASK_DILATION, count_include_pad=False)
    return F.interpolate(soft, size=(size, size), mode="bilinear", align_corners=False)


def _photos(inversion: Inversion) -> tuple[torch.Tensor, torch.Tensor]:
    """The photos to fit [M,3,R,R] and their cameras [M,25], head-major: every head's ``photos`` when it
    records several (M = N*K), else each head's ``input_image`` (M = N)."""
    if inversion.photos is not None:
        return inversion.photos.flatten(0, 1), inversion.photo_cameras.flatten(0, 1)
    return inversion.input_image, inversion.camera


def _photo_and_mirror(inversion: Inversion) -> tuple[torch.Tensor, torch.Tensor]:
    """The photos and their mirror images [2M,3,R,R], and their cameras [2M,25] (photo, mirror; head-major)."""
    photo, c = _photos(inversion)
    mirrored = cameras.mirror(c.cpu()).to(c.device)
    return torch.stack([photo, photo.flip(-1)], 1).flatten(0, 1), torch.stack([c, mirrored], 1).flatten(0, 1)


def _targets(inversion: Inversion, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What each view should show [2M,3,R,R] (the photo on the head, the encoder's render elsewhere)
    and the cameras [2M,25]; each head renders its own 2M/N views as one scene."""
    wanted, c = _photo_and_mirror(inversion)
    with torch.no_grad():
        out = inversion._generator().synthesis_scenes(inversion.ws, inversion.planes, c, r, deterministic=True)
    mask = head_mask(out["image_opacity"], wanted.shape[-1])
    return mask * wanted + (1 - mask) * out["image"], c


class _Fit:
    """The optimisation problem of one refinement: variables, targets, optimizer and one step.

    A head that records several photos of one person (``photos``) is fitted to all of them at once:
    its one ``ws`` and ``planes`` render every photo's view and mirror view as one scene.

    The variables are copies of the inversion's ``ws`` and its three planes (the xy
    plane, which faces the camera, learns faster than the other two). Gradients are
    taken with respect to them alone, so the shared generator is never modified.
    """

    def __init__(self, inversion: Inversion, settings: RefineSettings):
        self.inversion, self.settings = inversion, settings
        self.G = inversion._generator()
        self.r = settings.resolution or fit_resolution(inversion)
        self.targets, self.cameras = _targets(inversion, self.r)
        photos = len(self.cameras) // 2
        self.weights = torch.tensor([1.0, settings.mirror_weight] * photos, device=self.targets.device).view(-1, 1, 1, 1)
        self.front, *self.sides = (p.detach().clone().requires_grad_(True) for p in inversion.planes.unbind(1))
        self.ws = inversion.ws.detach().clone().requires_grad_(True)
        planes_lr = settings.planes_lr * float(inversion.planes.detach().std())
        self.optimizer = torch.optim.Adam([
            {"params": [self.front], "lr": planes_lr},
            {"params": self.sides, "lr": planes_lr * settings.side_planes_lr_scale},
            {"params": [self.ws], "lr": settings.ws_lr * float(inversion.ws.detach().std())}])
        self.points = torch.Generator(device="cpu").manual_seed(settings.seed)

    @property
    def planes(self) -> torch.Tensor:
        return torch.stack([self.front, *self.sides], 1)

    def step(self) -> float:
        """One Adam step on photo + mirror + density + distortion terms; returns the photo term."""
        G, settings, planes = self.G, self.settings, self.planes
        with autocast(planes.device, settings.fast):
            out = G.synthesis_scenes(self.ws, planes, self.cameras, self.r, deterministic=True)
        photo_loss = ((out["image"].float() - self.targets).abs() * self.weights).mean()
        box = float(G.rendering_kwargs["box_warp"])
        points = (torch.rand(len(planes), settings.density_points, 3, generator=self.points) - 0.5) * box
        points = points.to(planes.device)
        sigma = G.sample_mixed(points, None, self.ws, planes=planes)["sigma"]
        with torch.no_grad():
            sigma_initial = G.sample_mixed(points, None, self.inversion.ws, planes=self.inversion.planes)["sigma"]
        loss = (photo_loss + settings.density_weight * (sigma - sigma_initial).abs().mean()
                + settings.distortion_weight * out["image_distortion"].float().mean())
        variables = [self.front, *self.sides, self.ws]
        for variable, gradient in zip(variables, torch.autograd.grad(loss, variables)):
            variable.grad = gradient
        self.optimizer.step()
        return float(photo_loss.detach())

    def snapshot(self) -> Inversion:
        """The inversion as it is now (copies)."""
        return replace(self.inversion, ws=self.ws.detach().clone(), planes=self.planes.detach(),
                       method=_refined_name(self.inversion.method), neural_rendering_resolution=self.r)


def refinement_steps(inversion: Inversion, settings: RefineSettings = RefineSettings()) -> Iterator[RefineProgress]:
    """Run the refinement of ``inversion`` (which must carry its ``input_image``), yielding after every step."""
    if inversion.input_image is None:
        raise ValueError("This inversion has no photo (input_image) to refine against: invert the photo again "
                         "with this version of triplanenet, or refine a freshly made inversion.")
    steps = check_steps(settings.steps)
    fit = _Fit(inversion, settings)
    for step in range(1, steps + 1):
        yield RefineProgress(step, steps, fit.step(), fit.snapshot)


def _refined_name(method: str) -> str:
    return method if method.endswith("+refined") else f"{method}+refined"


def refine(inversion: Inversion, steps: int | None = None, settings: RefineSettings = RefineSettings(),
           progress: Callable[[RefineProgress], bool | None] | None = None) -> Inversion:
    """``inversion`` fitted to its photo in ``steps`` (default :data:`DEFAULT_STEPS`) optimisation steps.

    ``progress`` is called after every step; returning ``False`` stops early (the
    result so far is returned).
    """
    if steps is not None:
        settings = replace(settings, steps=steps)
    for state in refinement_steps(inversion, settings):
        if progress is not None and progress(state) is False:
            break
    return state.inversion
