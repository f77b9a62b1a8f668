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


def pick_device(preferred: str = "auto", quiet: bool = False) -> torch.device:
    """CUDA, then MPS, then CPU; or exactly ``preferred`` ("cpu", "cuda", "mps"). Printed once.

    ``quiet``: print nothing, because :func:`announce` will print the device with its precision.
    """
    if preferred == "auto":
        if torch.cuda.is_available():
            preferred = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            preferred = "mps"
        else:
            preferred = "cpu"
    if preferred == "cuda" and not torch.cuda.is_available():
        raise CourseError(
            "--device cuda was asked for but no CUDA GPU is available; use --device auto"
        )
    if preferred == "mps" and not torch.backends.mps.is_available():
        raise CourseError(
            "--device mps was asked for but Apple's MPS is not available; use --device auto"
        )
    if preferred not in ("cpu", "cuda", "mps"):
        raise CourseError(f"unknown device {preferred!r}; use auto, cpu, cuda or mps")
    device = torch.device(preferred)
    if not quiet:
        _announce(str(device))
    return device


@functools.lru_cache(maxsize=None)
def _announce(device: str) -> None:
    """Print the device line once per process, however many times a device is picked."""
    print(device_line(device))


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
    """One PyTorch thread per core (at most 8); more threads than cores slow a small net down."""
    if num_threads is None:
        num_threads = max(1, min(os.cpu_count() or 1, 8))
    torch.set_num_threads(num_threads)
    return num_threads


# --- precision and memory format (the fast path; see 07_speedrun.py) -------------------------

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LABELS = {"fp32": "fp32", "bf16": "bfloat16", "fp16": "float16"}
# Measured on the course's 2-core AMD EPYC (AVX2, no native bfloat16), one process, medians of
# 5 rounds of 8 training steps of the plan's CNN at batch 128 (machine shared with other jobs):
# bf16 autocast took 5.8x the time of fp32 (3.1x with channels_last as well).
BF16_SLOWDOWN_WITHOUT_NATIVE = 5.8
# CPU flags (Linux /proc/cpuinfo) that mean bfloat16 matrix products run in hardware.
NATIVE_BF16_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX-512 BF16"}
CPUINFO = "/proc/cpuinfo"


@dataclass(frozen=True)
class Precision:
    """How a model computes: ``fp32``, or ``bf16``/``fp16`` autocast; ``channels_last`` images.

    Weights and checkpoints always stay fp32: autocast only runs the big matrix products in the
    lower precision. Use it as
    ``with precision.autocast(): logits = model(precision.images(images))``
    and compute the loss on ``logits.float()``.
    """

    name: str = "fp32"  # "fp32", "bf16" or "fp16" (fp16 only on a CUDA GPU)
    channels_last: bool = False  # store 4-D tensors as (N, H, W, C) in memory: faster conv kernels
    reason: str = "the default"  # why it was chosen, for the device line
    device_type: str = "cpu"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Inside it, matrix products run in bf16/fp16 (fp32 precision: nothing changes)."""
        if self.name == "bf16":
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        if self.name == "fp16":
            return torch.autocast(self.device_type, dtype=torch.float16)
        return contextlib.nullcontext()

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model in this precision's memory format (its weights stay fp32)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """A batch (B, C, H, W) in this precision's memory format (same values, other strides)."""
        if self.channels_last and images.dim() == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling against fp16 gradient underflow; a pass-through for fp32 and bf16."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")

    @property
    def label(self) -> str:
        """'bfloat16 + channels_last', 'fp32': what the device line shows."""
        return LABELS[self.name] + (" + channels_last" if self.channels_last else "")

    def describe(self) -> str:
        """'fp32 + channels_last (this CPU has no native bfloat16)', 'bfloat16 on AMX'."""
        return (
            f"{self.label} {self.reason}"
            if self.reason.startswith("on ")
            else f"{self.label} ({self.reason})"
        )


FP32 = Precision()


def is_convolutional(model: nn.Module) -> bool:
    return any(isinstance(module, nn.Conv2d) for module in model.modules())


@functools.lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from Linux's /proc/cpuinfo; None without it (macOS, Windows)."""
    try:
        with open(CPUINFO, encoding="utf-8") as handle:
            line = next((line for line in handle if line.startswith(("flags", "Features"))), "")
    except OSError:
        return None
    return frozenset(line.partition(":")[2].split())


def _torch_bf16_check() -> bool | None:
    """What this PyTorch build's oneDNN says about bfloat16 on this CPU; None if it cannot say."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is None or not torch.backends.mkldnn.is_available():
        return None
    try:
        return bool(check())
    except RuntimeError:
        return None


def cpu_native_bf16() -> tuple[bool, str]:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16), and the evidence.

    Both must agree: the CPU's own flags (Linux's /proc/cpuinfo) and PyTorch's oneDNN check.
    The flags alone are not enough (an old PyTorch may not use them); the check alone is not
    either (it also says yes on AVX-512 CPUs that only emulate bfloat16). Without /proc/cpuinfo
    (macOS, Windows) nothing is detected, so the safe fp32 is chosen.
    """
    flags = _cpu_flags()
    if flags is None:
        return False, "native bfloat16 is only detected on Linux"
    unit = next((name for flag, name in NATIVE_BF16_FLAGS.items() if flag in flags), None)
    if unit is None:
        return False, "this CPU has no native bfloat16"
    if _torch_bf16_check() is False:
        return False, f"this CPU has {unit} but this PyTorch build cannot use it for bfloat16"
    return True, f"on {unit}"


def _bf16_slow_warning() -> str:
    return (
        "warning: this CPU has no native bfloat16, so bf16 is slow "
        f"(measured {BF16_SLOWDOWN_WITHOUT_NATIVE:.1f}x "
        "slower than fp32)"
    )


def _choose_on_gpu(requested: str, device: torch.device, conv: bool) -> Precision:
    """CUDA: bf16 where the GPU supports it (fp16 when asked); MPS: fp32."""
    if device.type == "mps":
        if requested in ("bf16", "fp16"):
            raise CourseError(
                f"--precision {requested} is not offered on Apple's MPS; "
                "use --precision fp32 or auto"
            )
        return Precision("fp32", False, "Apple GPU", "mps")
    if requested == "fp32":
        return Precision("fp32", False, "asked for", "cuda")
    if requested == "fp16":
        return Precision("fp16", conv, "asked for", "cuda")
    if torch.cuda.is_bf16_supported():
        return Precision(
            "bf16", conv, "on this GPU" if requested == "auto" else "asked for", "cuda"
        )
    if requested == "bf16":
        raise CourseError(
            "--precision bf16: this GPU does not support bfloat16; use --precision fp16 or auto"
        )
    return Precision("fp32", False, "this GPU has no bfloat16", "cuda")


def choose_precision(requested: str, device: torch.device | str, model: nn.Module) -> Precision:
    """Decide the precision and memory format once, for training and evaluation alike.

    ``auto``: on a CPU with native bfloat16, bf16 autocast + channels_last for a convolutional
    model; on any other CPU fp32, with channels_last for a convolutional model (1.58x faster for
    the plan's CNN on the course's CPU); on CUDA bf16 where supported; on MPS fp32.
    ``fp32`` forces PyTorch's plain defaults (no channels_last); ``bf16``/``fp16`` force autocast:
    bf16 on a CPU without native bfloat16 prints a one-line warning (it is several times slower);
    fp16 on a CPU is refused.
    """
    if requested not in PRECISIONS:
        raise CourseError(f"unknown precision {requested!r}; use {', '.join(PRECISIONS)}")
    device = torch.device(device)
    conv = is_convolutional(model)
    if device.type != "cpu":
        return _choose_on_gpu(requested, device, conv)
    if requested == "fp16":
        raise CourseError(
            "--precision fp16 runs only on a CUDA GPU (CPUs have no fast float16); "
            "use --precision auto"
        )
    if (
        requested == "fp32"
    ):  # plain PyTorch defaults: the baseline the faster choices are measured against
        return Precision("fp32", False, "asked for", "cpu")
    native, why = cpu_native_bf16()
    if requested == "bf16":
        if not native:
            print(_bf16_slow_warning())
        return Precision("bf16", conv, why if native else "asked for", "cpu")
    if not conv:
        return Precision("fp32", False, "fully connected model: nothing faster to choose", "cpu")
    return Precision("bf16" if native else "fp32", True, why, "cpu")


def device_line(device: torch.device | str, precision: Precision | None = None) -> str:
    """'device: cpu (2 threads), fp32 + channels_last (this CPU has no native bfloat16)'."""
    device, threads = torch.device(device), torch.get_num_threads()
    where = device.type  # mps
    if device.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(device)})"
    elif device.type == "cpu":
        where = f"cpu ({threads} thread{'s' * (threads != 1)})"
    return f"device: {where}" + (f", {precision.describe()}" if precision is not None else "")


_ANNOUNCED: set[str] = set()  # lines already printed: a sweep or a ladder says it once


def announce(device: torch.device | str, precision: Precision) -> str:
    """Print the device line with the precision that was chosen and why (once); returns it."""
    line = device_line(device, precision)
    if line not in _ANNOUNCED:
        _ANNOUNCED.add(line)
        print(line)
    return line
