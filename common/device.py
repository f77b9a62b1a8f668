"""Which processor trains the model, reproducible seeds, CPU threads (introduced in Phase 1).

The course runs on a laptop CPU; the same code uses an NVIDIA GPU (CUDA) or an Apple GPU (MPS)
when one is there. ``--device cpu`` forces the CPU.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from dataclasses import dataclass

import torch
from torch import nn

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


# --- precision and memory format (the fast path; see 07_speedrun.py) -------------------------

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Precision:
    """How a model computes: ``fp32`` everywhere, or ``bf16`` autocast; ``channels_last`` images.

    Weights and checkpoints always stay fp32: autocast only runs the big matrix products in
    bfloat16. Use it as ``with precision.autocast(): logits = model(precision.images(images))``.
    """

    name: str = "fp32"            # "fp32" or "bf16"
    channels_last: bool = False   # store 4-D tensors as (N, H, W, C) in memory: faster conv kernels
    reason: str = "the default"   # why it was chosen, for the device line
    device_type: str = "cpu"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "bf16":
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model in this precision's memory format (its weights stay fp32)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def images(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last and images.dim() == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images


FP32 = Precision()


def is_convolutional(model: nn.Module) -> bool:
    return any(isinstance(module, nn.Conv2d) for module in model.modules())


def cpu_native_bf16() -> tuple[bool, str]:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16), and the evidence."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    if "amx_bf16" in flags:
        return True, "bfloat16 on AMX"
    if "avx512_bf16" in flags:
        return True, "bfloat16 on AVX-512 BF16"
    return False, "this CPU has no native bfloat16"


def choose_precision(requested: str, device: torch.device, model: nn.Module) -> Precision:
    """``auto``: bf16 + channels_last for a convolutional model on a CPU with native bfloat16, else fp32."""
    if requested not in PRECISIONS:
        raise CourseError(f"unknown precision {requested!r}; use {', '.join(PRECISIONS)}")
    conv = is_convolutional(model)
    if requested == "fp32" or device.type != "cpu":
        return Precision("fp32", conv and device.type == "cpu", "asked for" if requested == "fp32" else "GPU",
                         device.type)
    native, why = cpu_native_bf16()
    if requested == "bf16" or (native and conv):
        return Precision("bf16", conv, why, device.type)
    return Precision("fp32", conv, why if not native else "fully connected model", device.type)
