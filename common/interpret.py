"""Looking inside a trained classifier: its mistakes, its attention, its confidence (Phase 6).

Accuracy is one number; this module breaks it apart:

* :func:`top_confused_pairs` - which digits the model mixes up (the plan expects 4/9, 3/5, 7/1);
* :func:`rank_by_confidence` - the mistakes it was surest about, the right answers it nearly missed;
* :func:`saliency_maps` - which pixels would change the answer most if they changed (input gradients);
* :func:`reliability` - whether "95% sure" really means right 95% of the time (expected calibration error);
* :func:`confident_subset` - how accurate the answers above a confidence threshold are, and how many there are.

Attacks and distortions (FGSM, noise, rotation) live in :mod:`common.adversarial`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from common import adversarial, data, evaluation


@dataclass
class ConfusedPair:
    """Two digits and how often each was read as the other."""

    a: int
    b: int
    a_as_b: int
    b_as_a: int

    @property
    def total(self) -> int:
        return self.a_as_b + self.b_as_a

    def __str__(self) -> str:
        return (f"{self.a}/{self.b}: {self.total} "
                f"({self.a} read as {self.b}: {self.a_as_b}, {self.b} as {self.a}: {self.b_as_a})")


def top_confused_pairs(cm: torch.Tensor, k: int = 3) -> list[ConfusedPair]:
    """The ``k`` pairs of digits confused most often, in either direction, from a confusion matrix.

    A 4 read as a 9 and a 9 read as a 4 are one confusion between similar shapes, so the two
    off-diagonal cells of each pair are added up.
    """
    cm = torch.as_tensor(cm).long()
    both_ways = cm + cm.T  # (10, 10) symmetric: cell (a, b) = a read as b + b read as a
    pairs = [ConfusedPair(a, b, int(cm[a, b]), int(cm[b, a]))
             for a in range(len(cm)) for b in range(a + 1, len(cm)) if both_ways[a, b] > 0]
    return sorted(pairs, key=lambda pair: (-pair.total, pair.a, pair.b))[:k]


def rank_by_confidence(predictions: evaluation.Predictions) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the mistakes, most confident first, and of the right answers, least confident first.

    A confident mistake is a digit the model "knew" wrongly (often a mislabelled or truly
    ambiguous image); an unsure right answer is a digit it nearly got wrong.
    """
    confidence = predictions.confidence
    wrong = torch.nonzero(predictions.preds != predictions.labels).squeeze(1)
    right = torch.nonzero(predictions.preds == predictions.labels).squeeze(1)
    return wrong[confidence[wrong].argsort(descending=True)], right[confidence[right].argsort()]


def saliency_maps(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None,
                  samples: int = 1, noise_std: float = 0.0, seed: int = 0) -> torch.Tensor:
    """|d logit / d pixel| for each image's target class (default: the predicted one), (B, 28, 28).

    The gradient says how much the class score would move if one pixel changed a little: bright
    pixels are the ones the answer depends on. ``images`` are [0, 1] pixels (B, 1, 28, 28); the
    gradient is taken with respect to them, through the same normalization as in training.
    A single gradient is speckled; with ``samples`` > 1 it is averaged over that many copies with
    Gaussian noise of ``noise_std`` added ("SmoothGrad", Smilkov et al. 2017), which keeps what
    is stable and shows the shape of the evidence.
    """
    device = evaluation.model_device(model)
    if targets is None:
        targets = adversarial.predict(model, images).argmax(dim=1)
    noise = torch.randn((samples, *images.shape), generator=torch.Generator().manual_seed(seed)) * noise_std
    pixels = (images.unsqueeze(0) + noise).flatten(0, 1).to(device).requires_grad_(True)  # (S * B, 1, 28, 28)
    was_training = model.training
    model.eval()  # dropout off: the saliency of the model that answers, not of a random sub-network
    try:
        logits = model(data.normalize(pixels))  # (S * B, 10)
        chosen = logits.gather(1, targets.repeat(samples).to(device).view(-1, 1)).sum()  # one score per copy
        (gradient,) = torch.autograd.grad(chosen, pixels)
    finally:
        model.train(was_training)
    return gradient.abs().amax(dim=1).view(samples, len(images), *images.shape[2:]).mean(0).cpu()  # (B, 28, 28)


@dataclass
class Reliability:
    """Confidence bins: mean confidence, accuracy and size of each, and the calibration error."""

    edges: torch.Tensor  # (num_bins + 1,) from 0 to 1
    confidence: torch.Tensor  # (num_bins,) mean confidence in each bin, nan when empty
    accuracy: torch.Tensor  # (num_bins,) share of right answers in each bin, nan when empty
    counts: torch.Tensor  # (num_bins,) answers in each bin
    ece: float  # expected calibration error: sum over bins of (share of answers) * |accuracy - confidence|


def reliability(confidence: torch.Tensor, correct: torch.Tensor, num_bins: int = 10) -> Reliability:
    """Group answers by confidence into ``num_bins`` equal bins and compare with how often they were right.

    A calibrated model is right 80% of the time when it says 80%. The expected calibration error
    (ECE) is the average gap between confidence and accuracy, weighted by how many answers each
    bin holds: 0 is perfect, 0.05 means "off by 5 points" on average.
    """
    confidence = torch.as_tensor(confidence, dtype=torch.float64).flatten()
    correct = torch.as_tensor(correct, dtype=torch.float64).flatten()
    edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float64)
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)  # bin b holds (b/n, (b+1)/n]
    counts = torch.bincount(bins, minlength=num_bins).double()
    mean_conf = torch.bincount(bins, weights=confidence, minlength=num_bins) / counts
    accuracy = torch.bincount(bins, weights=correct, minlength=num_bins) / counts  # nan where empty
    gaps = torch.nan_to_num((accuracy - mean_conf).abs())
    ece = float((counts / max(len(confidence), 1) * gaps).sum())
    return Reliability(edges.float(), mean_conf.float(), accuracy.float(), counts.long(), ece)


@dataclass
class ConfidentSubset:
    """What happens if only answers at or above ``threshold`` confidence are trusted."""

    threshold: float
    kept: int
    total: int
    accuracy: float  # on the kept answers (nan when none is kept)

    @property
    def kept_fraction(self) -> float:
        return self.kept / max(self.total, 1)


def confident_subset(predictions: evaluation.Predictions, threshold: float) -> ConfidentSubset:
    """Accuracy of the answers given with at least ``threshold`` confidence, and how many there are.

    Trading coverage for accuracy is how a deployed classifier hands the hard cases to a person.
    """
    kept = predictions.confidence >= threshold
    right = (predictions.preds == predictions.labels)[kept]
    accuracy = float(right.float().mean()) if len(right) else float("nan")
    return ConfidentSubset(threshold, int(kept.sum()), len(predictions), accuracy)
