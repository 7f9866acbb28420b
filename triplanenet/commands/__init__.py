"""Command-line sub-commands that work on inversions: ``invert``, ``views``, ``mesh``, ``video``.

Shared here: loading the inverter and a saved inversion, writing the outputs,
and turning expected failures into one readable line (exit code 2).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ERROR_EXIT = 2
DEBUG_ENV = "TRIPLANENET_DEBUG"
"""Set to show the traceback of an unexpected failure instead of the one-line message."""


def add_checkpoint_argument(parser: argparse.ArgumentParser) -> None:
    from ..loading.bundled import CHECKPOINT_ENV, default_checkpoint

    parser.add_argument("--checkpoint", default=default_checkpoint(),
                        help="the TriPlaneNet inverter: published .pth, a save_pretrained folder, a Hub id, or "
                             f"'bundled' / 'bundled-v1' (default: ${CHECKPOINT_ENV}, else 'bundled')")


def refine_steps_argument(text: str) -> int:
    """argparse type of ``--refine-steps``: out of range or not a whole number is a usage error."""
    from ..refinement import check_steps

    try:
        return check_steps(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


class _RefineSteps(argparse.Action):
    """``--refine-steps N`` also switches ``--refine`` on."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.refine_steps, namespace.refine = values, True


def add_refine_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--refine`` and ``--refine-steps N`` (per-photo refinement, :mod:`triplanenet.refinement`)."""
    from ..refinement import DEFAULT_STEPS, STEP_LIMITS

    parser.add_argument("--refine", action="store_true", help=what)
    parser.add_argument("--refine-steps", type=refine_steps_argument, action=_RefineSteps, default=None,
                        metavar="N", help=f"refinement steps, {STEP_LIMITS[0]}..{STEP_LIMITS[1]} (implies "
                                          f"--refine; default {DEFAULT_STEPS})")


def add_inversion_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inversion", type=Path, help="a saved Inversion (.safetensors or .npz)")
    add_checkpoint_argument(parser)


def load_scene(args: argparse.Namespace):
    """The :class:`~triplanenet.views.Scene` of a saved inversion, rendered by the checkpoint's generator."""
    from ..inversion import Inversion
    from ..loading import load_inverter
    from ..views import Scene

    inverter = load_inverter(args.checkpoint)
    return Scene.from_inversion(Inversion.load(args.inversion, inverter.decoder))


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command; a bad checkpoint, photo or file becomes ``error: ...`` on stderr and exit code 2.

    The one error policy of every sub-command: a person never sees a traceback.
    Anything beyond a ``ValueError`` or ``OSError`` is a bug, reported in one
    line that asks for a report; ``$TRIPLANENET_DEBUG=1`` lets it raise instead.
    """
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ValueError as exc:
            message = str(exc)
        except OSError as exc:
            message = f"{exc.strerror} ({exc.filename})" if exc.strerror and exc.filename else str(exc)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            message = (f"unexpected failure ({type(exc).__name__}: {exc}). Please report it with the input; "
                       f"set {DEBUG_ENV}=1 for details.")
        print(f"error: {message}", file=sys.stderr)
        return ERROR_EXIT
    return wrapper


def write_views(scene, out: Path, count: int, yaw_range: float, normals: bool) -> list[Path]:
    """Render a yaw sweep into ``out``: view/depth/normal images per camera, raw depth and a gallery."""
    from ..depth import save_depth, save_depth_image
    from ..views import gallery, normals_image, render_views, yaw_sweep

    out.mkdir(parents=True, exist_ok=True)
    views = render_views(scene, yaw_sweep(count, yaw_range), normals=normals)
    written = []
    for i, view in enumerate(views):
        written.append(out / f"view_{i:02d}.png")
        gallery([view.image], 1).save(written[-1])
        written.append(save_depth(out / f"depth_{i:02d}.npy", view.depth))
        written.append(save_depth_image(out / f"depth_{i:02d}.png", view.depth, view.opacity))
        if view.normals is not None:
            written.append(out / f"normals_{i:02d}.png")
            gallery([normals_image(view.normals)], 1).save(written[-1])
    written.append(out / "gallery.png")
    gallery([v.image for v in views], columns=min(count, 4)).save(written[-1])
    return written


def write_mesh(scene, paths: list[Path], resolution: int, keep_largest: bool, smooth: int,
               level: float = 10.0) -> list[Path]:
    """Extract the coloured mesh once and save it in every format of ``paths`` (by suffix)."""
    from ..exports import save_mesh
    from ..geometry import extract_mesh

    mesh = extract_mesh(scene.field, resolution, scene.box, level=level, keep_largest=keep_largest,
                        smooth_iterations=smooth)
    if len(mesh.faces) == 0:
        raise ValueError(f"the density never exceeds {level} inside the box, so there is no surface to mesh "
                         "(try a lower --level)")
    return [save_mesh(mesh, path) for path in paths]


def frame_renderer(scene, neural_rendering_resolution: int | None) -> Callable:
    """``render(c [1,25]) -> [H,W,3] uint8`` for turntables."""
    from ..views import to_uint8

    def render(c) -> np.ndarray:
        return to_uint8(scene.render(c, neural_rendering_resolution)["image"][0])
    return render
