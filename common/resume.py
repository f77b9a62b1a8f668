"""Exact resuming after Ctrl-C: generators, model, optimizer, schedule and loader (Phase 4).

After each epoch ``common.training.fit`` saves ``models/<name>.resume.pt``; ``fit`` with
``resume=True`` puts everything back and goes on with the very batches, dropout masks and
augmentations the uninterrupted run would have used, so on a CPU it ends with the same weights.
A resume file only continues the run that wrote it: a changed setting is refused with the reason.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import nn
from torch.optim import lr_scheduler

from common import checkpoints, paths
from common.errors import CourseError


def capture_rng_state() -> dict:
    """Every global generator's state as tensors and numbers (``weights_only`` loads those)."""
    version, mt_state, gauss_next = random.getstate()  # Python's Mersenne Twister: 625 ints
    state = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": None,
    }
    try:
        import numpy as np

        _, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                          "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    except ImportError:  # numpy is optional for the PyTorch phases
        pass
    return state


def restore_rng_state(state: dict) -> None:
    """Put back what :func:`capture_rng_state` saved (CUDA only when this machine has it)."""
    torch.set_rng_state(state["torch"])
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss_next"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if state["numpy"] is not None:
        try:
            import numpy as np
        except ImportError:
            return
        saved = state["numpy"]
        np.random.set_state(("MT19937", saved["keys"].numpy().astype(np.uint32), saved["pos"],
                             saved["has_gauss"], saved["cached_gaussian"]))


def scheduler_state(scheduler: lr_scheduler.LRScheduler | None) -> dict | None:
    """A scheduler's state without functions (old OneCycleLR keeps one): ``weights_only`` loads it.
    """
    if scheduler is None:
        return None
    return {key: value for key, value in scheduler.state_dict().items() if not callable(value)}


class Trainer:
    """The things a resume file saves and restores: model, optimizer, scheduler, training loader."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: lr_scheduler.LRScheduler | None, train_loader: object):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.train_loader = train_loader

    def save(self, path: Path, run_state: dict, settings: dict) -> None:
        """Everything needed to continue after the epoch that just finished, exactly."""
        loader = self.train_loader
        state = dict(settings, epoch=run_state["next_epoch"] - 1,
                     model_state=self.model.state_dict(),
                     optimizer_state=self.optimizer.state_dict(),
                     scheduler_state=scheduler_state(self.scheduler),
                     loader_state=loader.state_dict() if hasattr(loader, "state_dict") else None,
                     rng=capture_rng_state(), run=run_state)
        checkpoints.save_training_state(path, state)

    def load(self, path: Path, settings: dict) -> dict:
        """Put everything back as it was saved; returns the saved run state (history, best, ...)."""
        state = checkpoints.load_training_state(path)
        check_same_run(state, settings, path)
        if (state["scheduler_state"] is None) != (self.scheduler is None):
            raise CourseError(f"{paths.display_path(path)} was saved with a different "
                              "learning-rate "
                              "schedule; resume with the same settings or run without --resume")
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler_state"])
        if state["loader_state"] is not None:
            self.train_loader.load_state_dict(state["loader_state"])
        restore_rng_state(state["rng"])
        print(f"resuming from {paths.display_path(path)} after epoch {state['epoch']} "
              f"of {settings['num_epochs']}")
        return state["run"]


def differences(saved: dict, now: dict) -> list[str]:
    """'lr: saved 0.01, now 0.001' for every setting that changed (one level into nested dicts)."""
    found = []
    for key in sorted(set(saved) | set(now)):
        before, after = saved.get(key), now.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            found += [f"{key}.{change}" for change in differences(before, after)]
        elif before != after:
            found.append(f"{key}: saved {before!r}, now {after!r}")
    return found


def check_same_run(state: dict, settings: dict, path: Path) -> None:
    """A resumed run must be the run that was saved: same model, settings, precision and epochs."""
    changes = differences({key: state.get(key) for key in settings}, settings)
    if changes:
        raise CourseError(f"{paths.display_path(path)} was saved by a different run "
                          f"({'; '.join(changes)}); resume with the same settings or run "
                          "without --resume")
