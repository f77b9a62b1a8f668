"""Ctrl-C and --resume: the resumed run ends with exactly the uninterrupted run's weights."""

import math
import random

import numpy as np
import pytest
import torch

from common import checkpoints, paths, resume, training
from common import device as devices
from common.errors import CourseError
from tests.test_training import adam_mlp, metrics_only, run_fit, synthetic_loaders


# --- interrupting and resuming -------------------------------------------------------------------


class InterruptingLoader:
    """Wraps a loader and raises KeyboardInterrupt (like Ctrl-C) at one batch of one epoch."""

    def __init__(self, loader, epoch: int, batch: int):
        self.loader, self.epoch, self.batch, self.epochs_started = loader, epoch, batch, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epochs_started += 1
        for i, batch in enumerate(self.loader, start=1):
            if (self.epochs_started, i) == (self.epoch, self.batch):
                raise KeyboardInterrupt
            yield batch

    def state_dict(self):
        return self.loader.state_dict()

    def load_state_dict(self, state):
        self.loader.load_state_dict(state)


def train_run(name: str, seed: int = 0, resume: bool = False, interrupt: str | None = None,
              precision: devices.Precision = devices.FP32):
    """3 epochs of an MLP with dropout, augmentation, Adam and OneCycle (every piece of state
    matters)."""
    devices.seed_everything(seed)
    train_loader, val_loader, _ = synthetic_loaders(batch_size=64, seed=seed, augment=True)
    if interrupt == "mid-epoch-2":
        train_loader = InterruptingLoader(train_loader, epoch=2, batch=3)
    model, optimizer = adam_mlp(lr=5e-3, hidden_sizes=(48,), dropout=0.3)
    scheduler = training.make_scheduler("onecycle", optimizer, 3, len(train_loader), lr=5e-3)

    def stop_after_epoch_1(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=3, scheduler=scheduler,
                     resume_path=checkpoints.resume_path_for(paths.model_path(name)), resume=resume,
                     hyperparameters={"lr": 5e-3}, precision=precision,
                     on_epoch_end=stop_after_epoch_1 if interrupt == "after-epoch-1" else None)
    return model, result


@pytest.mark.parametrize("interrupt", ["after-epoch-1", "mid-epoch-2"])
def test_resume_gives_exactly_the_uninterrupted_result(synthetic_mnist, interrupt, capsys):
    straight_model, straight = train_run("a.pt")
    _, first = train_run("b.pt", interrupt=interrupt)
    assert first.interrupted and len(first.history) == 1
    assert checkpoints.resume_path_for(paths.model_path("b.pt")).exists()
    assert "--resume" in capsys.readouterr().out
    # other seeds: the file must restore them
    resumed_model, resumed = train_run("b.pt", seed=123, resume=True)
    assert not resumed.interrupted and len(resumed.history) == 3
    assert metrics_only(resumed.history) == metrics_only(straight.history)
    assert (resumed.best_epoch, resumed.best_val_acc) == (
        straight.best_epoch,
        straight.best_val_acc,
    )
    straight_state = straight_model.state_dict()
    for key, value in resumed_model.state_dict().items():
        assert torch.equal(value, straight_state[key]), key
    assert not checkpoints.resume_path_for(paths.model_path("b.pt")).exists()


def test_resume_without_a_saved_state_says_run_without_resume(synthetic_mnist):
    with pytest.raises(CourseError, match="run without --resume"):
        train_run("mlp.pt", resume=True)


def test_resume_with_different_settings_is_refused(synthetic_mnist):
    train_run("mlp.pt", interrupt="after-epoch-1")
    train_loader, val_loader, _ = synthetic_loaders(batch_size=64)
    model, optimizer = adam_mlp(lr=5e-3, hidden_sizes=(48,), dropout=0.3)
    changed = (r"mlp\.resume\.pt was saved by a different run "
               r"\(hyperparameters\.lr: saved 0\.005, now 0\.001\)")
    with pytest.raises(CourseError, match=changed):
        run_fit(
            model,
            train_loader,
            val_loader,
            optimizer,
            num_epochs=3,
            resume_path=paths.model_path("mlp.resume.pt"),
            resume=True,
            hyperparameters={"lr": 1e-3},
        )


def test_rng_state_round_trip_through_a_weights_only_file(course_dirs):
    devices.seed_everything(5)
    state = {"epoch": 0, "rng": resume.capture_rng_state()}
    path = checkpoints.save_training_state(paths.model_path("rng.pt"), state)
    expected = (torch.rand(3), random.random(), random.gauss(0, 1), np.random.rand(2))
    resume.restore_rng_state(checkpoints.load_training_state(path)["rng"])
    again = (torch.rand(3), random.random(), random.gauss(0, 1), np.random.rand(2))
    assert torch.equal(expected[0], again[0]) and expected[1:3] == again[1:3]
    assert np.array_equal(expected[3], again[3])


def test_fit_rejects_bad_arguments(synthetic_mnist):
    train_loader, val_loader, _ = synthetic_loaders()
    model, optimizer = adam_mlp()
    with pytest.raises(CourseError, match="epochs"):
        run_fit(model, train_loader, val_loader, optimizer, num_epochs=0)
    with pytest.raises(CourseError, match="patience"):
        run_fit(model, train_loader, val_loader, optimizer, num_epochs=1, patience=0)
    assert math.isfinite(training.current_lr(optimizer))


BF16 = devices.Precision("bf16", channels_last=False, reason="forced by the test")


def test_resume_under_bfloat16_gives_exactly_the_uninterrupted_result(synthetic_mnist):
    straight_model, straight = train_run("a.pt", precision=BF16)
    _, first = train_run("b.pt", interrupt="after-epoch-1", precision=BF16)
    assert first.interrupted
    resumed_model, resumed = train_run("b.pt", seed=123, resume=True, precision=BF16)
    assert metrics_only(resumed.history) == metrics_only(straight.history)
    straight_state = straight_model.state_dict()
    for key, value in resumed_model.state_dict().items():
        assert value.dtype == straight_state[key].dtype  # the weights stay float32 under autocast
        assert torch.equal(value, straight_state[key]), key


def test_resume_under_a_different_precision_is_refused(synthetic_mnist):
    train_run("mlp.pt", interrupt="after-epoch-1")
    with pytest.raises(CourseError, match=r"precision: saved 'fp32', now 'bf16'"):
        train_run("mlp.pt", resume=True, precision=BF16)


def test_chance_accuracy_after_a_very_short_first_epoch_is_not_judged(synthetic_mnist):
    train_loader, val_loader, _ = synthetic_loaders(batch_size=64)  # 9 steps: too few to judge
    model, optimizer = adam_mlp(lr=1e-3)

    def stuck(model, loader, loss_fn, precision):
        return {"loss": training.UNTRAINED_LOSS, "accuracy": 0.1}

    result = run_fit(model, train_loader, val_loader, optimizer, num_epochs=2, evaluate=stuck)
    assert not result.diverged and len(result.history) == 2
