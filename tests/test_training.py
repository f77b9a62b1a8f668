"""The training loop: learning, early stopping, the nan guard, checkpoints and exact resuming."""

import re

import pytest
import torch

from common import data, models, paths, training
from common import device as devices
from common.cli import load_script
from common.errors import CourseError

RECORD_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}


def synthetic_loaders(batch_size: int = 32, seed: int = 0, augment: bool = False):
    """train (540 images), validation (60) and test (200) loaders over the synthetic MNIST."""
    splits = data.load_mnist(val_fraction=0.1)
    return data.make_loaders(
        splits, batch_size=batch_size, augment=augment, seed=seed, eval_batch_size=50
    )


def adam_mlp(lr: float = 3e-3, hidden_sizes=(32,), dropout: float = 0.0, batchnorm: bool = False):
    model = models.MLP(hidden_sizes, dropout=dropout, batchnorm=batchnorm)
    return model, training.make_optimizer("adam", model.parameters(), lr)


def metrics_only(history):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


def run_fit(model, train_loader, val_loader, optimizer, **options):
    """``fit`` with its options given as keywords (``num_epochs=3, patience=2, ...``)."""
    return training.fit(model, train_loader, val_loader, optimizer, training.FitOptions(**options))


# --- optimizers and schedules -----------------------------------------------------------------


@pytest.mark.parametrize("name, kind, momentum", [
    ("sgd", torch.optim.SGD, 0), ("momentum", torch.optim.SGD, 0.9),
    ("adam", torch.optim.Adam, None), ("adamw", torch.optim.AdamW, None),
])
def test_make_optimizer(name, kind, momentum):
    optimizer = training.make_optimizer(name, models.MLP().parameters(), lr=0.01, weight_decay=1e-4)
    assert type(optimizer) is kind
    assert optimizer.defaults["lr"] == 0.01 and optimizer.defaults["weight_decay"] == 1e-4
    if momentum is not None:
        assert optimizer.defaults["momentum"] == momentum


def test_make_optimizer_rejects_unknown_names_and_negative_lr():
    with pytest.raises(CourseError, match="sgd, momentum, adam, adamw"):
        training.make_optimizer("rmsprop", models.MLP().parameters(), lr=0.01)
    with pytest.raises(CourseError, match="learning rate"):
        training.make_optimizer("adam", models.MLP().parameters(), lr=-1.0)


def test_make_scheduler():
    _, optimizer = adam_mlp(lr=0.1)
    assert training.make_scheduler("none", optimizer, 10, 100, 0.1) is None
    step = training.make_scheduler("step", optimizer, num_epochs=9, steps_per_epoch=100, lr=0.1)
    assert (
        isinstance(step, torch.optim.lr_scheduler.StepLR)
        and step.step_size == 3
        and step.gamma == 0.1
    )
    with pytest.raises(CourseError, match="none, step, onecycle"):
        training.make_scheduler("cosine", optimizer, 10, 100, 0.1)


def test_onecycle_does_not_add_momentum_to_plain_sgd():
    model = models.MLP()
    optimizer = training.make_optimizer("sgd", model.parameters(), lr=0.1)
    training.make_scheduler("onecycle", optimizer, num_epochs=2, steps_per_epoch=10, lr=0.1)
    assert optimizer.param_groups[0]["momentum"] == 0


# --- fit ---------------------------------------------------------------------------------------


def test_fit_overfits_a_tiny_batch(synthetic_mnist, capsys):
    splits = data.load_mnist(val_fraction=0.1)
    # 20 images x5
    tiny = data.Split(splits.train.images[:20].repeat(5, 1, 1), splits.train.labels[:20].repeat(5))
    train_loader = data.BatchLoader(tiny, batch_size=20, shuffle=True)
    val_loader = data.BatchLoader(
        data.Split(splits.train.images[:20], splits.train.labels[:20]), batch_size=20
    )
    devices.seed_everything(0)
    model, optimizer = adam_mlp(lr=3e-3, hidden_sizes=(64,))
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=15)
    assert result.history[-1]["train_acc"] == 1.0
    assert (
        result.best_val_acc == 1.0
        and result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    )
    assert not (result.stopped_early or result.diverged or result.interrupted)


def test_fit_history_and_one_aligned_line_per_epoch(synthetic_mnist, capsys):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp(lr=1e-3)
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3)
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    assert all(set(record) == RECORD_KEYS for record in result.history)
    assert all(0 <= record["val_acc"] <= 1 and record["lr"] == 1e-3 for record in result.history)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    pattern = (
        r"epoch [1-3]/3  train loss \d\.\d{4} acc +\d+\.\d\d%  val loss \d\.\d{4} acc +\d+\.\d\d%"
        r"  lr 1\.0e-03 +\d+\.\d s"
    )
    assert len(lines) == 3 and all(re.match(pattern, line) for line in lines), lines
    assert len({line.index("val loss") for line in lines}) == 1  # columns line up
    assert all(len(line) <= 100 for line in lines)
    assert result.best_val_acc == max(record["val_acc"] for record in result.history)
    assert result.seconds == pytest.approx(sum(record["seconds"] for record in result.history))


def test_fit_ends_with_the_best_weights_and_writes_no_model_file(synthetic_mnist):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp(lr=1e-2)
    resume_file = paths.model_path("mlp.resume.pt")
    best_weights = {}

    def remember(epoch, record):
        best_weights[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    result = run_fit(
        model,
        train_loader,
        val_loader,
        optimizer,
        num_epochs=4,
        resume_path=resume_file,
        hyperparameters={"lr": 1e-2},
        on_epoch_end=remember,
    )
    expected = best_weights[result.best_epoch]
    assert result.best_val_acc == max(record["val_acc"] for record in result.history)
    assert all(torch.equal(model.state_dict()[k], expected[k]) for k in expected)
    assert not resume_file.exists()  # deleted when training finishes
    assert not paths.model_path("mlp.pt").exists()  # saving a finished run is common/runs.py's job


def test_early_stopping_when_validation_never_improves(synthetic_mnist, capsys):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp(lr=1e-3)

    def flat(model, loader, loss_fn, precision):  # validation accuracy that never improves
        return {"loss": 1.0, "accuracy": 0.5}

    result = run_fit(
        model, train_loader, val_loader, optimizer, num_epochs=10, patience=2, evaluate=flat
    )
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1
    assert "early stop" in capsys.readouterr().out


def test_step_schedule_changes_lr_per_epoch_and_onecycle_per_batch(synthetic_mnist):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp(lr=1e-3)
    scheduler = training.make_scheduler(
        "step", optimizer, num_epochs=3, steps_per_epoch=len(train_loader), lr=1e-3
    )
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3, scheduler=scheduler)
    assert [record["lr"] for record in result.history] == pytest.approx([1e-3, 1e-4, 1e-5])
    model, optimizer = adam_mlp(lr=1e-2)
    scheduler = training.make_scheduler("onecycle", optimizer, 2, len(train_loader), lr=1e-2)
    run_fit(model, train_loader, val_loader, optimizer, num_epochs=2, scheduler=scheduler)
    assert scheduler.last_epoch == 2 * len(train_loader)  # one step per batch, the whole cycle used


def test_nan_guard_stops_at_once_and_keeps_the_good_weights(synthetic_mnist, capsys):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model = models.MLP((32,))
    optimizer = training.make_optimizer("sgd", model.parameters(), lr=0.05)
    after_epoch_1 = {}

    def explode(epoch, record):  # epoch 1 trains normally; then the learning rate becomes absurd
        after_epoch_1.update({k: v.clone() for k, v in model.state_dict().items()})
        for group in optimizer.param_groups:
            group["lr"] = 1e10

    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=5, on_epoch_end=explode,
                     resume_path=paths.model_path("mlp.resume.pt"))
    assert result.diverged and len(result.history) == 1 and result.status == "diverged"
    out = capsys.readouterr().out
    pattern = (
        r"training diverged in epoch 2: the loss (became (nan|inf)|exploded to \S+) "
        r"at batch \d+.*\. "
        r"The learning rate 1e\+10 is probably too high; try 10x smaller \(--lr 1e\+09\)"
    )
    assert re.search(pattern, " ".join(out.split())), out
    assert result.problem and re.search(pattern, result.problem)
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())
    assert all(torch.equal(after_epoch_1[k], v) for k, v in model.state_dict().items())  # best kept
    assert not paths.model_path("mlp.resume.pt").exists()


def test_nan_guard_in_the_first_epoch_keeps_the_starting_weights(synthetic_mnist, capsys):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model = models.MLP((32,))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = training.make_optimizer("sgd", model.parameters(), lr=1e10)
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3)
    assert result.diverged and result.history == [] and result.best_epoch == 0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in start.items())
    assert "training diverged" in capsys.readouterr().out


def test_a_loss_far_above_an_untrained_networks_is_divergence(synthetic_mnist, capsys):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp(lr=1e6)  # finite, but every step throws the weights far away
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3)
    assert result.diverged and result.best_epoch == 0
    assert re.search(r"the loss (exploded to \S+|became (nan|inf)) at batch \d+", result.problem)
    assert (
        "The learning rate 1e+06 is probably too high; try 10x smaller (--lr 100000)"
        in result.problem
    )


def test_chance_accuracy_after_the_first_epoch_is_divergence(synthetic_mnist):
    train_loader, val_loader, _ = synthetic_loaders(batch_size=8)  # 68 steps: enough to judge
    model, optimizer = adam_mlp(lr=1e-3)

    def stuck(model, loader, loss_fn, precision):  # a network that learned nothing at all
        return {"loss": training.UNTRAINED_LOSS, "accuracy": 0.1}

    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3, evaluate=stuck)
    assert result.diverged and len(result.history) == 1 and result.best_epoch == 0
    assert "validation accuracy is 10.0% after the first epoch" in result.problem
    assert "no better than guessing (10%)" in result.problem
    assert "The learning rate 0.001 is probably too high" in result.problem
    model, optimizer = adam_mlp(lr=1e-7)
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3, evaluate=stuck)
    assert "The learning rate 1e-07 is probably too low; try 0.001" in result.problem


def test_a_healthy_first_epoch_is_not_flagged(synthetic_mnist):
    devices.seed_everything(0)
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp(lr=3e-3)
    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=1)
    assert not result.diverged and result.status == "finished" and result.problem == ""


# --- the lesson's loop and the engine's are the same code --------------------------------------


def test_the_phase3_loop_and_the_engine_give_bit_identical_weights(synthetic_mnist):
    lesson = load_script("03_train_model.py")
    results = []
    for step, evaluate in ((lesson.train_one_epoch, lesson.evaluate),
                           (training.train_one_epoch, training.evaluate)):
        devices.seed_everything(7)
        train_loader, val_loader, _ = synthetic_loaders(batch_size=64, seed=7, augment=True)
        model, optimizer = adam_mlp(lr=5e-3, hidden_sizes=(48,), dropout=0.3, batchnorm=True)
        scheduler = training.make_scheduler("onecycle", optimizer, 2, len(train_loader), lr=5e-3)
        result = run_fit(
            model,
            train_loader,
            val_loader,
            optimizer,
            num_epochs=2,
            scheduler=scheduler,
            train_one_epoch=step,
            evaluate=evaluate,
        )
        results.append((model.state_dict(), metrics_only(result.history)))
    (lesson_state, lesson_history), (engine_state, engine_history) = results
    assert lesson_history == engine_history
    assert all(torch.equal(lesson_state[key], engine_state[key]) for key in engine_state)
