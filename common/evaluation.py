"""Measuring a model: loss and accuracy, predictions, confusion matrix (introduced in Phase 3).

Evaluation switches the model to eval mode (dropout off, batch normalization uses its running
averages) and runs under ``torch.inference_mode()`` (no gradients are recorded, which saves
memory and time). The model's previous train/eval mode is restored afterwards, so evaluating
in the middle of training changes nothing. Any iterable of ``(images, labels)`` batches works:
a :class:`common.data.BatchLoader` or a ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from common.data import NUM_CLASSES
from common.device import FP32, Precision
from common.errors import CourseError

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights live, so batches can be moved there."""
    return next(model.parameters(), torch.empty(0)).device


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode + inference mode inside the block; every submodule's own mode restored after it."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        for module, training in modes:
            module.training = training


def _batches(
    model: nn.Module, loader: Batches, precision: Precision = FP32
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(images, labels, logits)`` for every batch, on the model's device; logits in float32.

    ``precision`` (common/device.py) sets the memory format of the images and the autocast the
    forward pass runs under; the logits are turned back to float32 either way.
    """
    device = model_device(model)
    for images, labels in loader:
        images, labels = precision.images(images.to(device)), labels.to(device)
        with precision.autocast():
            logits = model(images)  # (B, 10)
        yield images, labels, logits.float()


def evaluate(
    model: nn.Module, loader: Batches, loss_fn: nn.Module | None = None, precision: Precision = FP32
) -> dict[str, float]:
    """Average loss and accuracy (a fraction in [0, 1]) of ``model`` over every batch of ``loader``.

    ``precision``: how the model computes (default: plain fp32); the loss is computed in float32.
    """
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    total_loss, correct, count = 0.0, 0, 0
    with evaluating(model):
        for _, labels, logits in _batches(model, loader, precision):
            total_loss += float(loss_fn(logits, labels)) * len(labels)  # batch mean -> batch sum
            correct += int((logits.argmax(dim=1) == labels).sum())
            count += len(labels)
    if count == 0:
        raise CourseError("cannot evaluate on an empty set of images")
    return {"loss": total_loss / count, "accuracy": correct / count}


@dataclass
class Predictions:
    """What a model said about every image of a set (Phase 6): labels, guesses, probabilities."""

    labels: torch.Tensor  # (N,) int64
    preds: torch.Tensor  # (N,) int64, the most probable digit
    probs: torch.Tensor  # (N, 10) softmax probabilities, each row sums to 1

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).float().mean())

    @property
    def confidence(self) -> torch.Tensor:
        """(N,) the probability the model gave its own guess."""
        return self.probs.max(dim=1).values


def collect_predictions(
    model: nn.Module, loader: Batches, precision: Precision = FP32
) -> Predictions:
    """Labels, predicted digits, float32 softmax probabilities of every image (on the CPU)."""
    labels, probs = [], []
    with evaluating(model):
        for _, batch_labels, logits in _batches(model, loader, precision):
            labels.append(batch_labels.cpu())
            probs.append(
                torch.softmax(logits, dim=1).cpu()
            )  # softmax only because probabilities are shown
    if not labels:
        raise CourseError("cannot collect predictions from an empty set of images")
    probs_all = torch.cat(probs)  # (N, 10)
    return Predictions(labels=torch.cat(labels), preds=probs_all.argmax(dim=1), probs=probs_all)


def confusion_matrix(
    labels: torch.Tensor, preds: torch.Tensor, num_classes: int = NUM_CLASSES
) -> torch.Tensor:
    """(num_classes, num_classes) counts: row = true digit, column = predicted digit."""
    labels, preds = torch.as_tensor(labels).long().cpu(), torch.as_tensor(preds).long().cpu()
    if labels.shape != preds.shape:
        raise ValueError(
            f"labels {tuple(labels.shape)} and preds {tuple(preds.shape)} differ in shape"
        )
    pair_codes = labels * num_classes + preds  # one number per (true, predicted) pair
    return torch.bincount(pair_codes, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """(num_classes,) share of each true digit predicted correctly; nan for a digit never seen."""
    cm = cm.double()
    return (cm.diagonal() / cm.sum(dim=1)).float()
