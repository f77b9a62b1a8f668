"""Optimizers and learning-rate schedules: the knobs of Phase 4, built by name from the flags.

``--optimizer sgd|momentum|adam|adamw`` and ``--scheduler none|step|onecycle`` of the training
scripts arrive here; ``common/training.py`` steps a per-batch schedule after every batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim import lr_scheduler

from common.errors import CourseError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULERS = ("none", "step", "onecycle")
MOMENTUM = 0.9  # the classic value: each step keeps 90% of the previous step's direction
STEP_GAMMA = 0.1  # "step" schedule: multiply the lr by 0.1 after each third of the epochs
PER_BATCH_SCHEDULERS = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)  # these plan every step
ADAM_USUAL_LR, SGD_USUAL_LR = 1e-3, 0.1  # where each family's learning rate usually starts


def make_optimizer(optimizer_name: str, params: Iterable[nn.Parameter], lr: float,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """"sgd" (plain gradient descent), "momentum" (SGD + momentum 0.9), "adam" or "adamw"."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
        raise CourseError(f"the learning rate must be a number of at least 0, got {lr!r}")
    if weight_decay < 0:
        raise CourseError(f"weight_decay must be at least 0, got {weight_decay}")
    if optimizer_name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if optimizer_name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)
    if optimizer_name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer_name == "adamw":  # weight decay applied to the weights directly, not the gradient
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise CourseError(f"unknown optimizer {optimizer_name!r}; "
                      f"choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(scheduler_name: str, optimizer: torch.optim.Optimizer, num_epochs: int,
                   steps_per_epoch: int, lr: float) -> lr_scheduler.LRScheduler | None:
    """"none", "step" (lr x0.1 after each third of the run) or "onecycle" (warm up, then anneal)."""
    if scheduler_name == "none":
        return None
    if scheduler_name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, num_epochs // 3), gamma=STEP_GAMMA)
    if scheduler_name == "onecycle":
        if steps_per_epoch < 1:
            raise CourseError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
        # Cycling momentum needs momentum to cycle: Adam's beta1 or SGD's momentum, not plain SGD.
        has_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
        return lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=num_epochs,
                                       steps_per_epoch=steps_per_epoch, cycle_momentum=has_momentum)
    raise CourseError(f"unknown scheduler {scheduler_name!r}; "
                      f"choose one of {', '.join(SCHEDULERS)}")


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def chosen_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate the learner chose (a one-cycle schedule's peak), for advice."""
    group = optimizer.param_groups[0]
    return float(group.get("max_lr", group.get("initial_lr", group["lr"])))
