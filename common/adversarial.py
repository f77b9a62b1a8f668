"""How a trained classifier breaks: adversarial pixels, noise and rotation (Phase 6).

Test accuracy measures digits drawn like the training digits. These helpers change the test
images on purpose and measure again:

* :func:`fgsm` - the Fast Gradient Sign Method (Goodfellow et al., 2014): move every pixel by
  ``epsilon`` in the direction that increases the loss most. Invisible-looking changes can
  flip the answer, which shows the network does not see digits the way people do.
* :func:`add_noise` - Gaussian pixel noise, like a grainy photo;
* :func:`blur` - each pixel replaced by the mean of its neighbourhood (a simple denoiser);
* :func:`rotate` - a rotation, like a tilted page; the fixed-angle sibling of
  :func:`common.augment.random_affine`, resampled the same way (``affine_grid`` + ``grid_sample``).

Every function works on [0, 1] pixels (B, 1, 28, 28); :func:`accuracy_on` normalizes exactly
as in training before the model sees them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from common import augment, data, evaluation

EVAL_BATCH = 500  # images per forward pass: fast on a CPU, small enough for any GPU


def loss_gradient_sign(model: nn.Module, images: torch.Tensor,
                       labels: torch.Tensor) -> torch.Tensor:
    """sign(d loss / d pixel) for each image (N, 1, 28, 28): FGSM's direction, on the CPU.

    It does not depend on epsilon, so one backward pass serves a whole accuracy-vs-epsilon curve.
    """
    device = evaluation.model_device(model)
    was_training = model.training
    model.eval()  # attack the model that answers: dropout off
    signs = []
    try:
        for start in range(0, len(images), EVAL_BATCH):
            pixels = images[start : start + EVAL_BATCH].detach().to(device).requires_grad_(True)
            loss = F.cross_entropy(model(data.normalize(pixels)),
                                   labels[start : start + EVAL_BATCH].to(device))
            (gradient,) = torch.autograd.grad(loss, pixels)
            signs.append(gradient.sign().cpu())
    finally:
        model.train(was_training)
    return torch.cat(signs)


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float,
         direction: torch.Tensor | None = None) -> torch.Tensor:
    """Adversarial versions of ``images``: each pixel moved by ``epsilon`` against the model, kept
    in [0, 1].

    ``epsilon`` is in pixel units: 0.1 is a tenth of the black-to-white range. ``direction``
    (from :func:`loss_gradient_sign`) can be passed in to reuse one backward pass.
    """
    if direction is None:
        direction = loss_gradient_sign(model, images, labels)
    return (images + epsilon * direction).clamp(0, 1)


def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (N, 10) for [0, 1] pixels, in batches, on the CPU."""
    device = evaluation.model_device(model)
    probs = []
    with evaluation.evaluating(model):
        for start in range(0, len(images), EVAL_BATCH):
            batch = data.normalize(images[start : start + EVAL_BATCH].to(device))
            # probabilities are shown and compared
            probs.append(torch.softmax(model(batch), dim=1).cpu())
    return torch.cat(probs)


def accuracy_on(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of [0, 1] ``images`` the model classifies as ``labels``."""
    return float((predict(model, images).argmax(dim=1) == labels.cpu()).float().mean())


def fgsm_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
               epsilons: Sequence[float],
               direction: torch.Tensor | None = None) -> list[float]:
    """Accuracy under FGSM at each epsilon (epsilon 0 is the clean accuracy)."""
    if direction is None:
        direction = loss_gradient_sign(model, images, labels)
    return [accuracy_on(model, fgsm(model, images, labels, eps, direction),
                        labels) for eps in epsilons]


def add_noise(images: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of standard deviation ``std`` (pixel units) on every pixel, kept in [0, 1]."""
    noise = torch.randn(images.shape, generator=generator) * std
    return (images + noise.to(images.device)).clamp(0, 1)


def blur(images: torch.Tensor, size: int) -> torch.Tensor:
    """Each pixel replaced by the mean of the ``size`` x ``size`` square around it (odd
    ``size``)."""
    return F.avg_pool2d(images, size, stride=1, padding=size // 2, count_include_pad=False)


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every image by ``degrees`` (counter-clockwise) about its centre; corners fill with
    black."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # affine_grid maps each output pixel to the input pixel it copies: rotating the sampling
    # grid this way (y points down on screen) turns the picture counter-clockwise.
    sampling = torch.tensor([[cos, -sin], [sin, cos]])
    return augment.resample(images, sampling.expand(len(images), 2, 2))


def robustness_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     levels: Sequence[float],
                     distort: Callable[[torch.Tensor, float], torch.Tensor]) -> list[float]:
    """Accuracy after ``distort(images, level)`` for each level: one point per noise level or
    angle."""
    return [accuracy_on(model, distort(images, level), labels) for level in levels]
