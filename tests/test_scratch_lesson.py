"""Tests of 03b_backprop_from_scratch.py as a lesson: --explain, the dead-unit finding, main()
on synthetic data, the figures' styles, and docs/backprop_math.md against what the code prints.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common import ledger, models, paths, plots, scratch
from common import scratch_experiments as experiment
from common.cli import run_main
from common.errors import CourseError
from test_scratch import lesson, rebuild, tiny_batch, torch_gradients  # noqa: F401 (a fixture)


# --- --explain: every number of a 3-2-2 network ------------------------------------------------


def test_explain_prints_the_numbers_autograd_finds(lesson, capsys):
    trace = lesson.main(explain=True)
    out = capsys.readouterr().out
    model, images, labels = scratch.tiny_problem(lesson.NumpyMLP, lesson.EXPLAIN_SIZES,
                                                 lesson.EXPLAIN_BATCH, seed=lesson.SEED,
                                                 decimals=lesson.EXPLAIN_DECIMALS)
    assert np.array_equal(trace["images"], images) and np.array_equal(trace["labels"], labels)
    loss, reference = torch_gradients(model, images, labels)
    assert trace["passed"] and trace["loss"] == pytest.approx(loss, rel=1e-12)
    for ours, theirs in zip(trace["gradients"], reference):
        assert np.allclose(ours, theirs, rtol=1e-10, atol=1e-14)
    lines = out.splitlines()
    printed = next(index for index, line in enumerate(lines) if "(3) dL/dW_1" in line)
    for row, line in zip(reference[0], lines[printed : printed + 2]):  # dW_1, row by row
        assert all(f"{value:.4f}" in line for value in row)
    assert f"= {loss:.4f}" in out and "(1) delta_2 = p - onehot(y)" in out and "passed" in out
    assert "ReLU'(z_1)" in out and "x = a_0" in out and "finite differences" in out
    assert max(len(line) for line in lines) <= 100


def test_explain_is_deterministic(lesson, capsys):
    lesson.main(explain=True)
    first = capsys.readouterr().out
    lesson.main(explain=True)
    assert capsys.readouterr().out == first


# --- dead ReLU units: what a too-large learning rate does -----------------------------------------


def test_dead_units_count_units_that_never_fire(lesson):
    images, _ = tiny_batch(size=30, features=6, dtype=np.float32)
    deep = lesson.NumpyMLP((4, 3), input_size=6)
    assert experiment.dead_units(deep, images)[1] == 7  # the units of every hidden layer
    model = lesson.NumpyMLP((4,), input_size=6, seed=0)
    model.biases[0][:] = 10.0  # z > 0 for every image: every unit fires
    assert experiment.dead_units(model, images) == (0, 4)
    model.biases[0][:2] = -1e3  # two units can never reach z > 0
    assert experiment.dead_units(model, images) == (2, 4)


def test_a_network_with_a_silent_hidden_layer_is_reported_stuck_at_chance(lesson):
    """The lr-0.5 finding, on a tiny case: dead units, one answer for every digit, loss ~ ln 10."""
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(200, 6)).astype(np.float32), np.arange(200) % 10
    model = lesson.NumpyMLP((5,), input_size=6, seed=0)
    model.biases[0][:] = -1e3  # every hidden unit dead: the logits are b_2 for every image
    model.biases[1][:] = 0.0
    model.biases[1][7] = 0.01  # ... so it answers 7 everywhere
    loss = lesson.evaluate(model, images, labels)["loss"]
    result = lesson.TrainResult(history=[{"train_loss": loss}], best_val_acc=0.1,
                                batch_losses=[2.4, 9.5, 3.0])
    stuck = experiment.rate_outcome(0.5, model, result, (images, labels))
    assert stuck.stuck and (stuck.dead, stuck.total) == (5, 5)
    assert (stuck.top_answer, stuck.top_share) == (7, 1.0)
    good = experiment.RateOutcome(0.02, 0.96, 0.06, False, 0, 5, 1, 0.11)
    hurt = experiment.RateOutcome(0.1, 0.94, 0.2, False, 2, 5, 1, 0.11)
    diverged = experiment.RateOutcome(5.0, 0.1, float("nan"), True, 0, 5, 0, 0.1)
    lines = experiment.learning_rate_findings([good, hurt, stuck, diverged], num_val=200)
    text = "\n".join(lines)
    assert "lr 0.02 did best (96.00%" in text and "lr 5 blew up" in text
    assert "lr 0.1 already lost 2 of its 5 hidden units" in text
    assert "lr 0.5 did not blow up" in text and "5 of its 5 hidden units are dead" in text
    assert "answers 7 for 100% of" in text and "ln 10" in text and "jumped to 9.5" in text
    assert all(len(line) <= 100 for line in lines)


# --- the lesson script --------------------------------------------------------------------------

TINY = dict(hidden_sizes=(32,), num_epochs=3, lr=0.05, batch_size=32, experiment_samples=300,
            experiment_epochs=1, architectures=("16", "16-8"), lr_sweep=(0.01, 5.0),
            noise_levels=(0.0, 0.3))


def test_03b_main_end_to_end_on_synthetic_data(lesson, synthetic_mnist, capsys):
    result = lesson.main(**TINY)
    captured = capsys.readouterr()
    out = captured.out
    lines = (out + captured.err).splitlines()
    tmp = str(synthetic_mnist.vis.parent)
    too_wide = [line for line in lines if len(line) > 100 and tmp not in line]
    # (the files-written list shows this test's temporary folder: in the repo the paths are short)
    assert not too_wide, f"lines wider than 100 columns: {too_wide}"
    assert "gradient check passed" in out and result["gradient_check"]["passed"]
    assert result["gradient_check"]["vs_autograd"] < 1e-7
    assert result["gradient_check"]["vs_finite_differences"] < 1e-5
    assert result["test_acc"] > 0.5  # synthetic digits are easy; chance is 0.1
    assert result["torch"]["params"] == result["params"] == 784 * 32 + 32 + 32 * 10 + 10
    assert set(result["architectures"]) == {"784-16-10", "784-16-8-10"}
    assert set(result["learning_rates"]) == {0.01, 5.0}
    assert all(len(accs) == 2 for accs in result["noise"].values())
    assert "dead units" in out and "finding: lr" in out and "try next:" in out
    assert 0 <= result["dead_units"] <= 32
    names = {path.name for path in result["files"]}
    assert {"scratch_mlp.npz", "results.csv", "03b_training_curves.png", "03b_architectures.png",
            "03b_learning_rates.png", "03b_noise_robustness.png"} <= names
    assert all(path.stat().st_size > 1000 for path in result["files"] if path.suffix == ".png")
    rows = ledger.read_results()
    assert [row["step"] for row in rows] == ["scratch"] * 5  # main run + 2 architectures + 2 rates
    assert rows[0]["model"] == "numpy mlp 784-32-10"
    assert rows[0]["test_acc"] == pytest.approx(100 * result["test_acc"], abs=0.01)
    assert all("(experiment" in row["model"] and row["test_acc"] is None for row in rows[1:])
    model, info = rebuild(lesson, paths.model_path("scratch_mlp.npz"))
    assert model.layer_sizes == (784, 32, 10)
    assert info["metrics"]["test_acc"] == pytest.approx(result["test_acc"])


def test_03b_flags_skip_the_experiments_and_the_pytorch_twin(lesson, synthetic_mnist):
    result = run_main(lesson.main, ["--epochs", "1", "--hidden-sizes", "16", "8",
                                    "--no-experiments", "--no-compare-torch"])
    assert result["torch"] is None and "architectures" not in result
    assert len(result["history"]) == 1
    assert result["params"] == 784 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert not (paths.VIS_DIR / "03b_architectures.png").exists()
    assert len(ledger.read_results()) == 1


@pytest.mark.parametrize("flags, message", [(dict(init="zeros"), "he or xavier"),
                                            (dict(momentum=1.0), "momentum"),
                                            (dict(architectures=("12-x",)), "architectures"),
                                            (dict(num_epochs=0), ">= 1")])
def test_03b_rejects_bad_settings(lesson, synthetic_mnist, flags, message):
    with pytest.raises(CourseError, match=message):
        lesson.main(**{**TINY, "compare_torch": False, **flags})


@pytest.mark.real_mnist
def test_03b_defaults_reach_97_percent_on_real_mnist(lesson, real_mnist):
    result = lesson.main(experiments=False, compare_torch=False)
    assert result["gradient_check"]["passed"]
    assert result["test_acc"] >= 0.97


# --- docs/backprop_math.md shows what the code prints ------------------------------------------

MATH_PAGE = paths.REPO_ROOT / "docs" / "backprop_math.md"


def test_the_math_page_shows_the_current_explain_output(lesson, capsys):
    lesson.main(explain=True)
    printed = capsys.readouterr().out.rstrip("\n")
    page = MATH_PAGE.read_text(encoding="utf-8")
    block = page.split("<!-- explain-output:start -->\n```text\n")[1]
    block = block.split("\n```\n<!-- explain-output:end -->")[0]
    assert block == printed  # if not: paste the output of `python 03b_... --explain` into the page


def test_the_math_page_cnn_arithmetic_matches_the_course_cnn():
    model = models.CNN().eval()
    sides = []
    for name in ("conv1", "pool1", "conv2", "pool2"):
        layer = getattr(model, name)
        layer.register_forward_hook(lambda module, inputs, out: sides.append(out.shape))
    model(torch.zeros(1, 1, 28, 28))
    expected = [(32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 7, 7)]  # 28 -> 28 -> 14 -> 14 -> 7
    assert [tuple(shape[1:]) for shape in sides] == expected
    counts = {name: sum(p.numel() for p in getattr(model, name).parameters())
              for name in ("conv1", "conv2", "fc1", "fc2")}
    assert counts == {"conv1": 320, "conv2": 18_496, "fc1": 401_536, "fc2": 1_290}
    page = MATH_PAGE.read_text(encoding="utf-8")
    total = sum(p.numel() for p in model.parameters())
    assert f"**{total:,}**" in page and all(f"= {count:,} |" in page for count in counts.values())
    layers = ((28, 1, 3, 1), (28, 0, 2, 2), (14, 1, 3, 1), (14, 0, 2, 2))  # in, pad, kernel, stride
    for side_in, padding, kernel, stride in layers:
        assert f"= {(side_in + 2 * padding - kernel) // stride + 1} |" in page


def test_distinct_lines_give_every_series_its_own_look(course_dirs):
    looks = [(color, marker, dash) for color, marker, dash in plots.DISTINCT_STYLES]
    assert len({look[0] for look in looks}) == len({look[1] for look in looks}) == len(looks)
    path = plots.plot_distinct_lines([0, 1, 2], {f"run {i}": [i, i, i] for i in range(5)},
                                     paths.vis_path("lines.png"), title="t", hlines={"chance": 1.0})
    assert path.stat().st_size > 1000
