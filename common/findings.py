"""What a run's own curves say, in sentences (Phases 3-5): computed from its history, never canned.

Each function returns the findings that hold for this run (an empty list when none does), as
lines of at most 100 columns ready to print.
"""

from __future__ import annotations

import textwrap

WIDTH = 100  # the course prints nothing wider
ROSE_BY = 0.05  # validation loss 5% above its lowest point counts as "rising", not noise


def wrap(text: str) -> list[str]:
    """``text`` as lines of at most 100 columns, continuation lines indented."""
    return textwrap.wrap(text, WIDTH, subsequent_indent="  ")


def overfitting(history: list[dict]) -> list[str]:
    """Validation loss bottomed out and rose again while the training loss kept falling."""
    if len(history) < 3:
        return []
    best = min(history, key=lambda record: record["val_loss"])
    last = history[-1]
    if best is last or last["val_loss"] < best["val_loss"] * (1 + ROSE_BY):
        return []
    if last["train_loss"] >= best["train_loss"]:
        return []
    return wrap(f"finding: validation loss was lowest at epoch {best['epoch']} "
                f"({best['val_loss']:.4f}) and rose to {last['val_loss']:.4f} by epoch "
                f"{last['epoch']}, while the training loss "
                f"kept falling ({best['train_loss']:.4f} -> {last['train_loss']:.4f}): the network "
                "began to memorise its training images (overfitting). Its best-on-validation "
                "weights "
                "are the ones kept; --patience 2 would have stopped there, --dropout fights it.")


def train_below_validation(history: list[dict], dropout: float) -> list[str]:
    """Epoch 1's training accuracy below its validation accuracy, and why."""
    if not history or history[0]["train_acc"] >= history[0]["val_acc"]:
        return []
    first = history[0]
    reasons = "it is averaged over the whole epoch, while the network was still learning"
    if dropout > 0:
        reasons += (f", and dropout ({dropout:g}) switches off units during training but not "
                    "during validation")
    return wrap(f"finding: in epoch 1 the training accuracy ({first['train_acc']:.1%}) is below "
                "the "
                f"validation accuracy ({first['val_acc']:.1%}). Not a bug: {reasons}.")


def of_training(history: list[dict], dropout: float = 0.0) -> list[str]:
    """Every finding about a training run's curves."""
    return train_below_validation(history, dropout) + overfitting(history)
