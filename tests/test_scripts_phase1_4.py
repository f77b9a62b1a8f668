"""Smoke tests: every phase script's main() end to end, with tiny settings on synthetic data."""

from __future__ import annotations

import pytest
import torch

from common import ledger, paths
from common.cli import load_script


def test_01_explore_mnist_end_to_end(synthetic_mnist, capsys):
    result = load_script("01_explore_mnist.py").main(samples_per_digit=3)
    out = capsys.readouterr().out
    assert (result["train"], result["val"], result["test"]) == (540, 60, 200)
    assert "a handwritten 7 as the computer stores it" in out
    grid = [
        line
        for line in out.splitlines()
        if line.count(" ") >= 27 and set(line) <= set("0123456789 .")
    ]
    assert len(grid) >= 28  # the 28 x 28 grid of numbers
    names = sorted(p.name for p in result["files"])
    assert names == ["01_class_distribution.png", "01_mean_digits.png", "01_pixel_histogram.png",
                     "01_samples_per_digit.png"]
    assert all(p.stat().st_size > 1000 for p in result["files"])
    assert result["class_counts"].sum() == 600


def test_01_rejects_bad_values(synthetic_mnist):
    from common.errors import CourseError

    with pytest.raises(CourseError, match="digit 0..9"):
        load_script("01_explore_mnist.py").main(digit_to_print=12)


def test_02_simple_nn_counts_and_checks_by_hand(synthetic_mnist, capsys):
    result = load_script("02_simple_nn.py").main()
    out = capsys.readouterr().out
    assert result["params"] == 101_770 and "101,770" in out
    assert result["max_difference"] < 1e-5 and result["collapse_difference"] < 1e-4
    # near uniform
    assert abs(float(result["probs"].sum()) - 1) < 1e-5 and float(result["probs"].max()) < 0.5
    assert (paths.VIS_DIR / "02_untrained_prediction.png").stat().st_size > 1000
    rows = ledger.read_results()
    assert [row["step"] for row in rows] == ["untrained"] and rows[0]["params"] == 101_770


def test_03_train_model_trains_saves_and_logs(synthetic_mnist, capsys):
    from common import checkpoints

    result = load_script("03_train_model.py").main(num_epochs=2, batch_size=32, device="cpu")
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "test accuracy" in out
    # epochs/batch differ from the defaults
    assert result["test_acc"] > 0.5 and result["step"] == "mlp-tuned"
    model, checkpoint = checkpoints.load_model(paths.MODELS_DIR / "mlp.pt")
    assert (
        checkpoint["metrics"]["test_acc"] == result["test_acc"]
        and checkpoint["hyperparameters"]["num_epochs"] == 2
    )
    assert (paths.VIS_DIR / "03_training_curves.png").exists()
    assert ledger.read_results()[-1]["script"] == "03_train_model.py"


def test_03_lr_sweep_compares_without_saving_a_model(synthetic_mnist, capsys):
    result = load_script("03_train_model.py").main(
        lr_sweep=(0.01, 0.001), num_epochs=1, device="cpu"
    )
    assert set(result["sweep"]) == {0.01, 0.001}
    assert (paths.VIS_DIR / "03_lr_sweep.png").exists() and not (
        paths.MODELS_DIR / "mlp.pt"
    ).exists()
    assert "best on validation: lr" in capsys.readouterr().out


def test_03_diverging_run_gives_advice_exits_and_keeps_the_good_model(synthetic_mnist, capsys):
    from common import checkpoints
    from common.errors import CourseError

    script = load_script("03_train_model.py")
    script.main(num_epochs=1, device="cpu")
    good = checkpoints.load_checkpoint(paths.MODELS_DIR / "mlp.pt")
    with pytest.raises(CourseError, match="the run diverged .*models/mlp.pt was not changed"):
        script.main(lr=1e6, num_epochs=1, device="cpu")
    assert "is probably too high; try 10x smaller (--lr 100000)" in capsys.readouterr().out
    kept = checkpoints.load_checkpoint(paths.MODELS_DIR / "mlp.pt")
    assert all(torch.equal(kept["state_dict"][k], v) for k, v in good["state_dict"].items())
    with pytest.raises(CourseError, match="the run diverged"):
        script.main(optimizer_name="sgd", lr=1e12, num_epochs=1, device="cpu")


def test_03_ablation_climbs_one_idea_per_rung(synthetic_mnist, capsys):
    result = load_script("03_train_model.py").main(ablation=True, num_epochs=1, device="cpu")
    out = capsys.readouterr().out
    assert len(result["rungs"]) == 6 and result["biggest_win"] in out
    assert "finding: the biggest single win was" in out
    assert (paths.VIS_DIR / "03_ablation.png").exists()
    assert not (paths.MODELS_DIR / "mlp.pt").exists()  # experiments never replace the model
    out = out.replace(f"{paths.MODELS_DIR.parent}/", "")  # a checkout prints models/runs/...
    assert all(len(line) <= 100 for line in out.splitlines())


def test_04_improved_model_trains_cnn_and_compares_with_mlp(synthetic_mnist, capsys):
    load_script("03_train_model.py").main(num_epochs=1, device="cpu")
    result = load_script("04_improved_model.py").main(num_epochs=1, batch_size=64, device="cpu")
    out = capsys.readouterr().out
    assert result["params"] == 421_642 and "mlp (Phase 3)" in out
    names = {p.name for p in result["files"]}
    assert {"cnn.pt", "04_training_curves.png", "04_mlp_vs_cnn.png",
            "04_conv1_filters_and_maps.png"} <= names
    assert ledger.read_results()[-1]["step"] == "cnn"


def test_04_lenet_and_augment_flags(synthetic_mnist):
    result = load_script("04_improved_model.py").main(
        arch="lenet", augment=True, augment_epochs=1, device="cpu"
    )
    assert result["params"] == 21_840 and result["step"] == "lenet"
    assert (paths.MODELS_DIR / "lenet.pt").exists()
    assert torch.isfinite(torch.tensor(result["test_acc"]))


def test_04_computes_a_convolution_by_hand_and_walks_the_shapes(synthetic_mnist, capsys):
    script = load_script("04_improved_model.py")
    model = script.models.build_model("cnn")
    digit = torch.rand(1, 1, 28, 28)
    assert script.show_convolution(model, digit) < 1e-5
    row = script.one_pixel_by_loops(digit, model.conv1, 14, 14)
    with torch.no_grad():
        expected = float(model.conv1(digit)[0, 0, 14, 14])
    assert row == pytest.approx(expected, abs=1e-5)
    shapes = script.walk_shapes(model, digit)
    assert [
        (name, shape) for name, shape, _ in shapes if name.startswith(("conv", "pool", "fc"))
    ] == [
        ("conv1", (32, 28, 28)),
        ("pool1", (32, 14, 14)),
        ("conv2", (64, 14, 14)),
        ("pool2", (64, 7, 7)),
        ("fc1", (128,)),
        ("fc2", (10,)),
    ]
    assert sum(params for *_, params in shapes) == 421_642
    assert "largest difference" in capsys.readouterr().out


def test_04_ladder_ends_with_an_ensemble_measured_once_on_test(synthetic_mnist, capsys):
    result = load_script("04_improved_model.py").main(
        ladder=True, ladder_epochs=1, ensemble_size=2, ensemble_epochs=1, device="cpu")
    out = capsys.readouterr().out
    names = [row[0] for row in result["rungs"]]
    assert names[0].startswith("MLP") and names[-1] == "ensemble of 2 augmented CNNs"
    assert len(names) == 6 and 0 <= result["test_acc"] <= 1
    assert "the ensemble's test accuracy, measured once" in out
    assert {p.name for p in result["files"]} == {"04_ladder.png", "04_ensemble_mistakes.png"}
    assert not (paths.MODELS_DIR / "cnn.pt").exists()  # ladder runs are kept, never published
    out = out.replace(f"{paths.MODELS_DIR.parent}/", "")  # a checkout prints models/runs/...
    assert all(len(line) <= 100 for line in out.splitlines())
