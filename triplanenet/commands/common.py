"""What the sub-commands share: the checkpoint and refinement options, loading a saved inversion,
and turning expected failures into one readable line (exit code 2)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..inversion.result import Inversion

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
    from ..refinement.fit import check_steps

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
    from ..refinement.fit import DEFAULT_STEPS, STEP_LIMITS

    parser.add_argument("--refine", action="store_true", help=what)
    parser.add_argument("--refine-steps", type=refine_steps_argument, action=_RefineSteps, default=None,
                        metavar="N", help=f"refinement steps, {STEP_LIMITS[0]}..{STEP_LIMITS[1]} (implies "
                                          f"--refine; default {DEFAULT_STEPS})")


def add_inversion_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inversion", type=Path, help="a saved Inversion (.safetensors or .npz)")
    add_checkpoint_argument(parser)


def load_inversion(args: argparse.Namespace) -> Inversion:
    """The saved inversion ``args.inversion``, rendered by the generator of ``args.checkpoint``."""
    from ..inversion.result import Inversion
    from ..loading import load_inverter

    return Inversion.load(args.inversion, load_inverter(args.checkpoint).decoder)


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
