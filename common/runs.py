"""What happens after training, the same way in every phase (introduced in Phase 3).

Once ``fit()`` has kept the best-on-validation weights, :func:`finish_run` closes the run:

* one evaluation on the test set (the only time it is touched; never used to choose anything);
* the run's own checkpoint and curves, ``models/runs/<date-time>_<script>_<label>.pt`` and
  ``.png``: a later run never overwrites or deletes them;
* one row in the results ledger, ``models/results.csv`` (name, status, settings, history);
* publishing: ``models/mlp.pt`` (``cnn.pt``, ``lenet.pt``), the model later phases load, becomes
  a copy of this run only when this run is better ON VALIDATION than the one published so far.

A diverged or hopeless run is recorded in the ledger as "diverged" with its history so far, and
nothing else: no test, no checkpoint, nothing published. An interrupted run is not recorded at
all (``--resume`` finishes it). ``python -m common.progress --runs`` lists every run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from torch import nn

from common import checkpoints, data, evaluation, ledger, models, paths, plots
from common.errors import CourseError

LABEL_CHARS = 24  # the label part of a run's name is cut to this many characters
STAMP_FORMAT = "%Y%m%d-%H%M%S"


@dataclass
class RunSpec:
    """What a script knows about one training run, for its name, its ledger row and publishing."""

    script: str                   # "03_train_model.py"
    step: str                     # the ledger step: one of ledger.STEPS
    hyperparameters: dict         # every setting of the run (plain values)
    changed: dict                 # what differs from the script's defaults
    seed: int
    publish_as: str | None = None  # "mlp.pt"/"cnn.pt"/"lenet.pt", or None: models/runs/ only
    curves_png: str | None = None  # also draw the curves as visualizations/<this>
    label: str | None = None       # short label for the run's name (default: from changed/step)


def describe(model: nn.Module) -> str:
    """A short human label: 'mlp 784-128-10', 'cnn (dropout 0.5)'."""
    config = getattr(model, "config", {})
    if model.name == "mlp":
        sizes = (data.IMAGE_SIZE**2, *config.get("hidden_sizes", ()), data.NUM_CLASSES)
        extras = [f"dropout {config['dropout']}" if config.get("dropout") else "",
                  "batchnorm" if config.get("batchnorm") else ""]
        return " ".join([f"mlp {'-'.join(str(n) for n in sizes)}", *filter(None, extras)])
    return f"{model.name} (dropout {config.get('dropout', 0)})"


# --- names ---------------------------------------------------------------------------------------


def _setting_text(key: str, value: object) -> str:
    """('lr', 0.01) -> 'lr-0.01'; ('batchnorm', True) -> 'batchnorm'; tuples joined by '-'."""
    key = key.removeprefix("num_").replace("_", "-")
    if isinstance(value, bool):
        return key if value else f"no-{key}"
    if isinstance(value, float):
        value = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        value = "-".join(str(item) for item in value)
    return f"{key}-{value}"


def run_label(spec: RunSpec) -> str:
    """The readable part of a run's name: the given label, what changed, or the step."""
    text = spec.label or "_".join(_setting_text(k, v) for k, v in spec.changed.items()) or spec.step
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", text.replace(" ", "-")).strip("-._") or spec.step
    return text[:LABEL_CHARS].rstrip("-_.")


def _taken(name: str, names_in_ledger: set[str]) -> bool:
    folder = paths.MODELS_DIR / "runs"
    return name in names_in_ledger or any(
        (folder / file).exists() for file in (f"{name}.pt", f"{name}.png", f".{name}.reserved"))


@contextmanager
def reserved_name(spec: RunSpec, now: datetime | None = None) -> Iterator[str]:
    """A new run name, unique even for two runs finishing in the same second.

    ``<YYYYmmdd-HHMMSS>_<script stem>_<label>``, with ``-2``, ``-3``... when that is taken (by a
    ledger row or a file). A hidden ``models/runs/.<name>.reserved`` file holds the name while
    the run is being saved, so a run finishing at the same moment in another terminal skips it.
    """
    stamp = (now or datetime.now()).strftime(STAMP_FORMAT)
    base = f"{stamp}_{Path(spec.script).stem}_{run_label(spec)}"
    names_in_ledger = {row["run"] for row in ledger.read_results()}
    folder = paths.runs_dir()
    number = 1
    while True:
        name = base if number == 1 else f"{base}-{number}"
        number += 1
        if _taken(name, names_in_ledger):
            continue
        marker = folder / f".{name}.reserved"
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        except OSError as err:
            raise paths.write_error(marker, err) from err
        break
    try:
        yield name
    finally:
        marker.unlink(missing_ok=True)


# --- publishing ----------------------------------------------------------------------------------


def published_run(publish_as: str) -> dict | None:
    """What ``models/<publish_as>`` holds: {"run", "val_acc", "test_acc", "readable"}, or None."""
    path = Path(paths.MODELS_DIR) / publish_as
    if not path.is_file():
        return None
    try:
        checkpoint = checkpoints.load_checkpoint(path)
    except CourseError:
        return {"run": "", "val_acc": None, "test_acc": None, "readable": False}
    metrics = checkpoint.get("metrics") or {}
    return {"run": str(checkpoint.get("run") or ""), "val_acc": metrics.get("val_acc"),
            "test_acc": metrics.get("test_acc"), "readable": True}


def _run_number(name: str) -> int | None:
    """The run's number in ``python -m common.progress --runs`` (its ledger row), if any."""
    rows = ledger.read_results()
    return next((index for index, row in enumerate(rows, start=1) if name and row["run"] == name),
                None)


def _keep_previous(target: Path, current: dict) -> Path | None:
    """Before ``target`` is replaced, make sure a copy of it stays in models/runs/.

    A model published by this course version already has its copy there (unless deleted by
    hand: then it is put back). One from an older version, or unreadable, is copied to
    ``models/runs/<date-time>_<stem>_earlier.pt``. Nothing a learner trained is lost.
    """
    folder = paths.runs_dir()
    if current["run"] and (folder / f"{current['run']}.pt").is_file():
        return None
    if current["run"]:
        keep = folder / f"{current['run']}.pt"
    else:
        stamp = datetime.fromtimestamp(target.stat().st_mtime).strftime(STAMP_FORMAT)
        keep, number = folder / f"{stamp}_{target.stem}_earlier.pt", 1
        while keep.exists():
            number += 1
            keep = folder / f"{stamp}_{target.stem}_earlier-{number}.pt"
    paths.write_bytes_safely(keep, target.read_bytes())
    print(f"kept the previous {paths.display_path(target)} as {paths.display_path(keep)}")
    return keep


def publish(run_checkpoint: Path, run_name: str, val_acc: float, publish_as: str) -> bool:
    """Copy the run to ``models/<publish_as>`` if it beats the published model on validation."""
    target = paths.model_path(publish_as)
    current = published_run(publish_as)
    shown = paths.display_path(target)
    old = current["val_acc"] if current else None
    if old is not None and old >= val_acc:
        number = _run_number(current["run"])
        which = f"run #{number}" if number else "as it was"
        print(f"{shown} stays {which} (validation {old:.2%}; this run {val_acc:.2%})")
        return False
    if current is not None:
        _keep_previous(target, current)
    paths.write_bytes_safely(target, run_checkpoint.read_bytes())
    number = _run_number(run_name)
    before = f"; before: {old:.2%}" if old is not None else ""
    print(f"{shown} is now run #{number} (validation {val_acc:.2%}{before})")
    return True


# --- finishing a run -----------------------------------------------------------------------------


def _status(result) -> str:
    if result.diverged or result.best_epoch == 0:
        return "diverged"
    return "early-stop" if result.stopped_early else "finished"


def _draw_curves(history: list[dict], path: Path, title: str, show: bool) -> Path:
    return paths.write_via_temporary(path, lambda tmp: plots.plot_training_curves(
        history, tmp, title=title, show=show))


def _ledger_row(spec: RunSpec, model: nn.Module, result, run: dict) -> ledger.LedgerRow:
    return ledger.LedgerRow(
        script=spec.script, step=spec.step, model=describe(model),
        params=models.count_parameters(model), epochs=len(result.history),
        seconds=result.seconds, val_acc=result.best_val_acc if result.history else None,
        test_acc=run.get("test_acc"), seed=spec.seed, hyperparameters=spec.hyperparameters,
        run=run["name"], status=run["status"], changed=spec.changed,
        checkpoint=run.get("checkpoint", ""), history=result.history)


def _record_diverged(model: nn.Module, result, spec: RunSpec, name: str) -> dict:
    """A hopeless run: a ledger row with its history so far, nothing saved or published."""
    csv_path = ledger.append_result(_ledger_row(spec, model, result, {"name": name,
                                                                      "status": "diverged"}))
    number = _run_number(name)
    print(f"run #{number} diverged: recorded in {paths.display_path(csv_path)} "
          "with its curves so far; no model was saved")
    current = published_run(spec.publish_as) if spec.publish_as else None
    if current is not None:
        stays = _run_number(current["run"])
        print(f"models/{spec.publish_as} stays " + (f"run #{stays}" if stays else "as it was"))
    return {"files": [csv_path], "test_acc": None}


def _record_finished(model: nn.Module, result, test_loader, spec: RunSpec, run: dict,
                     show: bool) -> dict:
    """Test once, save the run's checkpoint and curves, log it, publish it if better."""
    test = evaluation.evaluate(model, test_loader) if test_loader is not None else None
    run["test_acc"] = test["accuracy"] if test else None
    best = result.history[result.best_epoch - 1]
    metrics = {"val_acc": result.best_val_acc, "val_loss": best.get("val_loss"),
               "test_acc": run["test_acc"], "test_loss": test["loss"] if test else None,
               "best_epoch": result.best_epoch}
    folder = paths.runs_dir()
    extra = {"run": run["name"], "script": spec.script, "step": spec.step,
             "changed": spec.changed, "seed": spec.seed, "status": run["status"]}
    checkpoint = checkpoints.save_checkpoint(
        folder / f"{run['name']}.pt", model, hyperparameters=spec.hyperparameters,
        metrics=metrics, history=result.history, extra=extra)
    run["checkpoint"] = f"runs/{checkpoint.name}"
    title = f"{describe(model)}: training curves"
    curves = _draw_curves(result.history, folder / f"{run['name']}.png", title, show=False)
    files = [checkpoint, curves, ledger.append_result(_ledger_row(spec, model, result, run))]
    _print_summary(model, result, run)
    run["published"] = bool(spec.publish_as) and publish(checkpoint, run["name"],
                                                          result.best_val_acc, spec.publish_as)
    if run["published"]:
        files.append(paths.model_path(spec.publish_as))
    if spec.curves_png:
        files.append(_draw_curves(result.history, paths.vis_path(spec.curves_png), title, show))
    return {"files": files, "test_acc": run["test_acc"]}


def _print_summary(model: nn.Module, result, run: dict) -> None:
    tested = f" | test {run['test_acc']:.2%}" if run["test_acc"] is not None else ""
    per_epoch = result.seconds / max(1, len(result.history))
    print(f"\nbest validation {result.best_val_acc:.2%} at epoch {result.best_epoch}{tested} | "
          f"{models.count_parameters(model):,} parameters | {result.seconds:.1f} s "
          f"({per_epoch:.1f} s/epoch)")
    print(f"run #{_run_number(run['name'])} saved: {paths.display_path(paths.MODELS_DIR)}/"
          f"{run['checkpoint']}")


def finish_run(model: nn.Module, result, test_loader, spec: RunSpec, show: bool = False) -> dict:
    """Close a run (see the module docstring); returns its name, status and key numbers.

    ``result`` is :class:`common.training.FitResult`. Returns {"run_name", "status", "published",
    "test_acc" (None when not tested), "val_acc", "seconds", "seconds_per_epoch", "params",
    "files"}. ``status`` is "finished", "early-stop", "diverged" or "interrupted".
    """
    report = {"run_name": "", "status": "interrupted", "published": False, "test_acc": None,
              "val_acc": result.best_val_acc, "seconds": result.seconds,
              "seconds_per_epoch": result.seconds / max(1, len(result.history)),
              "params": models.count_parameters(model), "files": []}
    if result.interrupted:  # never recorded as finished: --resume completes it
        return report
    with reserved_name(spec) as name:
        run = {"name": name, "status": _status(result), "published": False}
        if run["status"] == "diverged":
            outcome = _record_diverged(model, result, spec, name)
        else:
            outcome = _record_finished(model, result, test_loader, spec, run, show)
    report.update(run_name=name, status=run["status"], published=run["published"], **outcome)
    return report


def log_result(spec: RunSpec, *, model_desc: str, params: int, seconds: float, val_acc: float,
               test_acc: float | None, history: list | None = None) -> str:
    """A ledger row for a result that is not one ``fit()`` model (an ensemble); returns its name."""
    with reserved_name(spec) as name:
        ledger.append_result(ledger.LedgerRow(
            script=spec.script, step=spec.step, model=model_desc, params=params,
            epochs=len(history or []), seconds=seconds, val_acc=val_acc, test_acc=test_acc,
            seed=spec.seed, hyperparameters=spec.hyperparameters, run=name, changed=spec.changed,
            history=history or []))
    return name


def print_files(files: list[Path]) -> None:
    """The closing list of everything a script wrote."""
    print("files written:")
    for path in files:
        print(f"  {paths.display_path(path)}")
