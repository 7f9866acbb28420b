"""``triplanenet train-encoder``: train TriPlaneNet's pSp encoder (stage 1), tri-plane branch (stage 2), or
polish the generator's super-resolution for them (stage 3).

Examples::

    triplanenet train-encoder --data synthetic --generator G.pkl --stage 1 --steps 20000 --out runs/s1
    triplanenet train-encoder --data faces/ --init runs/s1 --stage 2 --steps 50000 --out runs/s2 \\
        --lpips-weights weights/ --id-weights weights/model_ir_se50.pth
    torchrun --nproc_per_node 4 -m triplanenet.cli train-encoder ... --device cuda

``--data`` is a folder written by ``triplanenet align PHOTOS --dataset DIR`` or
``synthetic``. Stage 2 starts from a stage-1 result (``--init``: a trained
folder or a published ``.pth``), stage 3 from a stage-2 result. The output
folder holds ``checkpoint.pt`` (``--resume`` continues from it) and, at the end,
the inverter in our format (``triplanenet.load_inverter(OUT)``).
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import TYPE_CHECKING

from ..configs import ENCODER_SIZES

if TYPE_CHECKING:
    from ..models.triplanenet import TriPlaneNet
    from .data import Source
    from .encoder_trainer import EncoderTrainConfig
    from .loop import LoopConfig
    from ..models.lpips import LPIPS
    from .losses import IdentityLoss


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset folder (dataset.json + crops) or 'synthetic'")
    parser.add_argument("--generator", help="EG3D checkpoint to invert (any format load_generator reads)")
    parser.add_argument("--init", help="start from this inverter (folder or .pth); required for --stage 2 and 3")
    parser.add_argument("--stage", type=int, choices=(1, 2, 3), default=1,
                        help="1: pSp, 2: the tri-plane branch, 3: the generator's super-resolution on the "
                             "tri-plane branch's inversions (not in the paper)")
    parser.add_argument("--version", type=int, choices=(1, 2),
                        help="TriPlaneNet version: of a new model (default 2) or, with --init, a fresh tri-plane "
                             "branch of this version on the init's generator and pSp encoder")
    parser.add_argument("--pixelshuffle", action="store_true", help="v2 decoder variant with PixelShuffle")
    parser.add_argument("--steps", type=int, required=True, help="total steps (a resumed run stops there too)")
    parser.add_argument("--out", required=True, help="output folder: checkpoint.pt and the trained inverter")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--batch", type=int, default=2, help="images per step and per process")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--optimizer", choices=("adam", "adamw", "radam", "ranger"), default="ranger",
                        help="ranger (RAdam + Lookahead) is what TriPlaneNet trained with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--lpips-net", choices=("alex", "vgg"), default="alex")
    parser.add_argument("--lpips-weights", help="LPIPS linear weights (alex.pth / vgg.pth) or their folder")
    parser.add_argument("--lpips-backbone", help="torchvision feature weights or their folder "
                                                 "(default: the torch hub cache)")
    parser.add_argument("--id-weights", help="model_ir_se50.pth or its folder")
    parser.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    parser.add_argument("--opacity-weight", type=float, default=0.0,
                        help="L1 of the rendered opacity against the mask (data with masks: synthetic; default 0)")
    parser.add_argument("--synthetic-length", type=int, default=100_000, help="with --data synthetic")
    parser.add_argument("--synthetic-resolution", type=int, default=256, help="with --data synthetic")
    parser.add_argument("--neural-rendering-resolution", type=int, help="override the generator's")
    parser.add_argument("--sizes", choices=sorted(ENCODER_SIZES),
                        help="named encoder sizes (new models; triplanenet.configs.ENCODER_SIZES)")
    parser.add_argument("--psp-kwargs", type=json.loads, default={}, help="JSON: pSp sizes (new models)")
    parser.add_argument("--triplane-kwargs", type=json.loads, default={}, help="JSON: tri-plane encoder sizes")


def run(args: argparse.Namespace) -> int:
    from ..models.triplanenet import TriPlaneNet
    from .encoder_trainer import EncoderTask, EncoderTrainConfig
    from .loop import run_training, saved_run

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.resume:
        saved, loop = saved_run(args.out, args.steps)
        config = EncoderTrainConfig.from_dict(saved["task"]["encoder"])
        model = TriPlaneNet.from_config(saved["task"]["model"])
    else:
        loop, config, model = _loop_config(args), _encoder_config(args), build_model(args)
    if args.neural_rendering_resolution:
        model.decoder.neural_rendering_resolution = args.neural_rendering_resolution
    task = EncoderTask(model, build_source(args), config, *build_losses(args))
    return run_training(task, loop, args.out, args.resume, args.device)


def _loop_config(args: argparse.Namespace) -> LoopConfig:
    from .loop import LoopConfig

    return LoopConfig(steps=args.steps, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
                      save_every=args.save_every, log_every=args.log_every)


def _encoder_config(args: argparse.Namespace) -> EncoderTrainConfig:
    from .encoder_trainer import EncoderLossWeights, EncoderTrainConfig

    if args.opacity_weight and args.data != "synthetic":
        raise SystemExit("error: --opacity-weight needs masks, which only --data synthetic has")
    return EncoderTrainConfig(stage=args.stage, batch=args.batch, seed=args.seed,
                              augment=None if args.no_augment else EncoderTrainConfig().augment,
                              weights=EncoderLossWeights(opacity=args.opacity_weight))


def build_model(args: argparse.Namespace) -> TriPlaneNet:
    """A new TriPlaneNet on ``--generator`` (encoders initialised from ``--seed``), or the inverter ``--init``
    (trained depth samples kept; with another ``--version``, its tri-plane branch replaced by a fresh one)."""
    import torch

    from ..loading import load_generator, load_inverter
    from ..models.triplanenet import TriPlaneNet

    if args.init:
        model = load_inverter(args.init, double_depth_samples=False)
        if args.version in (None, model.version):
            return model
        torch.manual_seed(args.seed)
        switched = TriPlaneNet.from_config({**model.get_config(), "version": args.version,
                                            "use_pixelshuffle": args.pixelshuffle,
                                            "triplane_kwargs": args.triplane_kwargs or model.triplane_kwargs})
        shared = {k: v for k, v in model.state_dict().items() if not k.startswith("triplanenet_encoder.")}
        switched.load_state_dict({**switched.state_dict(), **shared}, strict=True)
        return switched
    if args.stage > 1:
        raise SystemExit(f"error: --stage {args.stage} needs --init (the stage-{args.stage - 1} result)")
    if not args.generator:
        raise SystemExit("error: give --generator (or --init)")
    generator = load_generator(args.generator)
    torch.manual_seed(args.seed)
    sizes = ENCODER_SIZES.get(args.sizes, {})
    model = TriPlaneNet(args.version or 2, args.pixelshuffle, generator.get_config(), n_styles=generator.num_ws,
                        psp_kwargs=args.psp_kwargs or sizes.get("psp_kwargs"),
                        triplane_kwargs=args.triplane_kwargs or sizes.get("triplane_kwargs"))
    model.decoder.load_state_dict(generator.state_dict())
    return model


def build_source(args: argparse.Namespace) -> Source:
    from ..preprocess.aligned_folder import FolderDataset
    from .data import SyntheticSource

    if args.data == "synthetic":
        return SyntheticSource(args.synthetic_length, args.synthetic_resolution, args.seed)
    return FolderDataset(args.data)


def build_losses(args: argparse.Namespace) -> tuple[LPIPS | None, IdentityLoss | None]:
    """``(lpips, identity)``: each ``None`` (with a logged notice) when its weights are absent."""
    from .losses import load_identity
    from ..models.lpips import load_lpips

    return load_lpips(args.lpips_net, args.lpips_weights, args.lpips_backbone), load_identity(args.id_weights)
