"""Tests of the NumPy network of 03b_backprop_from_scratch.py, its checks and its experiments.

The network (forward, backward, update, training loop) lives in the lesson script, so these
tests load the script and test the very code that trains it; common/scratch.py and
common/scratch_experiments.py hold the shared plumbing tested here too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common import data, ledger, models, paths, scratch
from common import scratch_experiments as experiment
from common.cli import load_script
from common.errors import CourseError

SCRIPT = "03b_backprop_from_scratch.py"


@pytest.fixture(scope="module")
def lesson():
    """The lesson script as a module: its NumpyMLP, train(), softmax, ... are what we test."""
    return load_script(SCRIPT)


def tiny_batch(seed: int = 0, size: int = 12, features: int = 6, classes: int = 10,
               dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(size, features)).astype(dtype), rng.integers(0, classes, size=size)


def torch_gradients(model, images, labels) -> tuple[float, list[np.ndarray]]:
    """Autograd's gradients for a ReLU MLP with the model's weights, built independently here."""
    params = [torch.tensor(array, requires_grad=True) for array in model.parameters()]
    hidden = torch.from_numpy(images)
    for index in range(0, len(params) - 2, 2):
        hidden = torch.relu(hidden @ params[index].T + params[index + 1])
    logits = hidden @ params[-2].T + params[-1]
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    return loss.item(), [param.grad.numpy() for param in params]


def settings(lesson, **changes):
    values = dict(num_epochs=4, lr=0.05, momentum=0.9, batch_size=8, seed=0) | changes
    return lesson.Settings(**values)


# --- backprop is right (oracles: autograd and finite differences) --------------------------------


@pytest.mark.parametrize("hidden_sizes", [(5,), (6, 4), (5, 4, 3)])
def test_the_scripts_gradients_match_autograd_and_finite_differences(lesson, hidden_sizes):
    problem = scratch.tiny_problem(lesson.NumpyMLP, (7, *hidden_sizes, 10), batch_size=4, seed=3)
    check = scratch.gradient_check(*problem)
    names = [f"{kind}{i}" for i in range(1, len(hidden_sizes) + 2) for kind in "Wb"]
    assert [row[0] for row in check.rows] == names
    assert check.max_vs_autograd < scratch.AUTOGRAD_TOLERANCE
    assert check.max_vs_finite_diff < scratch.FINITE_DIFF_TOLERANCE
    assert check.loss_numpy == pytest.approx(check.loss_torch, rel=1e-12)
    loss, reference = torch_gradients(*problem)  # a second, independent autograd oracle
    assert loss == pytest.approx(check.loss_numpy, rel=1e-12)
    for ours, theirs in zip(problem[0].loss_and_gradients(*problem[1:])[1], reference):
        assert np.allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_gradient_check_catches_a_wrong_backward(lesson, monkeypatch):
    """Gradients 1% off must fail the check: it is a real test, not a formality."""
    original = lesson.NumpyMLP.backward

    def slightly_wrong_backward(self, zs, activations, labels):
        gradients, deltas = original(self, zs, activations, labels)
        return [grad * 1.01 for grad in gradients], deltas  # 1% off everywhere

    monkeypatch.setattr(lesson.NumpyMLP, "backward", slightly_wrong_backward)
    check = scratch.gradient_check(*scratch.tiny_problem(lesson.NumpyMLP, (5, 4, 10), 3, seed=0))
    assert check.max_vs_autograd > 1e-3 and check.max_vs_finite_diff > 1e-3 and not check.passed


def test_training_steps_use_the_backward_pass_that_is_checked(lesson, monkeypatch):
    """train() calls NumpyMLP.backward: a broken backward changes what training does."""
    calls = []
    original = lesson.NumpyMLP.backward

    def counting_backward(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(lesson.NumpyMLP, "backward", counting_backward)
    images, labels = tiny_batch(size=16, features=5, dtype=np.float32)
    model = lesson.NumpyMLP((4,), input_size=5)
    lesson.train(model, (images, labels), (images, labels), settings(lesson, num_epochs=1),
                 verbose=False)
    assert len(calls) == 2  # 16 images in batches of 8


def test_float32_network_equals_the_course_mlp_with_copied_weights(lesson):
    """The lesson network and common/models.py's MLP compute the same logits and gradients."""
    model = lesson.NumpyMLP((16, 8), seed=1)
    torch_model = models.MLP(hidden_sizes=(16, 8))
    scratch.copy_into_torch(model, torch_model)
    images, labels = tiny_batch(size=5, features=784, dtype=np.float32)
    loss, gradients = model.loss_and_gradients(images, labels)
    torch_logits = torch_model(torch.from_numpy(images))
    torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(labels))
    torch_loss.backward()
    assert np.allclose(model.forward(images)[0][-1], torch_logits.detach().numpy(), atol=1e-5)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    for ours, param in zip(gradients, torch_model.parameters()):
        assert np.allclose(ours, param.grad.numpy(), atol=1e-6)


def test_copy_into_torch_rejects_a_different_shape(lesson):
    with pytest.raises(CourseError, match="layer sizes differ"):
        scratch.copy_into_torch(lesson.NumpyMLP((16,)), models.MLP(hidden_sizes=(32,)))


def test_backward_returns_one_delta_per_layer_with_batch_rows(lesson):
    model, images, labels = scratch.tiny_problem(lesson.NumpyMLP, (6, 5, 4, 3), 7, seed=2)
    zs, activations = model.forward(images)
    gradients, deltas = model.backward(zs, activations, labels)
    assert [delta.shape for delta in deltas] == [(7, 5), (7, 4), (7, 3)]
    assert np.allclose(deltas[-1].sum(axis=1), 0)  # p - onehot(y): each row sums to 1 - 1
    assert np.allclose(gradients[-1], deltas[-1].mean(axis=0))  # equation (4)
    assert np.allclose(gradients[-2], deltas[-1].T @ activations[-1] / 7)  # equation (3)


# --- numerically stable softmax and cross-entropy -----------------------------------------------


def test_softmax_and_cross_entropy_survive_huge_logits(lesson):
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [1e30, 1e30, -1e30]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # overflow/nan/log(0) raise
        probs = lesson.softmax(logits)
        loss_right = lesson.cross_entropy(logits[:1], np.array([0]))
        loss_wrong = lesson.cross_entropy(logits[:1], np.array([1]))
    assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(probs[0], [1, 0, 0]) and np.allclose(probs[1], 1 / 3)
    assert np.allclose(probs[2], [0.5, 0.5, 0])
    assert loss_right == pytest.approx(0.0, abs=1e-6)
    assert loss_wrong == pytest.approx(1e4, rel=1e-6)  # -log softmax = the logit gap, not inf


def test_cross_entropy_matches_pytorch(lesson):
    logits, labels = tiny_batch(features=10)
    logits *= 5
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    assert lesson.cross_entropy(logits, labels) == pytest.approx(expected.item(), rel=1e-12)
    expected_probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert np.allclose(lesson.softmax(logits), expected_probs)


def test_initializations_have_the_promised_spread(lesson):
    rng = np.random.default_rng(0)
    he, xavier = (lesson.init_weight(800, 400, init, rng).std() for init in ("he", "xavier"))
    assert he == pytest.approx(np.sqrt(2 / 800), rel=0.02)
    assert xavier == pytest.approx(np.sqrt(2 / 1200), rel=0.02)
    with pytest.raises(CourseError, match="he or xavier"):
        lesson.init_weight(3, 3, "zeros", rng)


# --- learning ----------------------------------------------------------------------------------


def test_one_mini_batch_step_lowers_the_loss(lesson):
    images, labels = tiny_batch(size=32, features=20)
    model = lesson.NumpyMLP((16,), input_size=20, dtype="float64", seed=0)
    loss_before, gradients = model.loss_and_gradients(images, labels)
    lesson.MomentumSGD(model.parameters(), lr=0.05, momentum=0.9).step(gradients)
    assert model.loss_and_gradients(images, labels)[0] < loss_before


def test_momentum_sgd_is_the_same_rule_as_torch_sgd(lesson):
    params = [np.array([1.0, -2.0]), np.array([0.5])]
    torch_params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = lesson.MomentumSGD(params, lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    for step in range(3):
        grads = [np.array([0.3 * step + 1, -1.0]), np.array([2.0 - step])]
        ours.step(grads)
        for param, grad in zip(torch_params, grads):
            param.grad = torch.from_numpy(grad.copy())
        theirs.step()
    for mine, reference in zip(params, torch_params):
        assert np.allclose(mine, reference.detach().numpy())


def test_overfits_a_tiny_batch_to_100_percent(lesson):
    images, labels = tiny_batch(size=20, features=30, dtype=np.float32)
    model = lesson.NumpyMLP((32,), input_size=30, seed=0)
    result = lesson.train(model, (images, labels), (images, labels),
                          settings(lesson, num_epochs=60, batch_size=10), verbose=False)
    assert not result.diverged and result.best_val_acc == 1.0
    assert (model.predict(images) == labels).all()
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] / 10


def test_a_huge_learning_rate_is_reported_as_diverged_and_weights_stay_finite(lesson):
    images, labels = tiny_batch(size=40, features=20, dtype=np.float32)
    model = lesson.NumpyMLP((16,), input_size=20, seed=0)
    result = lesson.train(model, (images, labels), (images, labels),
                          settings(lesson, num_epochs=5, lr=1e12), verbose=False)
    assert result.diverged
    assert all(np.isfinite(param).all() for param in model.parameters())


def test_training_keeps_the_best_validation_weights_and_records_history(lesson, capsys):
    images, labels = tiny_batch(size=60, features=12, dtype=np.float32)
    model = lesson.NumpyMLP((8,), input_size=12, seed=0)
    result = lesson.train(model, (images[:40], labels[:40]), (images[40:], labels[40:]),
                          settings(lesson))
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    keys = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert set(result.history[0]) == keys
    accuracy = lesson.evaluate(model, images[40:], labels[40:])["accuracy"]
    assert accuracy == pytest.approx(result.best_val_acc)
    assert len(result.batch_losses) == 4 * 5  # 40 images / batches of 8, four epochs
    lines = capsys.readouterr().out.splitlines()  # the shared epoch-line format, <= 100 columns
    assert len(lines) == 4 and all(line.startswith("epoch ") and len(line) <= 100 for line in lines)


# --- saving and loading ------------------------------------------------------------------------


def rebuild(lesson, path):
    """A saved network back as the lesson's NumpyMLP."""
    info, arrays = scratch.load_scratch_model(path)
    model = lesson.NumpyMLP(tuple(info["hidden_sizes"]), input_size=info["input_size"],
                            num_classes=info["num_classes"], init=info["init"], dtype=info["dtype"])
    for name, param in zip(model.parameter_names(), model.parameters()):
        param[...] = arrays[name]
    return model, info


def test_the_saved_main_run_gives_identical_predictions(lesson, course_dirs):
    model = lesson.NumpyMLP((12, 7), seed=4)
    images, _ = tiny_batch(size=9, features=784, dtype=np.float32)
    history = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1, "val_acc": 0.4,
                "lr": 0.02, "seconds": 0.1}]
    result = lesson.TrainResult(history=history, best_val_acc=0.4, best_epoch=1, seconds=0.1)
    files = experiment.save_main_run(model, result, {"accuracy": 0.5, "loss": 1.2},
                                     {"lr": 0.02, "seed": 0}, show=False)
    loaded, info = rebuild(lesson, files[0])
    assert loaded.layer_sizes == (784, 12, 7, 10) and loaded.weights[0].dtype == np.float32
    assert np.array_equal(loaded.forward(images)[0][-1], model.forward(images)[0][-1])
    assert info["metrics"]["test_acc"] == 0.5 and info["hyperparameters"] == {"lr": 0.02, "seed": 0}
    assert info["history"] == history
    with np.load(files[0], allow_pickle=False) as archive:  # nothing in the file needs pickle
        assert sorted(archive.files) == ["W1", "W2", "W3", "b1", "b2", "b3", "info"]
    assert ledger.read_results()[0]["model"] == "numpy mlp 784-12-7-10"


def saved(lesson, path, hidden=(4,)):
    model = lesson.NumpyMLP(hidden)
    info = {"hidden_sizes": list(hidden), "input_size": 784, "num_classes": 10, "init": "he",
            "dtype": "float32"}
    arrays = dict(zip(model.parameter_names(), model.parameters()))
    return scratch.save_scratch_model(path, arrays, info)


def test_loading_a_missing_file_says_which_script_makes_it(course_dirs):
    with pytest.raises(CourseError, match=f"not found; run {SCRIPT}"):
        scratch.load_scratch_model(paths.model_path("scratch_mlp.npz"))


def test_loading_a_truncated_or_foreign_file_is_one_clear_error(lesson, tmp_path):
    path = saved(lesson, tmp_path / "net.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CourseError, match="damaged or not a saved NumPy network"):
        scratch.load_scratch_model(truncated)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, info=np.array([{"a": 1}], dtype=object))  # would need pickle to read
    with pytest.raises(CourseError, match="damaged or not a saved NumPy network"):
        scratch.load_scratch_model(pickled)


def test_loading_arrays_that_do_not_fit_the_architecture_is_refused(lesson, tmp_path):
    path = saved(lesson, tmp_path / "net.npz")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["W1"] = np.zeros((5, 784), dtype=np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CourseError, match="do not match its architecture"):
        scratch.load_scratch_model(tmp_path / "bad.npz")


def test_noisy_arrays_keep_shape_and_grow_with_noise(synthetic_mnist):
    val = data.load_mnist(val_fraction=0.1).val
    clean, _ = scratch.to_arrays(val)
    assert clean.shape == (60, 784) and clean.dtype == np.float32
    assert np.allclose(scratch.noisy_arrays(val, 0.0), clean, atol=1e-6)
    small, large = (np.abs(scratch.noisy_arrays(val, std) - clean).mean() for std in (0.1, 0.4))
    assert 0 < small < large
