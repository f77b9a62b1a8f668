"""Accuracy gates on the real MNIST: the numbers the course promises, trained end to end.

Each gate trains with ``common.training.fit`` from a fixed seed and measures the test set once,
at the end. Skipped without the real data (``python -m common.data`` provisions it), required
under CI=true.

Measured (seeds 0, 1, 2): the 784-128-10 MLP with Adam 1e-3, batch 128 reaches 97.45-97.64% test
after 6 epochs (3 epochs give 96.8-97.05%, too close to 97% for a gate); about 1 s per epoch
on 2 cores. The plan's CNN reaches 98.73-98.82% after ONE epoch of batch 64 with Adam and a
one-cycle schedule peaking at 3e-3 (a constant 1e-3 needs 2 epochs for 98.8%: 98.2-98.3% after
one); about 60 CPU-seconds for the whole gate, so roughly 30-40 s on an idle 2-core CPU.
"""

import pytest

from common import data, evaluation, models, training
from common import device as devices


def train_and_test(name: str, batch_size: int, num_epochs: int, lr: float, scheduler: str = "none",
                   **model_kwargs) -> dict:
    """Seed, build, fit with Adam on the 54,000 training images, then measure the 10,000 test
    images."""
    devices.seed_everything(0)
    splits = data.load_mnist()
    train_loader, val_loader, test_loader = data.make_loaders(splits, batch_size=batch_size)
    model = models.build_model(name, **model_kwargs)
    optimizer = training.make_optimizer("adam", model.parameters(), lr=lr)
    schedule = training.make_scheduler(scheduler, optimizer, num_epochs, len(train_loader), lr=lr)
    options = training.FitOptions(num_epochs=num_epochs, scheduler=schedule)
    result = training.fit(model, train_loader, val_loader, optimizer, options)
    assert not (result.diverged or result.interrupted)
    scores = {
        "val_acc": result.best_val_acc,
        "test_acc": evaluation.evaluate(model, test_loader)["accuracy"],
    }
    print(
        f"{name} gate: validation {scores['val_acc']:.2%}, test {scores['test_acc']:.2%}, "
        f"{result.seconds:.1f} s"
    )
    return scores


@pytest.mark.real_mnist
def test_mlp_784_128_10_reaches_97_percent(real_mnist):
    scores = train_and_test("mlp", batch_size=128, num_epochs=6, lr=1e-3, hidden_sizes=(128,))
    assert scores["test_acc"] >= 0.97, scores


@pytest.mark.real_mnist
def test_plan_cnn_reaches_98_5_percent_in_one_epoch(real_mnist):
    scores = train_and_test("cnn", batch_size=64, num_epochs=1, lr=3e-3, scheduler="onecycle")
    assert scores["test_acc"] >= 0.985, scores
