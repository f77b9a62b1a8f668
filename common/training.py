"""One training loop for every phase: optimizers, schedules, early stopping, resuming (introduced in Phase 3).

:func:`fit` repeats, once per epoch: train on every batch of ``train_loader`` (forward pass,
loss, backward pass, optimizer step), measure the validation set, keep the weights with the
best validation accuracy so far, and print one summary line. The test set is never used here:
it is measured once, by the script, after training.

Safety nets a learner will meet (Phase 4):
  * a loss that becomes nan/inf stops training at once with advice, keeping the last good weights;
  * ``patience`` stops when validation accuracy has not improved for that many epochs;
  * Ctrl-C stops cleanly; ``models/<name>.resume.pt``, written after every epoch, lets
    ``fit(..., resume=True)`` continue exactly where the run was (same batches, same dropout,
    same result on CPU as a run that was never interrupted).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim import lr_scheduler
from tqdm import tqdm

from common import checkpoints, evaluation, paths
from common.errors import CourseError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULERS = ("none", "step", "onecycle")
MOMENTUM = 0.9  # the classic value: each step keeps 90% of the previous step's direction
STEP_GAMMA = 0.1  # "step" schedule: multiply the lr by 0.1 after each third of the epochs
PER_BATCH_SCHEDULERS = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)  # these plan every single step
POSTFIX_EVERY = 10  # batches between updates of the progress bar's running loss/accuracy

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


# --- optimizers and learning-rate schedules --------------------------------------------------


def make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """"sgd" (plain gradient descent), "momentum" (SGD + momentum 0.9), "adam" or "adamw" (Phase 4)."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
        raise CourseError(f"the learning rate must be a number of at least 0, got {lr!r}")
    if weight_decay < 0:
        raise CourseError(f"weight_decay must be at least 0, got {weight_decay}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":  # Adam with weight decay applied to the weights directly, not through the gradient
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise CourseError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, num_epochs: int, steps_per_epoch: int,
                   lr: float) -> lr_scheduler.LRScheduler | None:
    """"none", "step" (lr x0.1 after each third of the run) or "onecycle" (warm up to ``lr``, then anneal)."""
    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, num_epochs // 3), gamma=STEP_GAMMA)
    if name == "onecycle":
        if steps_per_epoch < 1:
            raise CourseError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
        # Cycling momentum needs momentum to cycle: Adam's beta1 or SGD's momentum, not plain SGD.
        has_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
        return lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=num_epochs, steps_per_epoch=steps_per_epoch,
                                       cycle_momentum=has_momentum)
    raise CourseError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


# --- random-number generator states (for exact resuming) -------------------------------------


def capture_rng_state() -> dict:
    """Every global generator's state as tensors and numbers, which ``weights_only`` loading accepts."""
    version, mt_state, gauss_next = random.getstate()  # Python's Mersenne Twister: 625 ints
    state = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss_next": gauss_next},
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


# --- one epoch ---------------------------------------------------------------------------------


class Diverged(Exception):
    """The loss became nan or inf; ``batch`` is None when it happened in validation."""

    def __init__(self, loss: float, batch: int | None):
        super().__init__(f"loss became {loss} at batch {batch}")
        self.loss = loss
        self.batch = batch


def train_one_epoch(model: nn.Module, train_loader: Batches, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                    batch_scheduler: lr_scheduler.LRScheduler | None = None, desc: str = "training") -> dict:
    """One pass over ``train_loader``; returns the epoch's mean train_loss, train_acc and last lr.

    Raises :class:`Diverged` before the step that would use a nan/inf loss, so the weights
    are never updated with it.
    """
    model.train()
    device = evaluation.model_device(model)
    total_loss, correct, count, lr = 0.0, 0, 0, current_lr(optimizer)
    with tqdm(train_loader, desc=desc, unit="batch", leave=False, disable=None) as bar:
        for batch, (images, labels) in enumerate(bar, start=1):
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            logits = model(images)  # (B, 10)
            loss = loss_fn(logits, labels)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise Diverged(loss_value, batch)
            loss.backward()  # gradients of the loss with respect to every weight
            optimizer.step()  # move every weight a little against its gradient
            lr = current_lr(optimizer)
            if batch_scheduler is not None:
                batch_scheduler.step()
            total_loss += loss_value * len(labels)
            correct += int((logits.argmax(dim=1) == labels).sum())
            count += len(labels)
            if batch % POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.2%}", refresh=False)
    if count == 0:
        raise CourseError("the training set has no batches")
    return {"train_loss": total_loss / count, "train_acc": correct / count, "lr": lr}


# --- the state of a run, and saving it for --resume ------------------------------------------


@dataclass
class FitResult:
    """What :func:`fit` reports; ``history`` has one dict per finished epoch.

    ``seconds`` is the time of the finished epochs (training + validation), summed over every
    session of a resumed run, so seconds per epoch is ``seconds / len(history)``.
    """

    history: list[dict]
    best_val_acc: float
    best_val_loss: float
    best_epoch: int
    stopped_early: bool = False
    diverged: bool = False
    interrupted: bool = False
    seconds: float = 0.0


@dataclass
class RunState:
    """What changes from epoch to epoch; all of it goes into the resume file."""

    best_state: dict
    history: list[dict] = field(default_factory=list)
    best_val_acc: float = -math.inf
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stale_epochs: int = 0  # epochs since validation accuracy last improved (for patience)
    next_epoch: int = 1


def _copy_state(model: nn.Module) -> dict:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _scheduler_state(scheduler: lr_scheduler.LRScheduler | None) -> dict | None:
    """A scheduler's state without functions (old OneCycleLR keeps one), so ``weights_only`` loads it."""
    if scheduler is None:
        return None
    return {key: value for key, value in scheduler.state_dict().items() if not callable(value)}


def _save_resume(path: Path, model: nn.Module, optimizer, scheduler, train_loader, run: RunState,
                 settings: dict) -> None:
    """Everything needed to continue after the epoch that just finished, exactly."""
    state = dict(settings, epoch=run.next_epoch - 1, model_state=model.state_dict(),
                 optimizer_state=optimizer.state_dict(), scheduler_state=_scheduler_state(scheduler),
                 loader_state=train_loader.state_dict() if hasattr(train_loader, "state_dict") else None,
                 rng=capture_rng_state(), run=vars(run))
    checkpoints.save_training_state(path, state)


def _differences(saved: dict, now: dict) -> list[str]:
    """'lr: saved 0.01, now 0.001' for every setting that changed (one level into nested dicts)."""
    found = []
    for key in sorted(set(saved) | set(now)):
        before, after = saved.get(key), now.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            found += [f"{key}.{change}" for change in _differences(before, after)]
        elif before != after:
            found.append(f"{key}: saved {before!r}, now {after!r}")
    return found


def _check_same_run(state: dict, settings: dict, path: Path) -> None:
    """A resumed run must be the run that was saved: same model, settings and epochs."""
    changes = _differences({key: state.get(key) for key in settings}, settings)
    if changes:
        raise CourseError(f"{paths.display_path(path)} was saved by a different run ({'; '.join(changes)}); "
                          "resume with the same settings or run without --resume")


def _load_resume(path: Path, model: nn.Module, optimizer, scheduler, train_loader, settings: dict) -> RunState:
    """Put model, optimizer, scheduler, loader and every random generator back as they were saved."""
    state = checkpoints.load_training_state(path)
    _check_same_run(state, settings, path)
    if (state["scheduler_state"] is None) != (scheduler is None):
        raise CourseError(f"{paths.display_path(path)} was saved with a different learning-rate schedule; "
                          "resume with the same settings or run without --resume")
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer_state"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler_state"])
    if state["loader_state"] is not None:
        train_loader.load_state_dict(state["loader_state"])
    restore_rng_state(state["rng"])
    print(f"resuming from {paths.display_path(path)} after epoch {state['epoch']} of {settings['num_epochs']}")
    return RunState(**state["run"])


# --- printing ----------------------------------------------------------------------------------


def format_epoch_line(record: dict, num_epochs: int, improved: bool = False) -> str:
    """One epoch as one line of at most 100 columns (also used by the NumPy network of 03b).

    ``record`` holds epoch, train_loss, train_acc, val_loss, val_acc (fractions), lr and seconds.
    """
    width = len(str(num_epochs))
    return (f"epoch {record['epoch']:>{width}}/{num_epochs}  train loss {record['train_loss']:.4f} "
            f"acc {record['train_acc']:6.2%}  val loss {record['val_loss']:.4f} acc {record['val_acc']:6.2%}"
            f"  lr {record['lr']:.1e}  {record['seconds']:4.1f} s" + (" (best)" if improved else ""))


def _kept_weights(run: RunState) -> str:
    if run.best_epoch == 0:
        return "no epoch finished, so the model keeps its starting weights"
    return f"the model keeps its best weights: epoch {run.best_epoch}, val acc {run.best_val_acc:.2%}"


def _divergence_advice(err: Diverged, epoch: int, lr: float) -> str:
    where = f"batch {err.batch}" if err.batch is not None else "validation"
    return (f"loss became {err.loss} at epoch {epoch}, {where}: the learning rate {lr:g} is probably too high; "
            "try 10x smaller")


def _interrupt_message(run: RunState, resume_file: Path | None) -> str:
    if resume_file is not None and resume_file.is_file():
        return (f"interrupted: the state after epoch {run.next_epoch - 1} is in {paths.display_path(resume_file)}; "
                "run again with --resume to continue")
    return "interrupted before an epoch finished; nothing to resume from"


# --- the loop ------------------------------------------------------------------------------------


def _run_epoch(model, train_loader, val_loader, loss_fn, optimizer, scheduler, epoch: int, num_epochs: int) -> dict:
    """Train one epoch, step an epoch-wise schedule, validate; returns the epoch's history record."""
    start = time.perf_counter()
    per_batch = isinstance(scheduler, PER_BATCH_SCHEDULERS)
    record = {"epoch": epoch}
    record.update(train_one_epoch(model, train_loader, loss_fn, optimizer, scheduler if per_batch else None,
                                  desc=f"epoch {epoch}/{num_epochs}"))
    if scheduler is not None and not per_batch:
        scheduler.step()
    validation = evaluation.evaluate(model, val_loader, loss_fn)
    if not math.isfinite(validation["loss"]):
        raise Diverged(validation["loss"], batch=None)
    record.update(val_loss=validation["loss"], val_acc=validation["accuracy"], seconds=time.perf_counter() - start)
    return {key: record[key] for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")}


def _update_best(run: RunState, record: dict, model: nn.Module) -> bool:
    """Remember the weights if validation accuracy improved; count the epochs since it last did."""
    run.history.append(record)
    run.next_epoch = record["epoch"] + 1
    if record["val_acc"] > run.best_val_acc:
        run.best_val_acc, run.best_val_loss, run.best_epoch = record["val_acc"], record["val_loss"], record["epoch"]
        run.best_state = _copy_state(model)
        run.stale_epochs = 0
        return True
    run.stale_epochs += 1
    return False


def _start(model, optimizer, scheduler, train_loader, resume: bool, resume_file: Path | None,
           settings: dict) -> RunState:
    """A fresh run (an old resume file is removed: it belongs to a run that is being replaced) or a resumed one."""
    if resume:
        if resume_file is None:
            raise CourseError("resuming needs the checkpoint path the interrupted run used")
        return _load_resume(resume_file, model, optimizer, scheduler, train_loader, settings)
    if resume_file is not None:
        resume_file.unlink(missing_ok=True)
    return RunState(best_state=_copy_state(model))


def _check_fit_arguments(num_epochs: int, patience: int | None) -> None:
    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise CourseError(f"the number of epochs must be at least 1, got {num_epochs!r}")
    if patience is not None and patience < 1:
        raise CourseError(f"patience must be at least 1 epoch (or None for no early stopping), got {patience}")


def fit(model: nn.Module, train_loader: Batches, val_loader: Batches, *, optimizer: torch.optim.Optimizer,
        num_epochs: int, loss_fn: nn.Module | None = None, scheduler: lr_scheduler.LRScheduler | None = None,
        patience: int | None = None, checkpoint_path: Path | None = None, resume: bool = False,
        hyperparameters: dict | None = None,
        on_epoch_end: Callable[[int, dict], None] | None = None) -> FitResult:
    """Train ``model`` for up to ``num_epochs``; it ends with its best-on-validation weights.

    ``checkpoint_path``: the best weights are saved there whenever validation accuracy improves,
    and ``<stem>.resume.pt`` beside it after every epoch (deleted when training ends).
    ``resume``: continue from that file; pass the same ``hyperparameters`` and ``num_epochs``.
    ``patience``: stop after this many epochs without a better validation accuracy.
    ``on_epoch_end(epoch, record)`` is called after each epoch's line is printed.
    """
    _check_fit_arguments(num_epochs, patience)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    hyperparameters = checkpoints.plain(hyperparameters or {})
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    resume_file = checkpoints.resume_path_for(checkpoint_path) if checkpoint_path is not None else None
    settings = {"model_name": getattr(model, "name", type(model).__name__),
                "model_kwargs": checkpoints.plain(getattr(model, "config", {})),
                "hyperparameters": hyperparameters, "num_epochs": num_epochs}
    run = _start(model, optimizer, scheduler, train_loader, resume, resume_file, settings)
    outcome = "finished"
    try:
        for epoch in range(run.next_epoch, num_epochs + 1):
            record = _run_epoch(model, train_loader, val_loader, loss_fn, optimizer, scheduler, epoch, num_epochs)
            improved = _update_best(run, record, model)
            if improved and checkpoint_path is not None:
                checkpoints.save_checkpoint(checkpoint_path, model, hyperparameters=hyperparameters,
                                            metrics={"val_acc": run.best_val_acc, "val_loss": run.best_val_loss},
                                            history=run.history, extra={"epoch": epoch})
            stop = patience is not None and run.stale_epochs >= patience
            if resume_file is not None and epoch < num_epochs and not stop:
                _save_resume(resume_file, model, optimizer, scheduler, train_loader, run, settings)
            print(format_epoch_line(record, num_epochs, improved))
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            if stop:
                outcome = "stopped_early"
                print(f"early stop: validation accuracy has not improved for {patience} epochs")
                break
    except Diverged as err:
        outcome = "diverged"
        print(_divergence_advice(err, run.next_epoch, current_lr(optimizer)))
    except KeyboardInterrupt:
        outcome = "interrupted"
        print(_interrupt_message(run, resume_file))
    model.load_state_dict(run.best_state)  # best-on-validation weights (or the starting ones)
    print(_kept_weights(run))
    if resume_file is not None and outcome != "interrupted":
        resume_file.unlink(missing_ok=True)
    return FitResult(history=run.history, best_val_acc=max(run.best_val_acc, 0.0), best_val_loss=run.best_val_loss,
                     best_epoch=run.best_epoch, stopped_early=outcome == "stopped_early",
                     diverged=outcome == "diverged", interrupted=outcome == "interrupted",
                     seconds=sum(record["seconds"] for record in run.history))
