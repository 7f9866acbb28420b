"""Ranger: RAdam with Lookahead, the optimiser TriPlaneNet trained with."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Ranger(torch.optim.RAdam):
    """RAdam with Lookahead, the Ranger optimiser TriPlaneNet trained with.

    Every ``k`` steps the slow weights move ``alpha`` of the way to the fast
    (RAdam) weights and the fast weights restart from them. Slow weights live in
    the optimiser state and the Lookahead counter in the parameter groups, so
    ``state_dict()`` captures everything a resumed run needs.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, betas: tuple[float, float] = (0.95, 0.999),
                 weight_decay: float = 0.0, k: int = 6, alpha: float = 0.5) -> None:
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay)
        for group in self.param_groups:
            group.update(lookahead_k=k, lookahead_alpha=alpha, lookahead_step=0)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        starts = {p: p.detach().clone() for group in self.param_groups for p in group["params"]
                  if p.grad is not None and "slow" not in self.state[p]}
        loss = super().step(closure)
        for p, start in starts.items():
            self.state[p]["slow"] = start
        for group in self.param_groups:
            group["lookahead_step"] += 1
            if group["lookahead_step"] % group["lookahead_k"]:
                continue
            for p in group["params"]:
                if "slow" in self.state[p]:
                    slow = self.state[p]["slow"]
                    slow.add_(p - slow, alpha=group["lookahead_alpha"])
                    p.copy_(slow)
        return loss
