"""Looking inside a trained classifier: its mistakes, its attention, its confidence (Phase 6).

Accuracy is one number; this module breaks it apart:

* :func:`top_confused_pairs` - which digits the model mixes up (the course prints yours);
* :func:`rank_by_confidence` - the mistakes it was surest about, the right answers it nearly missed;
* :func:`saliency_maps` - which pixels would change the answer most if they changed (input
gradients);
* :func:`reliability` - whether "95% sure" really means right 95% of the time (expected calibration
error);
* :func:`confident_subset` - how accurate the answers above a confidence threshold are, and how many
there are.

Attacks and distortions (FGSM, noise, rotation) live in :mod:`common.adversarial`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import torch
from torch import nn

from common import adversarial, data, evaluation


def finding(text: str) -> None:
    """Print one finding of Phase 6, wrapped to fit a 100-column terminal."""
    text = " ".join(text.split())  # line breaks in the message are re-made to fit
    print(textwrap.fill(text, width=100, initial_indent="finding: ", subsequent_indent=" " * 9))


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
    """Indices of the mistakes, most confident first, and of the right answers, least confident
    first.

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
    noise = torch.randn((samples, *images.shape),
                        generator=torch.Generator().manual_seed(seed)) * noise_std
    # (S * B, 1, 28, 28)
    pixels = (images.unsqueeze(0) + noise).flatten(0, 1).to(device).requires_grad_(True)
    was_training = model.training
    model.eval()  # dropout off: the saliency of the model that answers, not of a random sub-network
    try:
        logits = model(data.normalize(pixels))  # (S * B, 10)
        # one score per copy
        chosen = logits.gather(1, targets.repeat(samples).to(device).view(-1, 1)).sum()
        (gradient,) = torch.autograd.grad(chosen, pixels)
    finally:
        model.train(was_training)
    # (B, 28, 28)
    return gradient.abs().amax(dim=1).view(samples, len(images), *images.shape[2:]).mean(0).cpu()


@dataclass
class Reliability:
    """Confidence bins: mean confidence, accuracy and size of each, and the calibration error."""

    edges: torch.Tensor  # (num_bins + 1,) from 0 to 1
    confidence: torch.Tensor  # (num_bins,) mean confidence in each bin, nan when empty
    accuracy: torch.Tensor  # (num_bins,) share of right answers in each bin, nan when empty
    counts: torch.Tensor  # (num_bins,) answers in each bin
    # expected calibration error: sum over bins of (share of answers) * |accuracy - confidence|
    ece: float


def reliability(confidence: torch.Tensor, correct: torch.Tensor, num_bins: int = 10) -> Reliability:
    """Group answers by confidence into ``num_bins`` equal bins and compare with how often they were
    right.

    A calibrated model is right 80% of the time when it says 80%. The expected calibration error
    (ECE) is the average gap between confidence and accuracy, weighted by how many answers each
    bin holds: 0 is perfect, 0.05 means "off by 5 points" on average.
    """
    confidence = torch.as_tensor(confidence, dtype=torch.float64).flatten()
    correct = torch.as_tensor(correct, dtype=torch.float64).flatten()
    edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float64)
    # bin b holds (b/n, (b+1)/n]
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)
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


@dataclass
class FilterChange:
    """How trained filters differ from the same filters before training (medians over filters)."""

    cosine: float  # direction kept: cosine similarity of each learned filter with its start
    change: float  # |learned - start| / |start|
    balance_learned: float  # |sum of weights| / sum of |weights|: 0 = pure contrast, 1 = brightness
    balance_untrained: float
    roughness_learned: float  # energy of neighbour differences / energy: 0 = flat, large = speckle
    roughness_untrained: float


def _balance(kernels: torch.Tensor) -> torch.Tensor:
    return kernels.sum(dim=(1, 2)).abs() / kernels.abs().sum(dim=(1, 2)).clamp_min(1e-12)


def _roughness(kernels: torch.Tensor) -> torch.Tensor:
    across = (kernels[:, :, 1:] - kernels[:, :, :-1]).pow(2).sum(dim=(1, 2))
    down = (kernels[:, 1:, :] - kernels[:, :-1, :]).pow(2).sum(dim=(1, 2))
    return (across + down) / kernels.pow(2).sum(dim=(1, 2)).clamp_min(1e-12)


def filter_change(learned: torch.Tensor, untrained: torch.Tensor) -> FilterChange:
    """Compare first-layer kernels (C, 1, k, k) with the untrained ones they started from.

    "Mixes positive and negative weights" is true of almost any random 3 x 3 filter, so it
    proves nothing; these numbers are measured against the untrained start instead.
    """
    learned, untrained = learned.detach().float().cpu()[:, 0], untrained.detach().float().cpu()[:,
                                                                                                0]
    flat, start = learned.flatten(1), untrained.flatten(1)  # (C, k*k)
    return FilterChange(
        cosine=float(torch.nn.functional.cosine_similarity(flat, start).median()),
        change=float(((flat - start).norm(dim=1) / start.norm(dim=1)).median()),
        balance_learned=float(_balance(learned).median()),
        balance_untrained=float(_balance(untrained).median()),
        roughness_learned=float(_roughness(learned).median()),
        roughness_untrained=float(_roughness(untrained).median()))


def slant_degrees(images: torch.Tensor) -> torch.Tensor:
    """The tilt of each digit's main axis from vertical, in degrees (+ = counter-clockwise).

    From the image moments: a digit whose ink drifts left as it goes down leans like "/", which
    is a clockwise turn of an upright stroke (negative, as in :func:`common.adversarial.rotate`).
    ``images`` are [0, 1] pixels (N, 28, 28).
    """
    ys, xs = torch.meshgrid(torch.arange(images.shape[-2], dtype=torch.float32),
                            torch.arange(images.shape[-1], dtype=torch.float32), indexing="ij")
    mass = images.sum(dim=(1, 2)).clamp_min(1e-6)
    cx, cy = (images * xs).sum(dim=(1, 2)) / mass, (images * ys).sum(dim=(1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]  # (N, 28, 28)
    mu11 = (images * dx * dy).sum(dim=(1, 2)) / mass
    mu02 = (images * dy * dy).sum(dim=(1, 2)) / mass
    return torch.rad2deg(torch.atan(mu11 / mu02.clamp_min(1e-6)))


def active_share(model: nn.Module, images: torch.Tensor, layer: str) -> float:
    """Share of the units of ``layer`` (a module name) that are above zero for [0, 1] ``images``."""
    from common import activations  # local: activations imports models, which is heavier

    device = evaluation.model_device(model)
    with evaluation.evaluating(model), activations.recording(
            model, [(layer, getattr(model, layer))]) as record:
        model(data.normalize(images.to(device)))
    return float((record.outputs[layer] > 0).float().mean())


def merge_sparse_bins(result: Reliability, min_count: int) -> Reliability:
    """The same answers in fewer bins: each bin with fewer than ``min_count`` answers joins the
    next.

    A bin of 3 answers has an accuracy of 0, 33, 67 or 100% by chance alone; merged, the
    reliability diagram shows what the data can support. The ECE is the original one.
    """
    filled = torch.nonzero(result.counts).flatten()
    edges = [float(result.edges[int(filled[0])]) if len(filled) else 0.0]  # from the first answer
    conf, acc, counts = [], [], []
    pending = [0, 0.0, 0.0]  # answers, sum of confidence, sum of right answers
    for b in range(len(result.counts)):
        n = int(result.counts[b])
        if n:
            pending[0] += n
            pending[1] += n * float(result.confidence[b])
            pending[2] += n * float(result.accuracy[b])
        last = b == len(result.counts) - 1
        if pending[0] >= min_count or (last and pending[0]):
            edges.append(float(result.edges[b + 1]))
            counts.append(pending[0])
            conf.append(pending[1] / pending[0])
            acc.append(pending[2] / pending[0])
            pending = [0, 0.0, 0.0]
    if len(counts) > 1 and counts[-1] < min_count:  # a thin last bin joins the one before it
        n1, n2 = counts[-2], counts[-1]
        conf[-2] = (conf[-2] * n1 + conf[-1] * n2) / (n1 + n2)
        acc[-2] = (acc[-2] * n1 + acc[-1] * n2) / (n1 + n2)
        counts[-2] = n1 + n2
        edges[-2] = edges[-1]
        del conf[-1], acc[-1], counts[-1], edges[-1]
    edges[-1] = 1.0
    return Reliability(torch.tensor(edges), torch.tensor(conf), torch.tensor(acc),
                       torch.tensor(counts, dtype=torch.long), result.ece)


def slant_range(images: torch.Tensor, turn: float) -> tuple[float, float, float]:
    """The 5th and 95th percentile of :func:`slant_degrees`, and the share still inside that
    range after a turn of ``turn`` degrees (the worse of the two directions)."""
    slant = slant_degrees(images)
    low, high = (float(q) for q in torch.quantile(slant, torch.tensor([0.05, 0.95])))
    inside = [float(((slant + t >= low) & (slant + t <= high)).float().mean())
              for t in (turn, -turn)]
    return low, high, min(inside)


def noise_diagnosis(models_by_name: dict[str, nn.Module], images: torch.Tensor,
                    labels: torch.Tensor, std: float, blur_size: int, seed: int) -> dict:
    """Numbers that explain what Gaussian pixel noise does to the CNN (Phase 6).

    The grey the clipped noise leaves on the black background, the share of the CNN's conv2
    units that fire on clean and noisy digits, the CNN's most common answer under noise, and
    each model's accuracy when the noisy digits are blurred (neighbours averaged) first.
    """
    noisy = adversarial.add_noise(images, std, torch.Generator().manual_seed(seed))
    cnn = models_by_name["CNN"]
    background = noisy[images == 0]  # pixels that were black
    answers = adversarial.predict(cnn, noisy).argmax(1)
    common = int(torch.bincount(answers, minlength=data.NUM_CLASSES).argmax())
    blurred = adversarial.blur(noisy, blur_size)
    return {"background_mean": float(background.mean()),
            "background_std": float(background.std()),
            "active_clean": active_share(cnn, images, "relu2"),
            "active_noisy": active_share(cnn, noisy, "relu2"),
            "common_answer": (common, float((answers == common).float().mean())),
            "blurred": {name: adversarial.accuracy_on(model, blurred, labels)
                        for name, model in models_by_name.items()}}
