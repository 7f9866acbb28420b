"""``triplanenet train-generator``: train the bundled model's small EG3D generator on synthetic heads.

Examples::

    triplanenet train-generator --steps 1800 --out runs/generator             # 2-core CPU, about 75 min
    triplanenet train-generator --config bundled64 --fast --steps 6000 --out runs/g64   # see `make bundled`
    triplanenet train-generator --steps 3000 --out runs/generator --resume    # continue to 3000 steps
    torchrun --nproc_per_node 4 -m triplanenet.cli train-generator --steps 20000 --out runs/g --device cuda

Each step renders ``--batch`` heads from ``--views`` cameras each (per process).
``--fast`` trains the way ``make bundled`` does: ground truth from a cache of
``--cache-heads`` x ``--cache-views`` renders (built once into ``--cache-dir``,
default ``OUT/cache``), all views of a head as one scene, the raw render alone
(``--rays`` random pixels per view) until ``--sr-start``, warm-up and cosine
decay. ``OUT/log.jsonl`` records losses and, every ``--eval-every`` steps, held-out
PSNR and Chamfer against training CPU-hours (``benchmarks/plot_training.py``).
The output folder holds ``checkpoint.pt`` and, at the end, the generator in our
format (``triplanenet.load_generator(OUT)``) with ``head_params.json``, the
normalisation that turns head parameters into its z.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, required=True, help="total steps (a resumed run stops there too)")
    parser.add_argument("--out", required=True, help="output folder: checkpoint.pt and the trained generator")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--batch", type=int, default=4, help="heads per step and per process")
    parser.add_argument("--views", type=int, default=2, help="cameras per head")
    parser.add_argument("--config", default="bundled", help="generator config name (triplanenet.configs)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--lpips-weights", help="LPIPS linear weights (alex.pth) or their folder")
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet weights or their folder (default: hub cache)")
    fast = parser.add_argument_group("fast trainer (--fast)")
    fast.add_argument("--fast", action="store_true", help="cached ground truth, views as one scene, raw first")
    fast.add_argument("--cache-heads", type=int, default=2000, help="heads in the ground-truth cache")
    fast.add_argument("--cache-views", type=int, default=4, help="cached cameras per head")
    fast.add_argument("--cache-dir", help="ground-truth cache folder (default OUT/cache)")
    fast.add_argument("--sr-start", type=int,
                      help="step from which super-resolution is trained (default 0; with --resume: as saved)")
    fast.add_argument("--rays", type=int, default=0, help="random rays per view before --sr-start (0: all)")
    parser.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps")
    parser.add_argument("--final-lr", type=float, default=1.0,
                        help="cosine decay to this fraction of --lr at --steps (1: constant)")
    parser.add_argument("--eval-every", type=int, default=0, help="held-out PSNR/Chamfer into OUT/log.jsonl")
    parser.add_argument("--eval-heads", type=int, default=4, help="held-out heads per evaluation")


def fast_options(args: argparse.Namespace) -> dict:
    """The :class:`GeneratorTrainConfig` fields ``--fast`` sets."""
    cache_dir = args.cache_dir or str(Path(args.out) / "cache")
    return {"cache_heads": args.cache_heads, "cache_views": args.cache_views, "cache_dir": cache_dir,
            "one_scene": True, "sr_start": args.sr_start or 0, "rays": args.rays}


def run(args: argparse.Namespace) -> int:
    import torch

    from ..models.generator import TriPlaneGenerator
    from .generator_trainer import GeneratorTask, GeneratorTrainConfig, build_generator
    from .loop import LoopConfig, run_training, saved_run
    from ..models.lpips import load_lpips

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.resume:
        saved, loop = saved_run(args.out, args.steps)
        config = GeneratorTrainConfig.from_dict(saved["task"]["generator_training"])
        if args.sr_start is not None:
            config = dataclasses.replace(config, sr_start=args.sr_start)
        generator = TriPlaneGenerator.from_config(saved["task"]["generator"])
        statistics = torch.tensor(saved["task"]["param_mean"]), torch.tensor(saved["task"]["param_std"])
    else:
        loop = LoopConfig(steps=args.steps, lr=args.lr, betas=(0.9, 0.99), seed=args.seed,
                          save_every=args.save_every, log_every=args.log_every, warmup=args.warmup,
                          final_lr=args.final_lr, eval_every=args.eval_every)
        config = GeneratorTrainConfig(batch=args.batch, views=args.views, seed=args.seed, eval_heads=args.eval_heads,
                                      **(fast_options(args) if args.fast else {}))
        torch.manual_seed(args.seed)
        generator, statistics = build_generator(args.config), None
    task = GeneratorTask(generator, config, load_lpips("alex", args.lpips_weights, args.lpips_backbone), statistics)
    return run_training(task, loop, args.out, args.resume, args.device)
