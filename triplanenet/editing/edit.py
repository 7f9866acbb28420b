"""The edit: an :class:`~triplanenet.inversion.Inversion` and amounts along named directions in, the edited
:class:`Inversion` out.

The w+ codes move: ``ws' = ws + sum_k amount_k * direction_k`` (amounts in spreads, -3..3). The tri-planes
keep what the encoder's branch and refinement added on top of the generator: ``planes' = G.planes(ws') +
(planes - G.planes(ws))``. Edits compose (the result records the sum per direction in ``Inversion.edits``),
and all-zero amounts give back the inversion itself, bit for bit.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cached_property

import torch

from ..inversion.result import Inversion
from ..models.generator import TriPlaneGenerator
from .directions import Directions

AMOUNT_LIMIT = 3.0
"""Amounts are spreads of the attribute over the training heads, within +-this."""


def check_amount(name: str, value: object) -> float:
    """``value`` as a float in -3..3; otherwise a ``ValueError`` that names the direction (a boolean, as a JSON
    client may send, is not a number)."""
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        amount = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the amount of {name!r} must be a number, got {value!r:.40}") from None
    if not math.isfinite(amount) or abs(amount) > AMOUNT_LIMIT:
        raise ValueError(f"the amount of {name!r} must be between -{AMOUNT_LIMIT:g} and {AMOUNT_LIMIT:g} "
                         f"(spreads of the attribute), got {value!r}")
    return amount


def check_amounts(amounts: Mapping[str, object], directions: Directions) -> dict[str, float]:
    """Name -> amount, every name one of ``directions`` and every amount a number in -3..3 (``ValueError``)."""
    for name in amounts:
        directions.vector(name)
    return {name: check_amount(name, value) for name, value in amounts.items()}


def parse_settings(settings: Iterable[str], directions: Directions) -> dict[str, float]:
    """``["smile=1.5", "glasses=1"]`` -> checked amounts; a later setting of a name replaces an earlier one."""
    amounts: dict[str, str] = {}
    for setting in settings:
        name, sign, value = setting.partition("=")
        if not sign or not name.strip():
            raise ValueError(f"an edit is NAME=AMOUNT (e.g. smile=1.5), got {setting!r}")
        amounts[name.strip()] = value
    return check_amounts(amounts, directions)


def check_generator(inversion: Inversion, generator: TriPlaneGenerator, what: str, checkpoint: str) -> None:
    """A ``ValueError`` naming both when ``inversion`` (from ``what``) was not made by ``checkpoint``'s generator:
    its w+ codes have another shape (the tri-planes are 3x32x256x256 in every EG3D)."""
    codes, expected = tuple(inversion.ws.shape[1:]), (generator.num_ws, generator.w_dim)
    if codes != expected:
        raise ValueError(f"{what} was made by another generator ({codes[0]} w codes of {codes[1]} numbers) than "
                         f"checkpoint {checkpoint!r} ({expected[0]} w codes of {expected[1]}); pass the checkpoint "
                         "that inverted it (--checkpoint)")


class Editor:
    """One inversion, ready for many edits (a slider): its tri-plane correction is computed once, on first use.

    ``editor(amounts)`` -> the edited :class:`Inversion`; each call starts from the original inversion.
    """

    def __init__(self, inversion: Inversion, directions: Directions):
        self.inversion, self.directions, self.generator = inversion, directions, inversion._generator()
        directions.check_generator(self.generator, "the edit directions")

    @cached_property
    def correction(self) -> torch.Tensor:
        """What the branch and refinement added to the generator's planes [N,3,32,256,256]."""
        with torch.no_grad():
            return self.inversion.planes - self.generator.planes(self.inversion.ws)

    def __call__(self, amounts: Mapping[str, object]) -> Inversion:
        amounts = {name: a for name, a in check_amounts(amounts, self.directions).items() if a != 0.0}
        if not amounts:
            return self.inversion
        inversion = self.inversion
        shift = sum(a * self.directions.vector(name) for name, a in amounts.items())
        ws = inversion.ws + shift.to(inversion.ws)
        with torch.no_grad():
            planes = self.generator.planes(ws)
        edits = dict(inversion.edits)
        for name, amount in amounts.items():
            edits[name] = edits.get(name, 0.0) + amount
        return replace(inversion, ws=ws, planes_initial=planes, planes=planes + self.correction,
                       edits={name: a for name, a in edits.items() if a != 0.0})


def edit(inversion: Inversion, directions: Directions, amounts: Mapping[str, object]) -> Inversion:
    """``inversion`` moved by ``amounts`` (direction name -> spreads, -3..3) along ``directions``; see the module."""
    return Editor(inversion, directions)(amounts)
