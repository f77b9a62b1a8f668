"""The Phase-3 loop plus safety nets: the one training engine every later phase uses.

``03_train_model.py`` writes the training step and the evaluation pass out in full, as the
lesson. :func:`fit` runs exactly that step (the script hands its own functions in; other phases
use :func:`train_one_epoch` below, the same lines) and adds, around it, what a long experiment
needs, without changing one number the step computes:

  * the weights with the best VALIDATION accuracy are kept, and the model ends with them;
  * a learning-rate schedule, stepped after every batch (one-cycle) or every epoch (step);
  * ``patience``: stop when validation accuracy has not improved for that many epochs;
  * divergence: a loss that becomes nan/inf or explodes far above an untrained network's, or
    validation accuracy still at chance after the first epoch, stops the run with advice;
  * Ctrl-C stops cleanly; ``models/<name>.resume.pt`` (written after every epoch, see
    ``common/resume.py``) lets ``resume=True`` continue with exactly the same result on a CPU.

The test set is never used here: a script measures it once, after training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.optim import lr_scheduler
from tqdm import tqdm

from common import checkpoints, evaluation, findings, paths
from common.data import NUM_CLASSES
from common.device import FP32, Precision
from common.errors import CourseError
from common.optimizers import (  # noqa: F401 (the knobs of Phase 4, used as training.*)
    ADAM_USUAL_LR,
    OPTIMIZERS,
    PER_BATCH_SCHEDULERS,
    SCHEDULERS,
    SGD_USUAL_LR,
    chosen_lr,
    current_lr,
    make_optimizer,
    make_scheduler,
)
from common.resume import Trainer

UNTRAINED_LOSS = math.log(NUM_CLASSES)  # 2.30: cross-entropy of a net that guesses uniformly
EXPLODED_FACTOR = 10  # a batch loss 10x an untrained net's (23.0) means the weights blew up
CHANCE_ACC = 1 / NUM_CLASSES  # 10%: what guessing achieves
HOPELESS_ACC = 1.5 * CHANCE_ACC  # at or below 15% validation accuracy after epoch 1: not learning
MIN_STEPS_TO_JUDGE = 50  # ...judged only after an epoch of at least 50 steps (real MNIST: 422+)
TOO_LOW_FACTOR = 0.01  # 100x below the usual rate: "too low" is the likelier cause

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


# --- the Phase-3 step (03_train_model.py shows the same lines, as the lesson) ------------------


def train_one_epoch(model: nn.Module, train_loader: Batches, loss_fn: nn.Module,
                    optimizer: torch.optim.Optimizer, precision: Precision = FP32) -> dict:
    """One pass over the training data; the epoch's mean loss and accuracy (a fraction)."""
    model.train()  # dropout on; batch norm uses (and updates) each batch's statistics
    total_loss, correct, count = 0.0, 0, 0
    for images, labels in tqdm(train_loader, desc="training", unit="batch", leave=False,
                               disable=None, ncols=80):
        optimizer.zero_grad()  # gradients add up in .grad: clear the previous batch's
        with precision.autocast():  # bfloat16 only on CPUs built for it (07_speedrun.py)
            logits = model(precision.images(images))  # (B, 1, 28, 28) -> (B, 10)
            loss = loss_fn(logits, labels)  # mean cross-entropy over the batch
        loss.backward()  # d loss / d weight, for every weight
        optimizer.step()  # every weight moves a little against its gradient
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        count += len(labels)
    if count == 0:
        raise CourseError("the training set has no batches")
    return {"train_loss": total_loss / count, "train_acc": correct / count}


def evaluate(model: nn.Module, loader: Batches, loss_fn: nn.Module,
             precision: Precision = FP32) -> dict:
    """The evaluation pass: mean loss and accuracy, dropout off, no gradients recorded."""
    return evaluation.evaluate(model, loader, loss_fn, precision)


# --- safety nets -------------------------------------------------------------------------------


class Diverged(Exception):
    """Training went off the rails; ``problem`` says what was seen, in words."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def _guard_loss(loss_fn: nn.Module, counter: list[int]) -> Callable[[], None]:
    """Watch every loss ``loss_fn`` computes; raise :class:`Diverged` at a nan/inf/explosion.

    A forward hook on the loss function, so the lesson's loop needs no extra line. Returns a
    function that removes the hook.
    """
    def check(module, inputs, loss):
        counter[0] += 1
        value = loss.detach().float().item()
        if not math.isfinite(value):
            raise Diverged(f"the loss became {value} at batch {counter[0]}")
        if value > EXPLODED_FACTOR * UNTRAINED_LOSS:
            raise Diverged(f"the loss exploded to {value:.3g} at batch {counter[0]} "
                           f"(an untrained network starts near {UNTRAINED_LOSS:.2f})")

    if not isinstance(loss_fn, nn.Module):
        return lambda: None
    return loss_fn.register_forward_hook(check).remove


def _step_schedule_per_batch(optimizer, scheduler, lrs: list[float]) -> Callable[[], None]:
    """Step a per-batch schedule (one-cycle) after every ``optimizer.step()``; note each lr."""
    def after_step(opt, args, kwargs):
        lrs.append(current_lr(opt))
        if isinstance(scheduler, PER_BATCH_SCHEDULERS):
            scheduler.step()

    return optimizer.register_step_post_hook(after_step).remove


def _usual_lr(optimizer: torch.optim.Optimizer) -> float:
    """Where learning rates usually start for this optimizer: Adam-like 1e-3, SGD 0.1."""
    return ADAM_USUAL_LR if "betas" in optimizer.defaults else SGD_USUAL_LR


def _advice(problem: str, optimizer: torch.optim.Optimizer) -> str:
    """The problem, and the likely cause in terms of the learning rate the learner chose."""
    lr, usual = chosen_lr(optimizer), _usual_lr(optimizer)
    if lr < usual * TOO_LOW_FACTOR:
        cause = f"the learning rate {lr:g} is probably too low; try {usual:g}"
    else:
        cause = f"the learning rate {lr:g} is probably too high; try 10x smaller (--lr {lr / 10:g})"
    return f"training diverged {problem}. {cause[0].upper()}{cause[1:]}"


# --- the state of a run ------------------------------------------------------------------------


@dataclass
class FitOptions:
    """How :func:`fit` runs: one object instead of a dozen parameters."""

    num_epochs: int
    scheduler: lr_scheduler.LRScheduler | None = None
    patience: int | None = None  # epochs without a better validation accuracy before stopping
    precision: Precision = FP32
    resume_path: Path | None = None  # models/<name>.resume.pt, written after every epoch
    resume: bool = False  # continue from resume_path
    hyperparameters: dict = field(default_factory=dict)  # a resumed run must have the same
    train_one_epoch: Callable[..., dict] = train_one_epoch  # 03 passes its own (the lesson)
    evaluate: Callable[..., dict] = evaluate
    on_epoch_end: Callable[[int, dict], None] | None = None


@dataclass
class FitResult:
    """What :func:`fit` reports; ``history`` has one dict per finished epoch.

    ``seconds`` is the time of the finished epochs (training + validation), summed over every
    session of a resumed run. ``problem`` is the advice line when the run diverged.
    """

    history: list[dict]
    best_val_acc: float
    best_val_loss: float
    best_epoch: int
    stopped_early: bool = False
    diverged: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    problem: str = ""

    @property
    def status(self) -> str:
        if self.diverged:
            return "diverged"
        if self.interrupted:
            return "interrupted"
        return "stopped early" if self.stopped_early else "finished"


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


def format_epoch_line(record: dict, num_epochs: int, improved: bool = False) -> str:
    """One epoch as one line of at most 100 columns (also used by the NumPy network of 03b).

    ``record`` holds epoch, train_loss, train_acc, val_loss, val_acc (fractions), lr and seconds.
    """
    width = len(str(num_epochs))
    return (f"epoch {record['epoch']:>{width}}/{num_epochs}  "
            f"train loss {record['train_loss']:.4f} acc {record['train_acc']:6.2%}  "
            f"val loss {record['val_loss']:.4f} acc {record['val_acc']:6.2%}  "
            f"lr {record['lr']:.1e}  {record['seconds']:4.1f} s" + (" (best)" if improved else ""))


def _kept_weights(run: RunState) -> str:
    if run.best_epoch == 0:
        return "no epoch finished, so the model keeps its starting weights"
    return (f"the model keeps its best weights: epoch {run.best_epoch}, "
            f"val acc {run.best_val_acc:.2%}")


def _interrupt_message(run: RunState, resume_file: Path | None) -> str:
    if resume_file is not None and resume_file.is_file():
        return (f"interrupted: the state after epoch {run.next_epoch - 1} is in "
                f"{paths.display_path(resume_file)}; run again with --resume to continue")
    return "interrupted before an epoch finished; nothing to resume from"


# --- the loop ------------------------------------------------------------------------------------


class _Engine:
    """One run of :func:`fit`: the epochs, the best weights, the safety nets."""

    def __init__(self, model, loaders, optimizer, options: FitOptions, loss_fn):
        self.model, self.optimizer, self.options, self.loss_fn = model, optimizer, options, loss_fn
        self.train_loader, self.val_loader = loaders
        self.epoch, self.steps, self.batches = 0, 0, [0]  # where we are, for the divergence rules
        self.trainer = Trainer(model, optimizer, options.scheduler, self.train_loader)
        self.settings = {"model_name": getattr(model, "name", type(model).__name__),
                         "model_kwargs": checkpoints.plain(getattr(model, "config", {})),
                         "hyperparameters": checkpoints.plain(options.hyperparameters),
                         "num_epochs": options.num_epochs, "precision": options.precision.name}

    def start(self) -> RunState:
        """A fresh run (an old resume file is removed: its run is replaced) or a resumed one."""
        path = self.options.resume_path
        if self.options.resume:
            if path is None:
                raise CourseError("resuming needs the resume file the interrupted run wrote")
            return RunState(**self.trainer.load(path, self.settings))
        if path is not None:
            path.unlink(missing_ok=True)
        return RunState(best_state=_copy_state(self.model))

    def run_epoch(self, epoch: int) -> dict:
        """Train one epoch (the Phase-3 step), step an epoch-wise schedule, validate."""
        options, start, lrs = self.options, time.perf_counter(), []
        remove_schedule = _step_schedule_per_batch(self.optimizer, options.scheduler, lrs)
        try:
            record = {"epoch": epoch, **options.train_one_epoch(self.model, self.train_loader,
                                                                self.loss_fn, self.optimizer,
                                                                options.precision)}
        finally:
            remove_schedule()
        per_epoch = not isinstance(options.scheduler, PER_BATCH_SCHEDULERS)
        if options.scheduler is not None and per_epoch:
            options.scheduler.step()
        validation = options.evaluate(self.model, self.val_loader, self.loss_fn, options.precision)
        record.update(val_loss=validation["loss"], val_acc=validation["accuracy"],
                      lr=lrs[-1] if lrs else current_lr(self.optimizer),
                      seconds=time.perf_counter() - start)
        self.steps = len(lrs)  # optimizer steps this epoch
        keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
        return {key: record[key] for key in keys}

    def problem_with(self, record: dict) -> str:
        """Why a finished epoch shows the run cannot go anywhere ("" when it is fine)."""
        if not math.isfinite(record["train_loss"]) or not math.isfinite(record["val_loss"]):
            return f"the loss became {record['train_loss']}"
        judged = record["epoch"] == 1 and self.steps >= MIN_STEPS_TO_JUDGE
        if judged and record["val_acc"] <= HOPELESS_ACC:
            return (f"validation accuracy is {record['val_acc']:.1%} after the first epoch, "
                    f"no better than guessing ({CHANCE_ACC:.0%})")
        return ""

    def remember(self, run: RunState, record: dict) -> bool:
        """Keep the weights if validation accuracy improved; count the epochs since it last did."""
        run.history.append(record)
        run.next_epoch = record["epoch"] + 1
        if record["val_acc"] > run.best_val_acc:
            run.best_val_acc, run.best_val_loss = record["val_acc"], record["val_loss"]
            run.best_epoch, run.stale_epochs = record["epoch"], 0
            run.best_state = _copy_state(self.model)
            return True
        run.stale_epochs += 1
        return False

    def loop(self, run: RunState) -> str:
        """Every remaining epoch; returns how the run ended."""
        options = self.options
        for epoch in range(run.next_epoch, options.num_epochs + 1):
            self.epoch, self.batches[0] = epoch, 0
            record = self.run_epoch(epoch)
            problem = self.problem_with(record)
            if problem:
                run.history.append(record)  # shown and logged, never kept as the best weights
                print(format_epoch_line(record, options.num_epochs))
                raise Diverged(problem)
            improved = self.remember(run, record)
            stop = options.patience is not None and run.stale_epochs >= options.patience
            if options.resume_path is not None and epoch < options.num_epochs and not stop:
                self.trainer.save(options.resume_path, vars(run), self.settings)
            print(format_epoch_line(record, options.num_epochs, improved))
            if options.on_epoch_end is not None:
                options.on_epoch_end(epoch, record)
            if stop:
                print(f"early stop: validation accuracy has not improved for "
                      f"{options.patience} epochs")
                return "stopped_early"
        return "finished"


def _check_options(options: FitOptions) -> None:
    if not isinstance(options.num_epochs, int) or options.num_epochs < 1:
        raise CourseError(f"the number of epochs must be at least 1, got {options.num_epochs!r}")
    if options.patience is not None and options.patience < 1:
        raise CourseError("patience must be at least 1 epoch (or None for no early stopping), "
                          f"got {options.patience}")


def fit(model: nn.Module, train_loader: Batches, val_loader: Batches,
        optimizer: torch.optim.Optimizer, options: FitOptions,
        loss_fn: nn.Module | None = None) -> FitResult:
    """Train ``model`` for up to ``options.num_epochs``; it ends with its best validation weights.
    """
    _check_options(options)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    engine = _Engine(model, (train_loader, val_loader), optimizer, options, loss_fn)
    run = engine.start()
    outcome, problem = "finished", ""
    remove_guard = _guard_loss(loss_fn, engine.batches)
    try:
        outcome = engine.loop(run)
    except Diverged as err:
        outcome = "diverged"
        problem = _advice(f"in epoch {engine.epoch}: {err.problem}", optimizer)
        print("\n".join(findings.wrap(problem)))
    except KeyboardInterrupt:
        outcome = "interrupted"
        print(_interrupt_message(run, options.resume_path))
    finally:
        remove_guard()
    model.load_state_dict(run.best_state)  # best-on-validation weights (or the starting ones)
    print(_kept_weights(run))
    if options.resume_path is not None and outcome != "interrupted":
        options.resume_path.unlink(missing_ok=True)
    return FitResult(history=run.history, best_val_acc=max(run.best_val_acc, 0.0),
                     best_val_loss=run.best_val_loss, best_epoch=run.best_epoch,
                     stopped_early=outcome == "stopped_early", diverged=outcome == "diverged",
                     interrupted=outcome == "interrupted", problem=problem,
                     seconds=sum(record["seconds"] for record in run.history))
