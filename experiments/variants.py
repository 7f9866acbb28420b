"""Named refinement variants for experiments/score.py (None: the v2 inversion, not refined)."""
from __future__ import annotations

from turnfit import TurnSettings

BASE = TurnSettings()

VARIANTS: dict[str, TurnSettings | None] = {
    "v2": None,
    "smoke": TurnSettings(steps=1, grazing=(0.2, 0.5), distortion_weight=0.1, camera_lr=0.003, side_tv_weight=0.1, side_delta_weight=1.0),
    "base": BASE,
    "dist0.01": TurnSettings(distortion_weight=0.01),
    "dist0.1": TurnSettings(distortion_weight=0.1),
    "dist1": TurnSettings(distortion_weight=1.0),
    "graze0.2-0.5": TurnSettings(grazing=(0.2, 0.5)),
    "graze0.3-0.7": TurnSettings(grazing=(0.3, 0.7)),
    "side0": TurnSettings(side_planes_lr_scale=0.0),
    "side1": TurnSettings(side_planes_lr_scale=1.0),
    "sidedelta1": TurnSettings(side_planes_lr_scale=1.0, side_delta_weight=1.0),
    "sidetv": TurnSettings(side_planes_lr_scale=1.0, side_tv_weight=0.1),
    "mirror0": TurnSettings(mirror_weight=0.0),
    "mirror1": TurnSettings(mirror_weight=1.0),
    "wsfixed": TurnSettings(ws_lr=0.0),
    "steps10": TurnSettings(steps=10),
    "steps40": TurnSettings(steps=40),
    "camera": TurnSettings(camera_lr=0.003),
    "dist10": TurnSettings(distortion_weight=10.0),
    "side0dist10": TurnSettings(side_planes_lr_scale=0.0, distortion_weight=10.0),
    "dens0.5": TurnSettings(density_weight=0.5),
    "dens2": TurnSettings(density_weight=2.0),
    "dens0.5dist10": TurnSettings(density_weight=0.5, distortion_weight=10.0),
    "frontlr0.5": TurnSettings(planes_lr=0.085),
}
