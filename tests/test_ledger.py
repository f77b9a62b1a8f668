"""The results ledger: fractions in, percentages stored, numbers back as numbers, crash-safe."""

from __future__ import annotations

import csv
import os

import pytest

from common import ledger


def _append(**changes):
    row = dict(script="03_train_model.py", step="mlp", model="mlp 784-128-10", params=101_770, epochs=5,
               seconds=19.46, val_acc=0.97812, test_acc=0.9779, seed=0,
               hyperparameters={"lr": 0.001, "hidden_sizes": [128], "optimizer": "adam"})
    row.update(changes)
    return ledger.append_result(**row)


def test_no_ledger_reads_as_empty(course_dirs):
    assert ledger.read_results() == []


def test_round_trip_converts_types_and_percentages(course_dirs):
    path = _append()
    _append(step="untrained", script="02_simple_nn.py", epochs=0, val_acc=None, test_acc=0.098, seed=None,
            hyperparameters={})
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
    assert second["val_acc"] is None and second["seed"] is None and second["test_acc"] == pytest.approx(9.8)
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
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        _append(step="cnn")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.csv"]  # no temporary file left


def test_garbled_row_is_skipped_not_fatal(course_dirs, capsys):
    path = _append()
    with open(path, "a") as handle:
        handle.write("oops,this,is,not,a,row\n")  # a hand edit; also no final newline below
    path.write_text(path.read_text().rstrip("\n"))
    _append(step="cnn", params=421_642)
    rows = ledger.read_results()
    assert [row["step"] for row in rows] == ["mlp", "cnn"]
    assert "skipped unreadable line 3" in capsys.readouterr().out
