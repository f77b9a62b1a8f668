"""What happens after training, the same way in every phase (introduced in Phase 3).

Once ``fit()`` has kept the best-on-validation weights, a run is finished by: one evaluation on
the test set (the only time it is touched), a checkpoint with every number needed to judge and
rebuild the model, one row in the results ledger, the training-curve plot, and a short summary.
Phase 3 (``03_train_model.py``) and Phase 5 (``04_improved_model.py``) both end this way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from torch import nn

from common import checkpoints, data, evaluation, ledger, models, paths, plots
from common.errors import CourseError


def describe(model: nn.Module) -> str:
    """A short human label: 'mlp 784-128-10', 'cnn (dropout 0.5)'."""
    config = getattr(model, "config", {})
    if model.name == "mlp":
        sizes = (data.IMAGE_SIZE**2, *config.get("hidden_sizes", ()), data.NUM_CLASSES)
        extras = [f"dropout {config['dropout']}" if config.get("dropout") else "", "batchnorm" if config.get("batchnorm") else ""]
        return " ".join([f"mlp {'-'.join(str(n) for n in sizes)}", *filter(None, extras)])
    return f"{model.name} (dropout {config.get('dropout', 0)})"


def finish_run(model: nn.Module, result, test_loader, *, checkpoint_name: str, script: str, step: str,
               hyperparameters: dict, seed: int, curves_png: str, show: bool = False) -> dict:
    """Test once, save the checkpoint, log the ledger row and the curves; returns the key numbers."""
    if result.best_epoch == 0:
        raise CourseError("training diverged before the first epoch finished, so there is no model to save; "
                          "lower the learning rate (--lr) tenfold and run again")
    test = evaluation.evaluate(model, test_loader)
    best = result.history[result.best_epoch - 1]
    metrics = {"val_acc": result.best_val_acc, "val_loss": best.get("val_loss"),
               "test_acc": test["accuracy"], "test_loss": test["loss"], "best_epoch": result.best_epoch}
    checkpoint = checkpoints.save_checkpoint(paths.model_path(checkpoint_name), model, hyperparameters=hyperparameters,
                                             metrics=metrics, history=result.history)
    curves = plots.plot_training_curves(result.history, paths.vis_path(curves_png),
                                        title=f"{describe(model)}: training curves", show=show)
    seconds_per_epoch = result.seconds / max(1, len(result.history))
    ledger.append_result(script=script, step=step, model=describe(model), params=models.count_parameters(model),
                         epochs=len(result.history), seconds=result.seconds, val_acc=result.best_val_acc,
                         test_acc=test["accuracy"], seed=seed, hyperparameters=hyperparameters)
    print(f"\ntest accuracy {test['accuracy']:.2%} (best validation {result.best_val_acc:.2%} at epoch "
          f"{result.best_epoch}) | {models.count_parameters(model):,} parameters | "
          f"{result.seconds:.1f} s training, {seconds_per_epoch:.1f} s per epoch")
    return {"test_acc": test["accuracy"], "val_acc": result.best_val_acc, "seconds": result.seconds,
            "seconds_per_epoch": seconds_per_epoch, "params": models.count_parameters(model),
            "files": [checkpoint, curves, paths.results_csv()]}


def print_files(files: list[Path]) -> None:
    """The closing list of everything a script wrote."""
    print("files written:")
    for path in files:
        print(f"  {paths.display_path(path)}")


# --- TEMPORARY shim of the RunSpec API (replaced by the runs branch at merge) ---


@dataclass
class RunSpec:
    script: str
    step: str
    hyperparameters: dict
    changed: dict
    seed: int
    publish_as: str | None = None
    curves_png: str | None = None
    label: str | None = None


def finish_run(model, result, test_loader, spec: RunSpec, show: bool = False) -> dict:  # noqa: F811
    name = f"{datetime.now():%Y%m%d-%H%M%S}_{spec.script[:3].strip('_')}_{spec.label or spec.step}"
    params = models.count_parameters(model)
    base = {"run_name": name, "status": result.status, "val_acc": result.best_val_acc,
            "seconds": result.seconds, "params": params,
            "seconds_per_epoch": result.seconds / max(1, len(result.history))}
    if result.diverged or result.best_epoch == 0:
        return {**base, "published": False, "test_acc": None, "files": []}
    test = evaluation.evaluate(model, test_loader) if test_loader is not None else None
    metrics = {"val_acc": result.best_val_acc, "test_acc": test and test["accuracy"]}
    files = [checkpoints.save_checkpoint(paths.model_path(f"runs/{name}.pt"), model,
                                         hyperparameters=spec.hyperparameters, metrics=metrics,
                                         history=result.history)]
    if spec.publish_as:
        files.append(checkpoints.save_checkpoint(paths.model_path(spec.publish_as), model,
                                                 hyperparameters=spec.hyperparameters,
                                                 metrics=metrics, history=result.history))
    if spec.curves_png:
        files.append(plots.plot_training_curves(result.history, paths.vis_path(spec.curves_png),
                                                title=describe(model), show=show))
    ledger.append_result(script=spec.script, step=spec.step, model=describe(model), params=params,
                         epochs=len(result.history), seconds=result.seconds,
                         val_acc=result.best_val_acc, test_acc=metrics["test_acc"], seed=spec.seed,
                         hyperparameters=spec.hyperparameters)
    if test is not None:
        print(f"test accuracy {test['accuracy']:.2%} (measured once, after training)")
    return {**base, "published": bool(spec.publish_as), "test_acc": metrics["test_acc"],
            "files": files}


def log_result(spec: RunSpec, *, model_desc: str, params: int, seconds: float, val_acc: float,
               test_acc: float | None, history: list | None = None) -> str:  # TEMPORARY shim
    ledger.append_result(script=spec.script, step=spec.step, model=model_desc, params=params, epochs=0,
                         seconds=seconds, val_acc=val_acc, test_acc=test_acc, seed=spec.seed,
                         hyperparameters=spec.hyperparameters)
    return "shim"
