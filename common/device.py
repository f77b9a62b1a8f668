"""Which processor trains the model, reproducible seeds, CPU threads (introduced in Phase 1).

The course runs on a laptop CPU; the same code uses an NVIDIA GPU (CUDA) or an Apple GPU (MPS)
when one is there. ``--device cpu`` forces the CPU.
"""

from __future__ import annotations

import functools
import os
import random

import torch

from common.errors import CourseError


def pick_device(preferred: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU; or exactly ``preferred`` ("cpu", "cuda", "mps"). Prints the choice once."""
    if preferred == "auto":
        if torch.cuda.is_available():
            preferred = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            preferred = "mps"
        else:
            preferred = "cpu"
    if preferred == "cuda" and not torch.cuda.is_available():
        raise CourseError("--device cuda was asked for but no CUDA GPU is available; use --device auto")
    if preferred == "mps" and not torch.backends.mps.is_available():
        raise CourseError("--device mps was asked for but Apple's MPS is not available; use --device auto")
    if preferred not in ("cpu", "cuda", "mps"):
        raise CourseError(f"unknown device {preferred!r}; use auto, cpu, cuda or mps")
    device = torch.device(preferred)
    _announce(str(device))
    return device


@functools.lru_cache(maxsize=None)
def _announce(device: str) -> None:
    """Print the device line once per process, however many times a device is picked."""
    extra = f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else f" ({torch.get_num_threads()} threads)"
    print(f"device: {device}{extra}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy (if installed) and PyTorch so a run can be repeated exactly on CPU."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional for the PyTorch phases
        pass


def configure_threads(num_threads: int | None = None) -> int:
    """Use one PyTorch thread per physical-ish core; more threads than cores only slow a small net down."""
    if num_threads is None:
        num_threads = max(1, min(os.cpu_count() or 1, 8))
    torch.set_num_threads(num_threads)
    return num_threads
