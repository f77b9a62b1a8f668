"""Tests of the NumPy network with hand-written backprop (common/scratch.py) and its lesson, 03b."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common import ledger, models, paths, scratch
from common.cli import load_script, run_main
from common.errors import CourseError


def tiny_batch(seed: int = 0, size: int = 12, features: int = 6, classes: int = 10, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(size, features)).astype(dtype), rng.integers(0, classes, size=size)


# --- backprop is right -------------------------------------------------------------------------


@pytest.mark.parametrize("hidden_sizes", [(5,), (6, 4), (5, 4, 3)])
def test_gradients_match_autograd_and_finite_differences(hidden_sizes):
    check = scratch.gradient_check(hidden_sizes=hidden_sizes, input_size=7, batch_size=4, seed=3)
    assert [row[0] for row in check.rows] == [f"{kind}{i}" for i in range(1, len(hidden_sizes) + 2) for kind in "Wb"]
    assert check.max_vs_autograd < scratch.AUTOGRAD_TOLERANCE
    assert check.max_vs_finite_diff < scratch.FINITE_DIFF_TOLERANCE
    assert check.loss_numpy == pytest.approx(check.loss_torch, rel=1e-12)
    assert check.passed


def test_gradient_check_catches_a_wrong_backward(monkeypatch):
    """Gradients 1% off must fail the check: it is a real test, not a formality."""
    def slightly_wrong_backward(self, logits, activations, labels):
        gradients = original(self, logits, activations, labels)
        return [grad * 1.01 for grad in gradients]  # 1% off everywhere

    original = scratch.NumpyMLP.backward
    monkeypatch.setattr(scratch.NumpyMLP, "backward", slightly_wrong_backward)
    check = scratch.gradient_check(hidden_sizes=(4,), input_size=5, batch_size=3)
    assert check.max_vs_autograd > 1e-3 and check.max_vs_finite_diff > 1e-3 and not check.passed


def test_hand_gradients_equal_autograd_on_weights_copied_into_the_course_mlp():
    """The float32 lesson network and common/models.py's MLP compute the same logits and gradients."""
    model = scratch.NumpyMLP((16, 8), seed=1)
    torch_model = models.MLP(hidden_sizes=(16, 8))
    scratch.copy_into_torch(model, torch_model)
    images, labels = tiny_batch(size=5, features=784, dtype=np.float32)
    loss, gradients, logits = model.loss_and_gradients(images, labels)
    torch_logits = torch_model(torch.from_numpy(images))
    torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(labels))
    torch_loss.backward()
    assert np.allclose(logits, torch_logits.detach().numpy(), atol=1e-5)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    for ours, param in zip(gradients, torch_model.parameters()):
        assert np.allclose(ours, param.grad.numpy(), atol=1e-6)


def test_copy_into_torch_rejects_a_different_shape():
    with pytest.raises(CourseError, match="layer sizes differ"):
        scratch.copy_into_torch(scratch.NumpyMLP((16,)), models.MLP(hidden_sizes=(32,)))


# --- numerically stable softmax and cross-entropy -----------------------------------------------


def test_softmax_and_cross_entropy_survive_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [1e30, 1e30, -1e30]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # overflow, nan or log(0) would raise
        probs = scratch.softmax(logits)
        loss_right = scratch.cross_entropy(logits[:1], np.array([0]))
        loss_wrong = scratch.cross_entropy(logits[:1], np.array([1]))
    assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(probs[0], [1, 0, 0]) and np.allclose(probs[1], 1 / 3) and np.allclose(probs[2], [0.5, 0.5, 0])
    assert loss_right == pytest.approx(0.0, abs=1e-6)
    assert loss_wrong == pytest.approx(1e4, rel=1e-6)  # -log softmax = the logit gap, not inf


def test_cross_entropy_matches_pytorch():
    logits, labels = tiny_batch(features=10)
    logits *= 5
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert scratch.cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)
    assert np.allclose(scratch.softmax(logits), torch.softmax(torch.from_numpy(logits), dim=1).numpy())


def test_initializations_have_the_promised_spread():
    rng = np.random.default_rng(0)
    assert scratch.init_weight(800, 400, "he", rng).std() == pytest.approx(np.sqrt(2 / 800), rel=0.02)
    assert scratch.init_weight(800, 400, "xavier", rng).std() == pytest.approx(np.sqrt(2 / 1200), rel=0.02)
    with pytest.raises(CourseError, match="he or xavier"):
        scratch.init_weight(3, 3, "zeros", rng)


# --- learning --------------------------------------------------------------------------------------


def test_one_mini_batch_step_lowers_the_loss():
    images, labels = tiny_batch(size=32, features=20)
    model = scratch.NumpyMLP((16,), input_size=20, dtype="float64", seed=0)
    loss_before, gradients, _ = model.loss_and_gradients(images, labels)
    scratch.MomentumSGD(model.parameters(), lr=0.05, momentum=0.9).step(gradients)
    loss_after = scratch.cross_entropy(model.forward(images)[0], labels)
    assert loss_after < loss_before


def test_momentum_sgd_is_the_same_rule_as_torch_sgd():
    params = [np.array([1.0, -2.0]), np.array([0.5])]
    torch_params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = scratch.MomentumSGD(params, lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    for step in range(3):
        grads = [np.array([0.3 * step + 1, -1.0]), np.array([2.0 - step])]
        ours.step(grads)
        for param, grad in zip(torch_params, grads):
            param.grad = torch.from_numpy(grad.copy())
        theirs.step()
    for mine, reference in zip(params, torch_params):
        assert np.allclose(mine, reference.detach().numpy())


def test_overfits_a_tiny_batch_to_100_percent():
    images, labels = tiny_batch(size=20, features=30, dtype=np.float32)
    model = scratch.NumpyMLP((32,), input_size=30, seed=0)
    result = scratch.train(model, images, labels, images, labels, num_epochs=60, lr=0.05, batch_size=10,
                           verbose=False)
    assert not result.diverged and result.best_val_acc == 1.0
    assert (model.predict(images) == labels).all()
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] / 10


def test_a_huge_learning_rate_is_reported_as_diverged_and_weights_stay_finite():
    images, labels = tiny_batch(size=40, features=20, dtype=np.float32)
    model = scratch.NumpyMLP((16,), input_size=20, seed=0)
    result = scratch.train(model, images, labels, images, labels, num_epochs=5, lr=1e12, batch_size=8,
                           verbose=False)
    assert result.diverged
    assert all(np.isfinite(param).all() for param in model.parameters())


def test_training_keeps_the_best_validation_weights_and_records_history():
    images, labels = tiny_batch(size=60, features=12, dtype=np.float32)
    model = scratch.NumpyMLP((8,), input_size=12, seed=0)
    result = scratch.train(model, images[:40], labels[:40], images[40:], labels[40:], num_epochs=4, lr=0.05,
                           batch_size=8, verbose=False)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert set(result.history[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert scratch.evaluate(model, images[40:], labels[40:])["accuracy"] == pytest.approx(result.best_val_acc)
    assert len(result.batch_losses) == 4 * 5  # 40 images / batches of 8, four epochs


# --- saving and loading ----------------------------------------------------------------------------


def test_npz_round_trip_gives_identical_predictions(tmp_path):
    model = scratch.NumpyMLP((12, 7), seed=4)
    images, _ = tiny_batch(size=9, features=784, dtype=np.float32)
    path = scratch.save_scratch_model(tmp_path / "net.npz", model, hyperparameters={"lr": 0.02},
                                      metrics={"test_acc": 0.5}, history=[{"epoch": 1, "val_acc": 0.4}])
    loaded, info = scratch.load_scratch_model(path)
    assert loaded.layer_sizes == (784, 12, 7, 10) and loaded.dtype == np.float32
    assert np.array_equal(loaded.predict_logits(images), model.predict_logits(images))
    assert info["metrics"] == {"test_acc": 0.5} and info["hyperparameters"] == {"lr": 0.02}
    assert info["history"] == [{"epoch": 1, "val_acc": 0.4}]
    with np.load(path, allow_pickle=False) as archive:  # nothing in the file needs pickle
        assert sorted(archive.files) == ["W1", "W2", "W3", "b1", "b2", "b3", "info"]


def test_loading_a_missing_file_says_which_script_makes_it(course_dirs):
    with pytest.raises(CourseError, match="not found; run 03b_backprop_from_scratch.py"):
        scratch.load_scratch_model(paths.model_path("scratch_mlp.npz"))


def test_loading_a_truncated_or_foreign_file_is_one_clear_error(tmp_path):
    path = scratch.save_scratch_model(tmp_path / "net.npz", scratch.NumpyMLP((4,)), hyperparameters={}, metrics={})
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CourseError, match="damaged or not a saved NumPy network"):
        scratch.load_scratch_model(truncated)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, info=np.array([{"a": 1}], dtype=object))  # would need pickle to read
    with pytest.raises(CourseError, match="damaged or not a saved NumPy network"):
        scratch.load_scratch_model(pickled)


def test_loading_arrays_that_do_not_fit_the_architecture_is_refused(tmp_path):
    path = scratch.save_scratch_model(tmp_path / "net.npz", scratch.NumpyMLP((4,)), hyperparameters={}, metrics={})
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["W1"] = np.zeros((5, 784), dtype=np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CourseError, match="do not match its architecture"):
        scratch.load_scratch_model(tmp_path / "bad.npz")


def test_noisy_arrays_keep_shape_and_grow_with_noise(synthetic_mnist):
    from common import data

    val = data.load_mnist(val_fraction=0.1).val
    clean, _ = scratch.to_arrays(val)
    assert clean.shape == (60, 784) and clean.dtype == np.float32
    assert np.allclose(scratch.noisy_arrays(val, 0.0), clean, atol=1e-6)
    small, large = (np.abs(scratch.noisy_arrays(val, std) - clean).mean() for std in (0.1, 0.4))
    assert 0 < small < large


# --- the lesson script ------------------------------------------------------------------------------

TINY = dict(hidden_sizes=(32,), num_epochs=3, lr=0.05, batch_size=32, experiment_samples=300, experiment_epochs=1,
            architectures=("16", "16-8"), lr_sweep=(0.01, 5.0), noise_levels=(0.0, 0.3))


def test_03b_main_end_to_end_on_synthetic_data(synthetic_mnist, capsys):
    result = load_script("03b_backprop_from_scratch.py").main(**TINY)
    out = capsys.readouterr().out
    assert "gradient check passed" in out and result["gradient_check"]["passed"]
    assert result["gradient_check"]["vs_autograd"] < 1e-7 and result["gradient_check"]["vs_finite_differences"] < 1e-5
    assert result["test_acc"] > 0.5  # synthetic digits are easy; chance is 0.1
    assert result["torch"]["params"] == result["params"] == 784 * 32 + 32 + 32 * 10 + 10
    assert set(result["architectures"]) == {"784-16-10", "784-16-8-10"}
    assert set(result["learning_rates"]) == {0.01, 5.0}
    assert all(len(accs) == 2 for accs in result["noise"].values())
    names = {path.name for path in result["files"]}
    assert {"scratch_mlp.npz", "results.csv", "03b_training_curves.png", "03b_architectures.png",
            "03b_learning_rates.png", "03b_noise_robustness.png"} <= names
    assert all(path.stat().st_size > 1000 for path in result["files"] if path.suffix == ".png")
    rows = ledger.read_results()
    assert [row["step"] for row in rows] == ["scratch"] * 5  # main run + 2 architectures + 2 learning rates
    assert rows[0]["model"] == "numpy mlp 784-32-10"
    assert rows[0]["test_acc"] == pytest.approx(100 * result["test_acc"], abs=0.01)
    assert all("(experiment" in row["model"] and row["test_acc"] is None for row in rows[1:])
    model, info = scratch.load_scratch_model(paths.model_path("scratch_mlp.npz"))
    assert model.layer_sizes == (784, 32, 10) and info["metrics"]["test_acc"] == pytest.approx(result["test_acc"])


def test_03b_flags_skip_the_experiments_and_the_pytorch_twin(synthetic_mnist, capsys):
    module = load_script("03b_backprop_from_scratch.py")
    result = run_main(module.main, ["--epochs", "1", "--hidden-sizes", "16", "8", "--no-experiments",
                                    "--no-compare-torch"])
    assert result["torch"] is None and "architectures" not in result
    assert len(result["history"]) == 1 and result["params"] == 784 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert not (paths.VIS_DIR / "03b_architectures.png").exists()
    assert len(ledger.read_results()) == 1


@pytest.mark.parametrize("flags, message", [(dict(init="zeros"), "he or xavier"), (dict(momentum=1.0), "momentum"),
                                            (dict(architectures=("12-x",)), "architectures"),
                                            (dict(num_epochs=0), "at least 1")])
def test_03b_rejects_bad_settings(synthetic_mnist, flags, message):
    with pytest.raises(CourseError, match=message):
        load_script("03b_backprop_from_scratch.py").main(**{**TINY, "compare_torch": False, **flags})


@pytest.mark.real_mnist
def test_03b_defaults_reach_97_percent_on_real_mnist(real_mnist):
    result = load_script("03b_backprop_from_scratch.py").main(experiments=False, compare_torch=False)
    assert result["gradient_check"]["passed"]
    assert result["test_acc"] >= 0.97
