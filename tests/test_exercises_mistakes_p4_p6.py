"""Typical mistakes of Phases 4-6 are named by the checks.

Each function below is what a learner might write; the check must fail it with the message that
names the mistake (in one line that fits the report), never with a traceback.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from exercises import _registry as registry
from tests.exercise_mistakes import MESSAGE_ROOM, REFERENCE, run


# --- Phase 4 ---------------------------------------------------------------------------------
def dropout_no_rescale(x, p, training=True):
    return x * (torch.rand(x.shape) >= p) if training else x


def dropout_times_keep(x, p, training=True):
    return x * (torch.rand(x.shape) >= p) * (1 - p) if training else x


def dropout_keeps_p(x, p, training=True):
    return x * (torch.rand(x.shape) < p) / (1 - p) if training and p > 0 else x


def dropout_also_in_eval(x, p, training=True):
    return x * (torch.rand(x.shape) >= p) / (1 - p)


def dropout_in_place(x, p, training=True):
    if training:
        x *= (torch.rand(x.shape) >= p) / (1 - p)
    return x


def dropout_one_mask_per_batch(x, p, training=True):
    return x * (torch.rand(x.shape[1:]) >= p) / (1 - p) if training else x


def stop_vs_previous(val_accuracies, patience):
    worse = 0
    for before, now in zip(val_accuracies, val_accuracies[1:]):
        worse = worse + 1 if now <= before else 0
    return worse >= patience


def stop_ties_improve(val_accuracies, patience):
    if not val_accuracies:
        return False
    last_best = max(i for i, v in enumerate(val_accuracies) if v == max(val_accuracies))
    return len(val_accuracies) - 1 - last_best >= patience


def stop_one_early(val_accuracies, patience):
    if not val_accuracies:
        return False
    return len(val_accuracies) - val_accuracies.index(max(val_accuracies)) >= patience


def stop_min(val_accuracies, patience):
    if not val_accuracies:
        return False
    return len(val_accuracies) - 1 - val_accuracies.index(min(val_accuracies)) >= patience


def stop_returns_int(val_accuracies, patience):
    return int(REFERENCE["p4_early_stopping"](val_accuracies, patience))


# --- Phase 5 ---------------------------------------------------------------------------------
def conv_flipped(images, weight, bias):
    return F.conv2d(images, weight.flip(-2, -1), bias)


def conv_no_bias(images, weight, bias):
    return F.conv2d(images, weight)


def conv_same_size(images, weight, bias):
    return F.conv2d(images, weight, bias, padding="same")


def conv_range_short(images, weight, bias):
    return F.conv2d(images, weight, bias)[..., :-1, :-1]


def conv_swapped(images, weight, bias):
    return F.conv2d(images, weight.transpose(-2, -1), bias)


def pool_average(maps):
    return F.avg_pool2d(maps, 2)


def pool_ceil(maps):
    return F.max_pool2d(maps, 2, ceil_mode=True)


def pool_from_zero(maps):
    return F.max_pool2d(maps, 2).clamp(min=0)


def pool_overlapping(maps):
    return F.max_pool2d(maps, 2, stride=1)


def size_no_plus_one(size, kernel, padding=0, stride=1):
    return (size + 2 * padding - kernel) // stride


def size_padding_once(size, kernel, padding=0, stride=1):
    return (size + padding - kernel) // stride + 1


def size_float(size, kernel, padding=0, stride=1):
    return (size + 2 * padding - kernel) / stride + 1


def size_ceil(size, kernel, padding=0, stride=1):
    return -(-(size + 2 * padding - kernel) // stride) + 1


# --- Phase 6 ---------------------------------------------------------------------------------
def fgsm_minus(model, images, labels, epsilon):
    pixels = images.clone().requires_grad_(True)
    F.cross_entropy(model(pixels), labels).backward()
    return (images - epsilon * pixels.grad.sign()).clamp(0, 1)


def fgsm_no_clamp(model, images, labels, epsilon):
    pixels = images.clone().requires_grad_(True)
    F.cross_entropy(model(pixels), labels).backward()
    return (images + epsilon * pixels.grad.sign()).detach()


def fgsm_no_sign(model, images, labels, epsilon):
    pixels = images.clone().requires_grad_(True)
    F.cross_entropy(model(pixels), labels).backward()
    return (images + epsilon * pixels.grad).clamp(0, 1)


def fgsm_in_place(model, images, labels, epsilon):
    adversarial = REFERENCE["p6_fgsm"](model, images, labels, epsilon)
    images.copy_(adversarial)
    return images


def ece_unweighted(confidence, correct, num_bins=10):
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)
    gaps = [(correct[bins == b].float().mean() - confidence[bins == b].mean()).abs()
            for b in range(num_bins) if (bins == b).any()]
    return float(sum(gaps) / len(gaps))


def ece_signed(confidence, correct, num_bins=10):
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)
    return float(sum((correct[bins == b].float().mean() - confidence[bins == b].mean())
                     * (bins == b).float().mean() for b in range(num_bins) if (bins == b).any()))


def ece_nan_bins(confidence, correct, num_bins=10):
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)
    return float(sum((correct[bins == b].float().mean() - confidence[bins == b].mean()).abs()
                     * (bins == b).float().mean() for b in range(num_bins)))


def ece_index_past_end(confidence, correct, num_bins=10):
    totals = [[0, 0.0, 0.0] for _ in range(num_bins)]  # answers, right ones, confidence sum
    for value, right in zip(confidence.tolist(), correct.tolist()):
        bin_total = totals[int(value * num_bins)]  # 1.0 -> index num_bins: one past the end
        bin_total[0] += 1
        bin_total[1] += right
        bin_total[2] += value
    return sum(abs(r / n - c / n) * n / len(confidence) for n, r, c in totals if n)


MISTAKES = [
    ("p4_dropout", dropout_no_rescale, "off by a factor of 1/(1-p): inverted dropout rescales"),
    ("p4_dropout", dropout_times_keep, "DIVIDE"),
    ("p4_dropout", dropout_keeps_p, "that is 1 - p"),
    ("p4_dropout", dropout_also_in_eval, "training=False"),
    ("p4_dropout", dropout_in_place, "in place"),
    ("p4_dropout", dropout_one_mask_per_batch, "same mask"),
    ("p4_early_stopping", stop_vs_previous, "BEST"),
    ("p4_early_stopping", stop_ties_improve, "equal accuracy is not an improvement"),
    ("p4_early_stopping", stop_one_early, "one epoch early"),
    ("p4_early_stopping", stop_min, "higher is better"),
    ("p4_early_stopping", stop_returns_int, "return True or False"),
    ("p5_conv2d", conv_flipped, "flipped the kernel"),
    ("p5_conv2d", conv_no_bias, "bias is missing"),
    ("p5_conv2d", conv_same_size, "without padding the output shrinks"),
    ("p5_conv2d", conv_range_short, "one row/column short"),
    ("p5_conv2d", conv_swapped, "rows and columns swapped"),
    ("p5_max_pool", pool_average, "mean of each 2x2 block"),
    ("p5_max_pool", pool_ceil, "odd last row/column is dropped"),
    ("p5_max_pool", pool_from_zero, "negative maxima became 0"),
    ("p5_max_pool", pool_overlapping, "windows overlap"),
    ("p5_output_size", size_no_plus_one, "the + 1 is missing"),
    ("p5_output_size", size_padding_once, "BOTH sides"),
    ("p5_output_size", size_float, "floor division"),
    ("p5_output_size", size_ceil, "round down"),
    ("p6_fgsm", fgsm_minus, "LOWER the loss"),
    ("p6_fgsm", fgsm_no_clamp, "outside [0, 1]"),
    ("p6_fgsm", fgsm_no_sign, "SIGN of the gradient"),
    ("p6_fgsm", fgsm_in_place, "in place"),
    ("p6_calibration", ece_unweighted, "share of the answers"),
    ("p6_calibration", ece_signed, "absolute gap"),
    ("p6_calibration", ece_nan_bins, "skip bins with no answers"),
    ("p6_calibration", ece_index_past_end, "index past the end"),
]


@pytest.mark.parametrize("name, variant, words", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_a_typical_mistake_is_named(name, variant, words):
    result = run(name, variant)
    assert result.status in ("wrong", "error")
    assert words in result.message
    assert "\n" not in result.message and len(result.message) <= MESSAGE_ROOM, result.message
    assert "Traceback" not in result.message


def test_every_exercise_names_at_least_two_mistakes():
    counts = {e.name: sum(name == e.name for name, _, _ in MISTAKES)
              for e in registry.EXERCISES if e.phase in ('4', '5', '6')}
    assert min(counts.values()) >= 2, counts


def test_a_crash_in_your_code_names_your_line():
    result = run("p6_calibration", ece_index_past_end)
    line = ece_index_past_end.__code__.co_firstlineno + 3  # the totals[...] line
    assert result.status == "error"
    assert f"test_exercises_mistakes_p4_p6.py line {line}: IndexError" in result.message
