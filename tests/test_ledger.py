"""The results ledger: fractions in, percentages stored, numbers back as numbers, crash-safe."""

from __future__ import annotations

import csv
import errno
import os

import pytest

from common import ledger
from common.errors import CourseError


def _append(**changes):
    row = dict(
        script="03_train_model.py",
        step="mlp",
        model="mlp 784-128-10",
        params=101_770,
        epochs=5,
        seconds=19.46,
        val_acc=0.97812,
        test_acc=0.9779,
        seed=0,
        hyperparameters={"lr": 0.001, "hidden_sizes": [128], "optimizer": "adam"},
    )
    row.update(changes)
    return ledger.append_result(**row)


def test_no_ledger_reads_as_empty(course_dirs):
    assert ledger.read_results() == []


def test_round_trip_converts_types_and_percentages(course_dirs):
    path = _append()
    _append(
        step="untrained",
        script="02_simple_nn.py",
        epochs=0,
        val_acc=None,
        test_acc=0.098,
        seed=None,
        hyperparameters={},
    )
    assert path == course_dirs.models / "results.csv"
    with open(path, newline="") as handle:
        raw = list(csv.reader(handle))
    assert tuple(raw[0]) == ledger.COLUMNS
    assert raw[1][ledger.COLUMNS.index("val_acc")] == "97.81"
    first, second = ledger.read_results()
    assert (first["params"], first["epochs"], first["seed"]) == (101_770, 5, 0)
    assert first["val_acc"] == pytest.approx(97.81) and first["test_acc"] == pytest.approx(97.79)
    assert first["seconds"] == pytest.approx(19.5)
    assert first["hyperparameters"] == {"lr": 0.001, "hidden_sizes": [128], "optimizer": "adam"}
    assert (
        second["val_acc"] is None
        and second["seed"] is None
        and second["test_acc"] == pytest.approx(9.8)
    )
    assert second["step"] == "untrained" and isinstance(second["params"], int)


def test_rejects_percentages_and_unknown_steps(course_dirs):
    with pytest.raises(ValueError, match="fractions"):
        _append(test_acc=97.8)
    with pytest.raises(ValueError, match="unknown ledger step"):
        _append(step="best-ever")
    assert ledger.read_results() == []


def test_a_crash_while_appending_keeps_earlier_rows(course_dirs, monkeypatch):
    path = _append()
    before = path.read_bytes()

    def crash(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CourseError) as info:
        _append(step="cnn")
    message = str(info.value)
    assert "could not write" in message and "results.csv (the disk is full)" in message
    assert "previous files are intact" in message and "\n" not in message
    assert path.read_bytes() == before
    # no temporary/lock file
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.csv"]


def test_an_unwritable_models_folder_is_one_line(course_dirs, monkeypatch):
    path = _append()
    before = path.read_bytes()

    def refuse(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)  # the lock file, then mkstemp: both refused
    with pytest.raises(CourseError, match=r"results\.csv \(permission denied\); the previous files "
                                          r"are intact; make .*models/ writable"):
        _append(step="cnn")
    assert path.read_bytes() == before


def test_a_row_object_or_keywords(course_dirs):
    row = ledger.LedgerRow(
        script="03_train_model.py",
        step="mlp-sweep",
        model="mlp",
        params=10,
        epochs=2,
        seconds=1.0,
        val_acc=0.5,
        test_acc=None,
        seed=1,
        hyperparameters={"lr": 0.1},
        run="20261122-030000_03_train_model_lr-0.1",
        status="diverged",
        changed={"lr": 0.1},
        history=[
            {
                "epoch": 1,
                "val_acc": 0.5,
                "val_loss": float("nan"),
                "train_loss": 1e13,
                "extra": "dropped",
            }
        ],
    )
    ledger.append_result(row)
    [back] = ledger.read_results()
    assert (back["run"], back["status"], back["changed"]) == (row.run, "diverged", {"lr": 0.1})
    assert back["history"] == [{"epoch": 1, "val_acc": 0.5, "val_loss": None, "train_loss": 1e13}]
    with pytest.raises(ValueError, match="unknown run status"):
        ledger.append_result(ledger.LedgerRow(**{**vars(row), "status": "great"}))
    with pytest.raises(TypeError):
        ledger.append_result(scrip="typo")


OLD_LEDGER = (
    ",".join(ledger.OLD_COLUMNS) + "\n"
    '2025-05-01 10:00,03_train_model.py,mlp,mlp 784-128-10,101770,10,15.2,97.60,97.81,0,'
    '"{""lr"": 0.001}"\n'
)


def test_rows_from_an_older_course_version_are_read_and_kept(course_dirs):
    course_dirs.models.mkdir(parents=True)
    (course_dirs.models / "results.csv").write_text(OLD_LEDGER)
    [old] = ledger.read_results()
    assert (old["val_acc"], old["test_acc"], old["hyperparameters"]) == (97.6, 97.81, {"lr": 0.001})
    assert (old["run"], old["status"], old["checkpoint"], old["changed"], old["history"]) == (
        "",
        "",
        "",
        {},
        [],
    )
    _append(step="cnn", run="20261122-030000_04_improved_model_cnn")
    text = (course_dirs.models / "results.csv").read_text()
    # the header grew, the old row is untouched
    assert text.splitlines()[0] == ",".join(ledger.COLUMNS)
    assert OLD_LEDGER.splitlines()[1] in text
    old, new = ledger.read_results()
    assert old["test_acc"] == 97.81 and new["run"].endswith("_cnn") and new["status"] == "finished"


def test_best_by_validation_never_looks_at_test_or_diverged_runs(course_dirs):
    _append(run="a", val_acc=0.975, test_acc=0.990)
    _append(run="b", val_acc=0.980, test_acc=0.970)
    _append(run="c", val_acc=0.999, test_acc=None, status="diverged")
    _append(run="d", step="mlp-sweep", val_acc=0.985, test_acc=None)
    rows = ledger.read_results()
    assert ledger.best_by_validation(rows, ("mlp",))["run"] == "b"
    assert ledger.best_by_validation(rows)["run"] == "d"
    assert ledger.best_by_validation(rows, tested=True)["run"] == "b"
    assert ledger.best_by_validation(rows, ("cnn",)) is None


def test_a_lock_left_by_a_crash_does_not_block_forever(course_dirs, monkeypatch):
    path = _append()
    lock = path.with_name(".results.csv.lock")
    lock.write_text("")
    os.utime(lock, (0, 0))  # very old: its run crashed
    _append(step="cnn")
    assert [row["step"] for row in ledger.read_results()] == ["mlp", "cnn"] and not lock.exists()


def test_garbled_row_is_skipped_not_fatal(course_dirs, capsys):
    path = _append()
    with open(path, "a") as handle:
        handle.write("oops,this,is,not,a,row\n")  # a hand edit; also no final newline below
    path.write_text(path.read_text().rstrip("\n"))
    _append(step="cnn", params=421_642)
    rows = ledger.read_results()
    assert [row["step"] for row in rows] == ["mlp", "cnn"]
    assert "skipped unreadable line 3" in capsys.readouterr().out
