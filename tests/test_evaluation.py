"""Evaluation: exact loss/accuracy, eval + inference mode, predictions, confusion matrix."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common import data, evaluation, models
from common.errors import CourseError


def pixel_reader() -> nn.Module:
    """A model whose 10 logits are simply the first 10 pixels of the image."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[:, :10] = torch.eye(10)
        model[1].bias.zero_()
    return model


def batches_with_scores(scores: torch.Tensor, labels: torch.Tensor, batch_size: int):
    """(images, labels) batches whose first 10 pixels are ``scores`` (N, 10)."""
    images = torch.zeros(len(labels), 1, 28, 28)
    images.view(len(labels), -1)[:, :10] = scores
    return [
        (images[i : i + batch_size], labels[i : i + batch_size])
        for i in range(0, len(labels), batch_size)
    ]


def test_evaluate_matches_full_batch_cross_entropy_with_uneven_batches():
    torch.manual_seed(0)
    scores, labels = torch.randn(23, 10), torch.randint(0, 10, (23,))
    result = evaluation.evaluate(
        pixel_reader(), batches_with_scores(scores, labels, batch_size=5)
    )  # 5,5,5,5,3
    assert result["loss"] == pytest.approx(float(F.cross_entropy(scores, labels)), rel=1e-5)
    assert result["accuracy"] == pytest.approx(float((scores.argmax(1) == labels).float().mean()))


def test_evaluate_uses_eval_and_inference_mode_then_restores_the_mode():
    model = models.MLP((16,), dropout=0.5)
    seen = []
    model.layers.fc1.register_forward_hook(
        lambda module, inputs, output: seen.append(
            (module.training, torch.is_inference_mode_enabled())
        )
    )
    loader = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))]
    model.train()
    first = evaluation.evaluate(model, loader)
    second = evaluation.evaluate(model, loader)
    assert first == second  # dropout is off, so evaluating twice gives the same numbers
    assert seen == [(False, True), (False, True)]
    assert model.training and model.layers.dropout1.training  # back in training mode
    model.eval()
    evaluation.evaluate(model, loader)
    assert not model.training


def test_evaluate_with_a_batch_loader(synthetic_mnist):
    splits = data.load_mnist(val_fraction=0.1)
    _, val_loader, _ = data.make_loaders(splits, batch_size=32, eval_batch_size=25)
    result = evaluation.evaluate(models.MLP(), val_loader)
    assert val_loader.num_samples == 60
    assert 0.0 <= result["accuracy"] <= 1.0 and math.isfinite(result["loss"])
    assert result["accuracy"] * 60 == pytest.approx(
        round(result["accuracy"] * 60)
    )  # a whole number correct


def test_empty_loader_is_a_course_error():
    with pytest.raises(CourseError, match="empty"):
        evaluation.evaluate(pixel_reader(), [])


def test_collect_predictions():
    torch.manual_seed(1)
    scores, labels = torch.randn(12, 10), torch.randint(0, 10, (12,))
    predictions = evaluation.collect_predictions(
        pixel_reader(), batches_with_scores(scores, labels, batch_size=5)
    )
    assert len(predictions) == 12
    assert torch.equal(predictions.labels, labels)
    assert torch.equal(predictions.preds, scores.argmax(1))
    torch.testing.assert_close(predictions.probs, scores.softmax(1))
    torch.testing.assert_close(predictions.probs.sum(1), torch.ones(12))
    assert predictions.accuracy == pytest.approx(float((scores.argmax(1) == labels).float().mean()))
    torch.testing.assert_close(predictions.confidence, scores.softmax(1).max(1).values)
    assert not hasattr(predictions, "images")


def test_confusion_matrix_rows_are_true_labels():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 2, 0])
    cm = evaluation.confusion_matrix(labels, preds, num_classes=3)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert evaluation.confusion_matrix(labels, preds).shape == (10, 10)


def test_per_class_accuracy_and_a_class_without_images():
    cm = evaluation.confusion_matrix(
        torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0]), 4
    )
    accuracy = evaluation.per_class_accuracy(cm)
    torch.testing.assert_close(accuracy[:3], torch.tensor([0.5, 1.0, 2 / 3]))
    assert math.isnan(accuracy[3])


def test_confusion_matrix_shapes_must_match():
    with pytest.raises(ValueError):
        evaluation.confusion_matrix(torch.tensor([1, 2]), torch.tensor([1]))
