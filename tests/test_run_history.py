"""python -m common.progress --runs and --compare, on a small hand-made ledger."""

from __future__ import annotations

import pytest

from common import checkpoints, ledger, models, paths, progress, run_history, runs
from common.cli import run_main
from common.errors import CourseError

OLD = (",".join(ledger.OLD_COLUMNS) + "\n"
       '2025-05-01 10:00,03_train_model.py,mlp,mlp 784-128-10,101770,10,15.2,97.60,97.81,0,"{}"\n')


def history(*accuracies: float) -> list[dict]:
    return [{"epoch": epoch, "train_loss": 0.1, "train_acc": acc, "val_loss": 0.1, "val_acc": acc,
             "lr": 1e-3, "seconds": 1.5} for epoch, acc in enumerate(accuracies, start=1)]


def run(script: str = "03_train_model.py", step: str = "mlp", changed=None, status="finished",
        accuracies=(0.95, 0.97), checkpoint=True):
    label = runs.run_label(runs.RunSpec(script, step, {}, changed or {}, 0))
    full = f"20261122-03{len(ledger.read_results()):02d}00_{script[:-3]}_{label}"
    ledger.append_result(ledger.LedgerRow(
        script=script, step=step, model="mlp 784-128-10", params=101_770, epochs=len(accuracies),
        seconds=15.0, val_acc=max(accuracies, default=None), seed=0, hyperparameters={},
        test_acc=None if status == "diverged" else 0.978, run=full, status=status,
        changed=changed or {}, checkpoint=f"runs/{full}.pt" if checkpoint else "",
        history=history(*accuracies)))
    if checkpoint:
        (paths.MODELS_DIR / "runs").mkdir(parents=True, exist_ok=True)
        (paths.MODELS_DIR / "runs" / f"{full}.pt").write_bytes(b"checkpoint")
    return full


@pytest.fixture
def notebook(course_dirs, monkeypatch):
    """Old row #1, untrained #2, runs #3 (published), #4 (file deleted), #5 (diverged), #6 CNN."""
    monkeypatch.setattr(paths, "REPO_ROOT", course_dirs.models.parent)
    course_dirs.models.mkdir(parents=True)
    (course_dirs.models / "results.csv").write_text(OLD)
    ledger.append_result(
        script="02_simple_nn.py",
        step="untrained",
        model="mlp 784-128-10",
        params=101_770,
        epochs=0,
        seconds=3.0,
        val_acc=0.101,
        test_acc=0.098,
        seed=0,
        hyperparameters={},
    )
    best = run()
    checkpoints.save_checkpoint(course_dirs.models / "mlp.pt", models.MLP((8,)), hyperparameters={},
                                metrics={"val_acc": 0.97}, extra={"run": best})
    deleted = run(
        step="mlp-tuned",
        changed={"lr": 0.01, "hidden_sizes": [256, 128], "batchnorm": True, "dropout": 0.2},
    )
    (course_dirs.models / "runs" / f"{deleted}.pt").unlink()  # deleted by hand
    run(step="mlp-tuned", changed={"lr": 1e6}, status="diverged", accuracies=(0.1,),
        checkpoint=False)
    run(script="04_improved_model.py", step="cnn", accuracies=(0.985, 0.99))
    return course_dirs


def test_runs_lists_every_run_within_100_columns(notebook, capsys):
    result = run_main(progress.main, ["--runs"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert result == {"runs": 6, "files": []} and max(map(len, lines)) <= 100
    table = {line.split()[0]: line for line in lines if line[:4].strip().isdigit()}
    # old
    assert table["1"].split()[4:] == ["mlp", "784-128-10", "-", "97.60%", "101,770", "15", "-"]
    assert "02" in table["2"] and "10.10%" in table["2"]
    assert table["3"].split()[4:] == ["defaults", "finished", "97.00%", "101,770", "15", "kept"]
    assert "lr 0.01, hidden-sizes..." in table["4"] and table["4"].endswith("missing")
    assert "lr 1e+06" in table["5"] and "diverged" in table["5"] and table["5"].endswith("-")
    assert table["6"].split()[3:5] == ["04", "defaults"]
    assert f"models/mlp.pt    run #3, {ledger.read_results()[2]['run']} (validation 97.00%)" in out
    assert "models/cnn.pt    not trained yet" in out


def test_compare_draws_the_latest_scripts_runs_by_default(notebook, capsys):
    result = run_main(progress.main, ["--compare"])
    out = capsys.readouterr().out
    picture = notebook.vis / "progress_compare.png"
    assert result["files"] == [picture] and picture.stat().st_size > 5000
    assert [line.split()[0] for line in out.splitlines() if line[:4].strip().isdigit()] == ["6"]
    assert "best on validation: run #6, 99.00%" in out and max(map(len, out.splitlines())) <= 100


def test_compare_chosen_runs_marks_the_diverged_and_skips_those_without_history(notebook, capsys,
                                                                              monkeypatch):
    drawn = []
    monkeypatch.setattr(run_history, "plot_comparison",
                        lambda picked, path, show=False: drawn.extend(n for n, _ in picked) or path)
    run_main(progress.main, ["--compare", "1", "#3", "lr-1e"])
    out = capsys.readouterr().out
    assert drawn == [3, 5]
    assert "run #1 is left out: it has no per-epoch history" in out
    assert "best on validation: run #3, 97.00% (defaults)" in out  # the diverged run is never best


def test_the_comparison_picture_marks_a_diverged_run(notebook):
    rows = ledger.read_results()
    picked = [(3, rows[2]), (5, rows[4])]
    path = run_history.plot_comparison(picked, notebook.vis / "x.png")
    import matplotlib.pyplot as plt

    assert path.stat().st_size > 5000 and not plt.get_fignums()  # saved and closed


@pytest.mark.parametrize("argv, message", [
    (["--compare", "99"], "there is no run #99: .* lists runs 1..6"),
    (["--compare", "nothing-like-it"], "no run name contains 'nothing-like-it'"),
    (["--compare", "1"], "none of these runs has a validation curve"),
    (["3"], "run numbers or names go with --compare"),
])
def test_compare_mistakes_are_one_line(notebook, argv, message):
    with pytest.raises(CourseError, match=message):
        progress.main(*[a for a in argv if not a.startswith("--")], compare="--compare" in argv)


def test_an_empty_ledger(course_dirs):
    with pytest.raises(CourseError, match="no runs in models/results.csv yet"):
        progress.main(runs=True)
    with pytest.raises(CourseError, match="no run with per-epoch history"):
        progress.main(compare=True)
