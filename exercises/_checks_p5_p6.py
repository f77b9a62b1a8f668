"""Checks of the Phase 5-6 exercises: convolution, max pooling, output size, calibration, FGSM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exercises._checking import Mistake, close, differ, expect_number, expect_tensor, shape_text


def check_conv2d(yours, reference) -> None:
    gen = torch.Generator().manual_seed(8)
    cases = [("(2, 1, 8, 8), 3 filters", torch.randn(2, 1, 8, 8, generator=gen),
              torch.randn(3, 1, 3, 3, generator=gen)),
             ("one 28 x 28 digit", torch.rand(1, 1, 28, 28, generator=gen),
              torch.randn(4, 1, 3, 3, generator=gen)),
             ("(1, 3, 7, 5), 2x3 kernels", torch.randn(1, 3, 7, 5, generator=gen),
              torch.randn(2, 3, 2, 3, generator=gen)),
             ("all-zero images", torch.zeros(2, 2, 5, 5), torch.randn(2, 2, 3, 3, generator=gen))]
    for case, images, weight in cases:
        bias = torch.randn(len(weight), generator=gen)  # (C_out,)
        expected = reference(images.clone(), weight.clone(), bias.clone())
        actual = yours(images.clone(), weight.clone(), bias.clone())
        height, width = images.shape[-2:]
        if isinstance(actual, torch.Tensor) and actual.shape != expected.shape:
            if tuple(actual.shape[-2:]) == (height, width):
                raise Mistake(f"{case}: without padding the output shrinks: H - k + 1 = "
                              f"{expected.shape[-2]} rows, not {height}")
            if tuple(actual.shape[-2:]) == tuple(s - 1 for s in expected.shape[-2:]):
                raise Mistake(f"{case}: one row/column short: a kernel fits at H - k + 1 positions")
        actual = expect_tensor(actual, expected.shape, f"{case}: your feature maps")
        if close(actual, expected, atol=1e-4):
            continue
        if close(actual, F.conv2d(images, weight.flip(-2, -1), bias), atol=1e-4):
            raise Mistake(f"{case}: you flipped the kernel: PyTorch's conv2d does not flip it")
        if close(actual, F.conv2d(images, weight), atol=1e-4):
            raise Mistake(f"{case}: the bias is missing: add bias[c] to all of output channel c")
        if weight.shape[-1] == weight.shape[-2] and close(
                actual, F.conv2d(images, weight.transpose(-2, -1), bias), atol=1e-4):
            raise Mistake(f"{case}: rows and columns swapped: weight[..., a, b] goes with [i + a, "
                          "j + b]")
        raise differ(case, actual, expected)


def check_max_pool(yours, reference) -> None:
    gen = torch.Generator().manual_seed(9)
    cases = [("(2, 3, 8, 8)", torch.randn(2, 3, 8, 8, generator=gen)),
             ("one 28 x 28 map", torch.randn(1, 1, 28, 28, generator=gen)),
             ("(1, 2, 7, 5)", torch.randn(1, 2, 7, 5, generator=gen)),
             ("all-negative maps", -5 - torch.rand(2, 2, 4, 6, generator=gen)),
             ("all-zero maps", torch.zeros(1, 1, 4, 4))]
    for case, maps in cases:
        expected = reference(maps.clone())
        actual = yours(maps.clone())
        height, width = maps.shape[-2:]
        if isinstance(actual, torch.Tensor) and actual.shape != expected.shape:
            if tuple(actual.shape[-2:]) == (-(-height // 2), -(-width // 2)):
                raise Mistake(f"{case}: got {shape_text(actual.shape)}: an odd last row/column is "
                              "dropped")
            if tuple(actual.shape[-2:]) == (height - 1, width - 1):
                raise Mistake(f"{case}: your windows overlap: move by 2 (stride 2), the output is "
                              "half the size")
        actual = expect_tensor(actual, expected.shape, f"{case}: your pooled maps")
        if close(actual, expected, atol=0, rtol=0):
            continue
        if close(actual, F.avg_pool2d(maps, 2)):
            raise Mistake(f"{case}: that is the mean of each 2x2 block: take the max")
        if close(actual, expected.clamp(min=0)):
            raise Mistake(f"{case}: negative maxima became 0: start the max from the block's first "
                          "value")
        raise differ(case, actual, expected)


OUTPUT_SIZE_CASES = [(28, 3, 1, 1), (28, 3, 0, 1), (28, 2, 0, 2), (7, 2, 0, 2), (5, 3, 0, 2),
                     (32, 5, 2, 1), (28, 5, 0, 1), (1, 1, 0, 1), (10, 4, 1, 3), (14, 3, 1, 2)]
OUTPUT_SIZE_MISTAKES = (
    (lambda n, k, p, s: (n + 2 * p - k) // s, "the + 1 is missing: a kernel as wide as the "
                                              "input still fits once"),
    (lambda n, k, p, s: (n + p - k) // s + 1, "padding is added on BOTH sides: + 2 * padding"),
    (lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1, "round down (//): a window that does not "
                                                      "fully fit is not used"),
    (lambda n, k, p, s: (n + 2 * p - k + 1) // s, "(H + 2p - k) // s + 1: the + 1 comes after the "
                                                  "division"),
)


def check_output_size(yours, reference) -> None:
    answers = []
    for size, kernel, padding, stride in OUTPUT_SIZE_CASES:
        answer = yours(size, kernel, padding, stride)
        if isinstance(answer, float):
            raise Mistake(f"({size}, {kernel}, {padding}, {stride}) gave the float {answer}: use "
                          "// "
                          "(floor division)")
        if not isinstance(answer, int) or isinstance(answer, bool):
            raise Mistake(f"conv_output_size(...) returned a {type(answer).__name__}: return an "
                          "int")
        answers.append(answer)
    expected = [reference(*case) for case in OUTPUT_SIZE_CASES]
    if answers == expected:
        return
    for variant, message in OUTPUT_SIZE_MISTAKES:
        if answers == [variant(*case) for case in OUTPUT_SIZE_CASES]:
            raise Mistake(message)
    index = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
    size, kernel, padding, stride = OUTPUT_SIZE_CASES[index]
    raise Mistake(f"size {size}, kernel {kernel}, padding {padding}, stride {stride}: you said "
                  f"{answers[index]}, expected {expected[index]} ((H + 2p - k) // s + 1)")


def _ece_variant(confidence, correct, num_bins: int, weighted: bool, absolute: bool) -> float:
    bins = (torch.ceil(confidence.double() * num_bins).long() - 1).clamp(0, num_bins - 1)
    gaps, shares = [], []
    for b in range(num_bins):
        inside = bins == b
        if inside.any():
            gap = correct[inside].double().mean() - confidence[inside].double().mean()
            gaps.append(gap.abs() if absolute else gap)
            shares.append(inside.double().mean())
    if weighted:
        return float(sum(g * s for g, s in zip(gaps, shares)))
    return float(sum(gaps) / len(gaps))


def check_calibration(yours, reference) -> None:
    gen = torch.Generator().manual_seed(10)
    confidence = 0.1 + 0.9 * torch.rand(300, generator=gen)  # (N,) in (0.1, 1)
    correct = torch.rand(300, generator=gen) < confidence ** 2  # (N,) overconfident model
    cases = [("300 answers", confidence, correct, 10),
             ("the same with 5 bins", confidence, correct, 5),
             ("one answer, 73% sure and wrong", torch.tensor([0.73]), torch.tensor([False]), 10),
             ("all 100% sure, half right", torch.ones(8), torch.arange(8) % 2 == 0, 10),
             ("all in one bin", torch.full((6,), 0.55), torch.tensor([1, 1, 0, 1, 0, 0]) > 0, 10)]
    for case, conf, right, num_bins in cases:
        expected = float(reference(conf.clone(), right.clone(), num_bins))
        actual = expect_number(yours(conf.clone(), right.clone(), num_bins), f"{case}: your ECE")
        if abs(actual - expected) <= 1e-5:
            continue
        if actual != actual:  # NaN
            raise Mistake(f"{case}: NaN: an empty bin has no mean; skip bins with no answers")
        if abs(actual - _ece_variant(conf, right, num_bins, weighted=False, absolute=True)) < 1e-5:
            raise Mistake(f"{case}: weight each bin's gap by its share of the answers (count / N)")
        if abs(actual - _ece_variant(conf, right, num_bins, weighted=True, absolute=False)) < 1e-5:
            raise Mistake(f"{case}: take the absolute gap |accuracy - confidence| of each bin")
        raise Mistake(f"{case}: you got {actual:.4f}, expected {expected:.4f}")


def _fgsm_setup():
    torch.manual_seed(11)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 4))
    gen = torch.Generator().manual_seed(11)
    return model, [("5 images, epsilon 0.1", torch.rand(5, 1, 6, 6, generator=gen),
                    torch.randint(0, 4, (5,), generator=gen), 0.1),
                   ("a batch of 1, epsilon 0.25", torch.rand(1, 1, 6, 6, generator=gen),
                    torch.tensor([2]), 0.25),
                   ("all-black images, epsilon 0.1", torch.zeros(3, 1, 6, 6),
                    torch.tensor([0, 1, 3]), 0.1),
                   ("epsilon 0 (nothing changes)", torch.rand(2, 1, 6, 6, generator=gen),
                    torch.tensor([1, 0]), 0.0)]


def check_fgsm(yours, reference) -> None:
    model, cases = _fgsm_setup()
    for case, images, labels, epsilon in cases:
        expected = reference(model, images.clone(), labels, epsilon)
        mine = images.clone()
        actual = expect_tensor(yours(model, mine, labels, epsilon), images.shape,
                               f"{case}: your images")
        if not torch.equal(mine, images):
            raise Mistake(f"{case}: you changed images in place: return a new tensor")
        if close(actual, expected, atol=1e-6):
            continue
        if (actual < 0).any() or (actual > 1).any():
            raise Mistake(f"{case}: pixels outside [0, 1]: clamp the result (.clamp(0, 1))")
        pixels = images.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(F.cross_entropy(model(pixels), labels), pixels)
        if close(actual, (images - epsilon * gradient.sign()).clamp(0, 1), atol=1e-6):
            raise Mistake(f"{case}: you moved the pixels to LOWER the loss: add epsilon * sign")
        if close(actual, (images + epsilon * gradient).clamp(0, 1), atol=1e-6):
            raise Mistake(f"{case}: use the SIGN of the gradient: every pixel moves by epsilon")
        raise differ(case, actual, expected)
