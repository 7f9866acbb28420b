"""Where and in which precision tensors run: the default device and the reduced-precision ("fast") mode.

Shared by every layer (the generator, refinement, the front ends), so it imports nothing of the package.
"""
from __future__ import annotations

import contextlib

import torch


def default_device() -> torch.device:
    """CUDA when torch sees it (a GPU machine, or ZeroGPU's emulation on a Space), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device, fast: bool) -> contextlib.AbstractContextManager:
    """Reduced-precision context for ``fast`` mode: bfloat16 on CPU, float16 on CUDA."""
    if not fast:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)
