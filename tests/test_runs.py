"""Finishing a run: every run kept under its own name, published only when better on validation."""

from __future__ import annotations

import errno
import os
import re
from datetime import datetime

import pytest
import torch

from common import checkpoints, ledger, models, paths, plots, runs
from common.errors import CourseError
from common.training import FitResult

FROZEN = datetime(2026, 11, 22, 3, 15, 0)


class FrozenClock(datetime):
    """Every run finishes in the same second."""

    @classmethod
    def now(cls, tz=None):
        return FROZEN


REAL_CURVES = plots.plot_training_curves


@pytest.fixture
def course(course_dirs, monkeypatch):
    """Short relative paths in messages; curves drawn as a stub (one test draws the real one)."""
    monkeypatch.setattr(paths, "REPO_ROOT", course_dirs.models.parent)

    def stub_curves(history, path, title="", show=False):
        path.write_bytes(b"\x89PNG stub")
        return path

    monkeypatch.setattr(plots, "plot_training_curves", stub_curves)
    return course_dirs


def spec(**changes) -> runs.RunSpec:
    fields = dict(script="03_train_model.py", step="mlp", hyperparameters={"lr": 0.001}, changed={},
                  seed=0, publish_as="mlp.pt", curves_png="03_training_curves.png")
    fields.update(changes)
    return runs.RunSpec(**fields)


def result(val_acc: float, epochs: int = 2, **flags) -> FitResult:
    history = [
        {
            "epoch": epoch,
            "train_loss": 0.5 / epoch,
            "train_acc": val_acc - 0.01,
            "val_loss": 0.4,
            "val_acc": val_acc - 0.01 * (epochs - epoch),
            "lr": 1e-3,
            "seconds": 0.5,
        }
        for epoch in range(1, epochs + 1)
    ]
    best_epoch = epochs if epochs and not flags.get("diverged") else 0
    return FitResult(
        history=history,
        best_val_acc=val_acc,
        best_val_loss=0.4,
        best_epoch=best_epoch,
        seconds=0.5 * epochs,
        **flags,
    )


def tiny_model() -> models.MLP:
    torch.manual_seed(0)
    return models.MLP((8,))


def loader_with(correct: int, total: int = 10):
    """One batch whose labels the tiny model gets right ``correct`` times out of ``total``."""
    images = torch.rand(total, 1, 28, 28)
    guesses = tiny_model().eval()(images).argmax(dim=1)
    labels = torch.where(torch.arange(total) < correct, guesses, (guesses + 1) % 10)
    return [(images, labels)]


class NeverIterated:
    def __iter__(self):
        raise AssertionError("the test set was used")


def published_name() -> str:
    return checkpoints.load_checkpoint(paths.MODELS_DIR / "mlp.pt")["run"]


def test_names_are_readable_and_unique_within_one_second(course, monkeypatch, capsys):
    monkeypatch.setattr(runs, "datetime", FrozenClock)
    changed = {"lr": 1e6, "hidden_sizes": (256, 128), "batchnorm": True, "dropout": 0.2}
    first = runs.finish_run(
        tiny_model(), result(0.9), loader_with(9), spec(step="mlp-tuned", changed=changed)
    )
    second = runs.finish_run(
        tiny_model(), result(0.8), loader_with(8), spec(step="mlp-tuned", changed=changed)
    )
    # another terminal
    (course.models / "runs" / ".20261122-031500_03_train_model_mlp.reserved").write_text("")
    third = runs.finish_run(tiny_model(), result(0.7), None, spec())
    assert first["run_name"] == "20261122-031500_03_train_model_lr-1e+06_hidden-sizes-25"
    assert second["run_name"] == first["run_name"] + "-2"
    assert third["run_name"] == "20261122-031500_03_train_model_mlp-2"
    for report in (first, second, third):
        assert re.fullmatch(r"\d{8}-\d{6}_03_train_model_[\w.+-]+", report["run_name"])
        assert (course.models / "runs" / f"{report['run_name']}.pt").is_file()
        assert (course.models / "runs" / f"{report['run_name']}.png").is_file()
    assert [row["run"] for row in ledger.read_results()] == [
        r["run_name"] for r in (first, second, third)
    ]
    # released
    assert not list((course.models / "runs").glob(".20261122-031500_03_train_model_lr*"))
    assert max(map(len, capsys.readouterr().out.splitlines())) <= 100


def test_publishes_only_when_better_on_validation(course, capsys):
    a = runs.finish_run(tiny_model(), result(0.90), loader_with(9), spec())
    assert a["published"] and published_name() == a["run_name"]
    assert "models/mlp.pt is now run #1 (validation 90.00%)" in capsys.readouterr().out
    # worse on test: irrelevant
    b = runs.finish_run(tiny_model(), result(0.92), loader_with(5), spec())
    assert b["published"] and published_name() == b["run_name"]
    assert (
        "models/mlp.pt is now run #2 (validation 92.00%; before: 90.00%)" in capsys.readouterr().out
    )
    # perfect test: irrelevant
    c = runs.finish_run(tiny_model(), result(0.91), loader_with(10), spec())
    assert not c["published"] and published_name() == b["run_name"]
    out = capsys.readouterr().out
    assert "models/mlp.pt stays run #2 (validation 92.00%; this run 91.00%)" in out
    assert "best validation 91.00% at epoch 2 | test 100.00% | " in out
    assert (c["test_acc"], c["val_acc"], c["status"]) == (1.0, 0.91, "finished")
    assert set(c) == {"run_name", "status", "published", "test_acc", "val_acc", "seconds",
                      "seconds_per_epoch", "params", "files"}
    kept = sorted(p.name for p in (course.models / "runs").glob("*.pt"))
    assert kept == sorted(f"{r['run_name']}.pt" for r in (a, b, c))  # every run stays
    metrics = checkpoints.load_checkpoint(course.models / "mlp.pt")["metrics"]
    assert metrics["val_acc"] == 0.92 and metrics["test_acc"] == 0.5  # later phases can quote it


def test_a_diverged_run_is_recorded_but_never_tested_saved_or_published(course, capsys):
    good = runs.finish_run(tiny_model(), result(0.9), loader_with(9), spec())
    before = (course.models / "mlp.pt").read_bytes()
    bad = runs.finish_run(tiny_model(), result(0.99, epochs=1, diverged=True), NeverIterated(),
                          spec(step="mlp-tuned", changed={"lr": 1e6}))
    assert (bad["status"], bad["published"], bad["test_acc"]) == ("diverged", False, None)
    assert (course.models / "mlp.pt").read_bytes() == before and published_name() == good[
        "run_name"
    ]
    assert not list((course.models / "runs").glob(f"{bad['run_name']}*"))
    row = ledger.read_results()[-1]
    assert (row["run"], row["status"], row["checkpoint"], row["test_acc"]) == (
        bad["run_name"],
        "diverged",
        "",
        None,
    )
    assert [record["epoch"] for record in row["history"]] == [1]
    out = capsys.readouterr().out
    assert (
        "run #2 diverged: recorded in models/results.csv" in out
        and "models/mlp.pt stays run #1" in out
    )


def test_a_run_that_never_finished_an_epoch_and_an_interrupted_run(course):
    first = runs.finish_run(tiny_model(), result(0.0, epochs=0), NeverIterated(), spec())
    assert first["status"] == "diverged" and not (course.models / "mlp.pt").exists()
    interrupted = runs.finish_run(
        tiny_model(), result(0.95, interrupted=True), NeverIterated(), spec()
    )
    assert interrupted["status"] == "interrupted" and interrupted["files"] == []
    assert len(ledger.read_results()) == 1 and not (course.models / "mlp.pt").exists()


def test_a_sweep_run_is_kept_but_not_tested_or_published(course, monkeypatch):
    monkeypatch.setattr(plots, "plot_training_curves", REAL_CURVES)  # the real picture, this once
    report = runs.finish_run(
        tiny_model(),
        result(0.9),
        None,
        spec(step="mlp-sweep", changed={"lr": 0.1}, publish_as=None, curves_png=None),
    )
    assert report["test_acc"] is None and not report["published"]
    assert [p.name for p in report["files"]] == [
        f"{report['run_name']}.pt",
        f"{report['run_name']}.png",
        "results.csv",
    ]
    assert not (course.models / "mlp.pt").exists() and not course.vis.exists()
    assert ledger.read_results()[0]["test_acc"] is None
    assert report["files"][1].stat().st_size > 5000  # a real picture of the curves


def test_an_older_or_unreadable_published_model_is_kept_before_it_is_replaced(course, capsys):
    course.models.mkdir()
    old = course.models / "mlp.pt"
    checkpoints.save_checkpoint(old, tiny_model(), hyperparameters={}, metrics={"val_acc": 0.5})
    old_bytes = old.read_bytes()
    runs.finish_run(tiny_model(), result(0.9), loader_with(9), spec())
    [earlier] = (course.models / "runs").glob("*_mlp_earlier.pt")
    assert earlier.read_bytes() == old_bytes
    assert (
        f"kept the previous models/mlp.pt as models/runs/{earlier.name}" in capsys.readouterr().out
    )
    old.write_bytes(b"damaged")
    runs.finish_run(tiny_model(), result(0.1), loader_with(1), spec())  # anything beats unreadable
    assert sorted(
        p.read_bytes() == b"damaged" for p in (course.models / "runs").glob("*earlier*.pt")
    ) == [False, True]


def test_a_run_checkpoint_deleted_by_hand_comes_back_from_its_published_copy(course):
    first = runs.finish_run(tiny_model(), result(0.9), loader_with(9), spec())
    own = course.models / "runs" / f"{first['run_name']}.pt"
    own.unlink()
    runs.finish_run(tiny_model(), result(0.95), loader_with(9), spec())
    assert checkpoints.load_checkpoint(own)["run"] == first["run_name"]


def fail_when(monkeypatch, suffix: str, error: OSError):
    """Make the rename onto a file ending in ``suffix`` fail, as a full disk or a locked folder
    would."""
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(suffix):
            raise error
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize(
    "suffix, error, message",
    [
        (
            ".pt",
            OSError(errno.ENOSPC, "No space left on device"),
            r"could not write models/runs/\S+\.pt \(the disk is full\); "
            r"the previous files are intact; free",
        ),
        (
            "/mlp.pt",
            PermissionError(errno.EACCES, "Permission denied"),
            r"could not write models/mlp\.pt \(permission denied\); "
            r"the previous files are intact; make "
            r"models/ writable",
        ),
        (
            "03_training_curves.png",
            OSError(errno.ENOSPC, "No space left on device"),
            r"could not write visualizations/03_training_curves\.png \(the disk is full\); "
            r"the previous",
        ),
        (
            "results.csv",
            OSError(errno.EDQUOT, "Disk quota exceeded"),
            r"could not write models/results\.csv \(the disk is full\)",
        ),
    ],
)
def test_a_full_disk_or_locked_folder_is_one_line_and_loses_nothing(
    course, monkeypatch, suffix, error, message
):
    runs.finish_run(tiny_model(), result(0.5), loader_with(5), spec())
    before = {path: path.read_bytes() for path in course.models.rglob("*") if path.is_file()}
    before.update({path: path.read_bytes() for path in course.vis.rglob("*")})
    fail_when(monkeypatch, suffix, error)
    with pytest.raises(CourseError, match=message) as info:
        runs.finish_run(tiny_model(), result(0.9), loader_with(9), spec())
    assert "\n" not in str(info.value)
    # written before the failing file, in finish_run's order: the run's row, then models/mlp.pt
    may_change = {".pt": (), "/mlp.pt": ("results.csv",), "results.csv": (),
                  "03_training_curves.png": ("results.csv", "mlp.pt")}[suffix]
    for path, data in before.items():
        assert path.read_bytes() == data or path.name in may_change, path
    left = [p.name for p in course.models.rglob(".*")] + [p.name for p in course.vis.rglob(".*")]
    assert left == []  # no temporary file, no name reservation left behind


def test_an_unwritable_models_folder_on_the_first_run(course, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(type(course.models), "mkdir", refuse)
    with pytest.raises(
        CourseError,
        match=r"cannot create folder models(/runs)? \(Permission denied\); "
        r"make it writable \(the previous files are intact\)",
    ):
        runs.finish_run(tiny_model(), result(0.9), loader_with(9), spec())


def test_log_result_records_an_ensemble(course):
    name = runs.log_result(
        spec(script="04_improved_model.py", step="ensemble", publish_as=None, label="5 CNNs"),
        model_desc="5 x cnn (averaged)",
        params=5 * 421_642,
        seconds=300.0,
        val_acc=0.995,
        test_acc=0.9961,
        history=[{"epoch": 1, "val_acc": 0.995}],
    )
    assert name.endswith("_04_improved_model_5-CNNs")
    [row] = ledger.read_results()
    assert (row["run"], row["step"], row["test_acc"], row["checkpoint"]) == (
        name,
        "ensemble",
        99.61,
        "",
    )


def test_describe_and_print_files(course, capsys):
    assert runs.describe(models.MLP((512,), dropout=0.2, batchnorm=True)) == \
        "mlp 784-512-10 dropout 0.2 batchnorm"
    runs.print_files([course.models / "runs" / "x.pt"])
    assert capsys.readouterr().out == "files written:\n  models/runs/x.pt\n"
