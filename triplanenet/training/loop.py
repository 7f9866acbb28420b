"""The shared training loop: optimiser, checkpoints and resume, progress line, data parallelism.

A :class:`Task` owns the model and knows its loss; :func:`train` runs it. A
checkpoint (``checkpoint.pt`` in the output folder) holds the model and optimiser
states, the step, the random generator states and the configuration, so a
resumed run continues bit-identically (batches come from ``(seed, step, rank)``,
see :mod:`.data`).

Launched by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the loop is data
parallel like DDP: every rank starts from rank 0's weights, gradients are
averaged with ``all_reduce`` after each backward pass and buffers (BatchNorm
statistics) are taken from rank 0, so all ranks keep identical weights. The
backend is gloo on CPU and nccl on CUDA.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn

from .data import Batch
from .distributed import Distributed, average_gradients, broadcast_state, init_distributed, shutdown_distributed
from .ranger import Ranger

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
SECONDS_PER_HOUR = 3600.0
OPTIMIZERS = ("adam", "adamw", "radam", "ranger")


@dataclass
class LoopConfig:
    """How long and how to optimise: ``steps`` in total (a resumed run stops there too)."""

    steps: int = 1000
    lr: float = 1e-4
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    seed: int = 0
    save_every: int = 500
    log_every: int = 10
    grad_clip: float = 0.0
    warmup: int = 0
    final_lr: float = 1.0
    eval_every: int = 0


def learning_rate(config: LoopConfig, step: int) -> float:
    """The learning rate of step ``step`` (0-based): a linear warm-up over ``warmup`` steps, then a cosine
    decay from ``lr`` to ``final_lr * lr`` at ``steps`` (``final_lr`` 1: constant)."""
    warm = min(1.0, (step + 1) / config.warmup) if config.warmup > 0 else 1.0
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, max(0, step - config.warmup) / span)
    decay = config.final_lr + (1 - config.final_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * warm * decay


class Task(Protocol):
    """What :func:`train` needs from a training task."""

    model: nn.Module

    def trainable(self) -> nn.Module:
        """The submodule whose parameters are optimised (set to train mode by :meth:`prepare`)."""

    def prepare(self) -> None:
        """Put every submodule in the mode training needs."""

    def batch(self, step: int, rank: int, world: int) -> Batch:
        """This rank's batch at ``step``."""

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The scalar loss to minimise and named values to log."""

    def config_dict(self) -> dict[str, Any]:
        """The task's configuration (saved with checkpoints)."""

    def finish(self, out_dir: Path) -> None:
        """Save the final model (rank 0 only)."""


def resolve_device(name: str | None) -> torch.device:
    """``--device``: ``cpu``, ``cuda``, ``cuda:N``; default CUDA when available. Under torchrun, ``cuda`` means
    the rank's local GPU."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def make_optimizer(params: list[nn.Parameter], config: LoopConfig) -> torch.optim.Optimizer:
    """Adam, AdamW, RAdam or Ranger (RAdam + Lookahead, what TriPlaneNet trained with)."""
    kwargs = {"lr": config.lr, "betas": tuple(config.betas), "weight_decay": config.weight_decay}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    if config.optimizer == "radam":
        return torch.optim.RAdam(params, **kwargs)
    if config.optimizer == "ranger":
        return Ranger(params, **kwargs)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}")


def rng_state() -> dict[str, Any]:
    """The global CPU (and CUDA) random generator states."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, task: Task, optimizer: torch.optim.Optimizer, step: int,
                    config: LoopConfig, cpu_seconds: float = 0.0) -> None:
    """Write the model, optimiser, step, RNG states, configs and the training CPU time so far to ``path``
    atomically."""
    state = {"model": {k: v.detach().cpu() for k, v in task.model.state_dict().items()},
             "optimizer": optimizer.state_dict(), "step": step, "rng": rng_state(),
             "loop": asdict(config), "task": task.config_dict(), "cpu_seconds": cpu_seconds}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, read with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)


class MetricsLog:
    """Training records as JSON lines in ``OUT/log.jsonl`` (appended, so a resumed run continues the file).

    Every record has ``step`` and ``cpu_hours``: the CPU time spent in training steps so far, summed over
    ranks and across resumes (held-out evaluation not included). Loss records add ``lr`` and the mean
    losses since the previous record; evaluation records add ``eval`` (the task's held-out metrics).
    """

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


class CpuClock:
    """CPU seconds spent inside :meth:`timing` blocks, summed over ``world`` ranks (each assumed alike)."""

    def __init__(self, seconds: float, world: int) -> None:
        self.seconds, self.world = seconds, world

    def add(self, process_seconds: float) -> None:
        self.seconds += process_seconds * self.world

    @property
    def hours(self) -> float:
        return self.seconds / SECONDS_PER_HOUR


class Progress:
    """A one-line progress report on stderr: step, mean losses since the last report, speed, ETA."""

    def __init__(self, total: int, start: int, every: int, enabled: bool) -> None:
        self.total, self.every, self.enabled = total, max(1, every), enabled
        self.start_step, self.start_time = start, time.perf_counter()
        self.sums: dict[str, float] = {}
        self.count = 0

    def update(self, step: int, logs: dict[str, float]) -> dict[str, float] | None:
        """Record the logs of finished step ``step`` (1-based count); every ``every`` steps print them and
        return their means since the last report (else ``None``)."""
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1
        if step % self.every == 0 or step == self.total:
            means = {k: v / self.count for k, v in self.sums.items()}
            if self.enabled:
                self.print(step, means)
            self.sums, self.count = {}, 0
            return means
        return None

    def print(self, step: int, means: dict[str, float]) -> None:
        elapsed = time.perf_counter() - self.start_time
        per_step = elapsed / max(1, step - self.start_step)
        text = " ".join(f"{k} {v:.4f}" for k, v in means.items())
        eta = per_step * (self.total - step)
        end = "\n" if step == self.total else ""
        sys.stderr.write(f"\rstep {step}/{self.total} {text} | {per_step:.2f} s/step, eta {eta / 60:.1f} min{end}")
        sys.stderr.flush()


def train(task: Task, config: LoopConfig, out_dir: str | Path, resume: bool = False,
          device: torch.device | None = None) -> dict[str, float]:
    """Optimise ``task`` for ``config.steps`` steps in total, checkpointing to ``out_dir``; the last step's logs.

    With ``resume`` the run continues from ``out_dir/checkpoint.pt`` (model,
    optimiser, step and RNG states). Rank 0 writes checkpoints and calls
    ``task.finish(out_dir)`` at the end.
    """
    out_dir, device = Path(out_dir), device or torch.device("cpu")
    ddp = init_distributed(device)
    task.model.to(device)
    task.prepare()
    params = [p for p in task.trainable().parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config)
    step, cpu_seconds = _start(task, optimizer, config, out_dir / CHECKPOINT_NAME, resume, ddp)
    progress = Progress(config.steps, step, config.log_every, ddp.main)
    records, clock = MetricsLog(out_dir / LOG_NAME, ddp.main), CpuClock(cpu_seconds, ddp.world)
    logs: dict[str, float] = {}
    while step < config.steps:
        lr = learning_rate(config, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        started = time.process_time()
        logs = train_step(task, optimizer, params, step, ddp, config.grad_clip)
        clock.add(time.process_time() - started)
        step += 1
        means = progress.update(step, logs)
        if means is not None:
            records.write({"step": step, "cpu_hours": clock.hours, "lr": lr, **means})
        if ddp.main and config.eval_every > 0 and step % config.eval_every == 0 and hasattr(task, "evaluate"):
            records.write({"step": step, "cpu_hours": clock.hours, "eval": task.evaluate()})
            task.prepare()
        if step % config.save_every == 0 or step == config.steps:
            _save(task, optimizer, step, config, out_dir, ddp, clock.seconds)
    if ddp.main:
        task.finish(out_dir)
    return logs


def saved_run(out_dir: str | Path, steps: int) -> tuple[dict[str, Any], LoopConfig]:
    """For ``--resume``: the checkpoint in ``out_dir`` and its loop config, now running to ``steps`` in total."""
    saved = load_checkpoint(Path(out_dir) / CHECKPOINT_NAME)
    return saved, LoopConfig(**{**saved["loop"], "steps": steps})


def run_training(task: Task, config: LoopConfig, out_dir: str | Path, resume: bool, device: str | None) -> int:
    """What a training command runs: :func:`train` on ``--device``, leaving the process group at the end."""
    try:
        train(task, config, out_dir, resume=resume, device=resolve_device(device))
    finally:
        shutdown_distributed()
    return 0


def train_step(task: Task, optimizer: torch.optim.Optimizer, params: list[nn.Parameter], step: int,
               ddp: Distributed, grad_clip: float = 0.0) -> dict[str, float]:
    """One optimisation step on this rank's batch; gradients averaged over ranks. A non-finite loss or gradient
    skips the step (logged, weights untouched) instead of poisoning the weights with NaN."""
    batch = task.batch(step, ddp.rank, ddp.world)
    optimizer.zero_grad(set_to_none=True)
    loss, logs = task.loss(batch)
    loss.backward()
    if ddp.world > 1:
        average_gradients(params, ddp.world)
    if not gradients_finite(params):
        log.warning("step %d skipped: non-finite loss or gradient %s", step, logs)
        optimizer.zero_grad(set_to_none=True)
        return {**logs, "skipped": 1.0}
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    if ddp.world > 1:
        broadcast_state(task.trainable(), buffers_only=True)
    return logs


def gradients_finite(params: list[nn.Parameter]) -> bool:
    """Whether every gradient is finite (after averaging, so every rank gives the same answer)."""
    grads = [p.grad for p in params if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


def _start(task: Task, optimizer: torch.optim.Optimizer, config: LoopConfig, path: Path, resume: bool,
           ddp: Distributed) -> tuple[int, float]:
    """Seed, optionally resume, and synchronise ranks; the step to start at and the training CPU seconds
    spent before it."""
    torch.manual_seed(config.seed + ddp.rank)
    step, cpu_seconds = 0, 0.0
    if resume:
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        state = load_checkpoint(path)
        task.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, cpu_seconds = int(state["step"]), float(state.get("cpu_seconds", 0.0))
        if ddp.world == 1:
            set_rng_state(state["rng"])
        log.info("resumed from %s at step %d", path, step)
    if ddp.world > 1:
        broadcast_state(task.model)
        torch.manual_seed(config.seed + ddp.rank + 7919 * step)
    return step, cpu_seconds


def _save(task: Task, optimizer: torch.optim.Optimizer, step: int, config: LoopConfig, out_dir: Path,
          ddp: Distributed, cpu_seconds: float = 0.0) -> None:
    if ddp.main:
        save_checkpoint(out_dir / CHECKPOINT_NAME, task, optimizer, step, config, cpu_seconds)
    if ddp.world > 1:
        dist.barrier()
