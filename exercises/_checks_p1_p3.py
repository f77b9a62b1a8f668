"""Checks of the Phase 1-3 exercises: ink share, softmax, forward pass, cross-entropy, one step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exercises._checking import Mistake, close, differ, expect_number, expect_tensor, not_finite

NUM_CLASSES = 10


def _ink_images(gen: torch.Generator, labels: torch.Tensor, height: int,
                width: int) -> torch.Tensor:
    """uint8 (N, H, W) images where digit d has ink on about (5 + 3d)% of its pixels."""
    density = 0.05 + 0.03 * labels.float()[:, None, None]  # (N, 1, 1)
    ink = torch.rand(len(labels), height, width, generator=gen) < density
    values = torch.randint(1, 256, (len(labels), height, width), generator=gen)
    return (values * ink).to(torch.uint8)  # (N, H, W)


def check_ink_share(yours, reference) -> None:
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(60) % NUM_CLASSES
    cases = [("random images", _ink_images(gen, labels, 28, 28), labels),
             ("one image of a 3", _ink_images(gen, torch.tensor([3]), 28, 28), torch.tensor([3])),
             ("all-black images", torch.zeros(20, 28, 28, dtype=torch.uint8), labels[:20]),
             ("5 x 7 images", _ink_images(gen, labels, 5, 7), labels)]
    for case, images, labels in cases:
        expected = reference(images.clone(), labels.clone())
        actual = expect_tensor(yours(images.clone(), labels.clone()), expected.shape,
                               f"{case}: your result")
        if close(actual, expected):
            continue
        brightness = torch.stack([images[labels == d].float().mean() / 255 if (labels == d).any()
                                  else torch.tensor(0.0) for d in range(NUM_CLASSES)])
        if torch.isnan(actual).any() and not torch.isnan(expected).any():
            raise Mistake(f"{case}: a digit without images gave NaN: return 0.0 for it")
        if (actual > 1).any():
            raise Mistake(f"{case}: values above 1: count ink pixels (> 0), do not add up pixel "
                          "values")
        if close(actual, brightness):
            raise Mistake(f"{case}: that is the mean brightness: count the pixels with value > 0")
        if case == "all-black images" or close(actual, torch.ones_like(actual)):
            raise Mistake(f"{case}: you counted background pixels as ink: ink means value > 0, "
                          "not >= 0")
        if torch.unique(actual).numel() == 1 and torch.unique(expected).numel() > 1:
            raise Mistake(f"{case}: every digit got the same value: average only the images "
                          "with labels == d")
        raise differ(case, actual, expected)


def check_softmax(yours, reference) -> None:
    gen = torch.Generator().manual_seed(2)
    cases = [("random (4, 10)", torch.randn(4, 10, generator=gen) * 3),
             ("a batch of 1", torch.randn(1, 10, generator=gen)),
             ("odd shape (3, 7)", torch.randn(3, 7, generator=gen)),
             ("all-zero logits", torch.zeros(5, 10)),
             ("logits near 1000", 1000 + torch.randn(4, 10, generator=gen)),
             ("large logits, mixed", torch.tensor([[1000.0, 990, 0], [5, 1, 0],
                                                               [-1000, -1010, -990]]))]
    for case, logits in cases:
        expected = reference(logits.clone())
        actual = expect_tensor(yours(logits.clone()), logits.shape, f"{case}: your result")
        if close(actual, expected, atol=1e-6):
            continue
        if not_finite(actual):
            if case.startswith("large logits, mixed"):
                raise Mistake(f"{case}: inf/nan: subtract each row's OWN max, not the batch's")
            raise Mistake(f"{case}: inf/nan: exp overflows; subtract each row's max first")
        if (actual < 0).any():
            raise Mistake(f"{case}: negative probabilities: did you forget torch.exp?")
        if not close(actual.sum(dim=1), torch.ones(len(logits)), atol=1e-5):
            raise Mistake(f"{case}: rows should sum to 1: did you sum over the right dimension?")
        raise differ(case, actual, expected)


def check_forward_pass(yours, reference) -> None:
    gen = torch.Generator().manual_seed(3)

    def layers(n_in: int, hidden: int, n_out: int = NUM_CLASSES) -> list[torch.Tensor]:
        return [torch.randn(hidden, n_in, generator=gen) * 0.3, torch.randn(hidden, generator=gen),
                torch.randn(n_out, hidden, generator=gen) * 0.3, torch.randn(n_out, generator=gen)]

    cases = [("random (4, 1, 28, 28)", torch.rand(4, 1, 28, 28, generator=gen),
              layers(784, 16)),
             ("a batch of 1", torch.rand(1, 1, 28, 28, generator=gen), layers(784, 8)),
             ("odd (3, 1, 5, 4), 7 hidden", torch.randn(3, 1, 5, 4, generator=gen),
              layers(20, 7)),
             ("all-zero images", torch.zeros(2, 1, 28, 28), layers(784, 16))]
    for case, images, (w1, b1, w2, b2) in cases:
        expected = reference(images.clone(), w1, b1, w2, b2)
        actual = expect_tensor(yours(images.clone(), w1, b1, w2, b2), expected.shape,
                               f"{case}: your logits")
        if close(actual, expected):
            continue
        flat = images.reshape(len(images), -1)  # (B, in)
        if close(actual, (flat @ w1.T + b1) @ w2.T + b2):
            raise Mistake(f"{case}: these are the logits WITHOUT ReLU: apply ReLU to the hidden "
                          "layer")
        if close(actual, F.softmax(expected, dim=1)):
            raise Mistake(f"{case}: return logits, not probabilities: no softmax at the end")
        if close(actual, expected.clamp(min=0)):
            raise Mistake(f"{case}: no ReLU after the last layer: logits may be negative")
        no_bias = [(flat @ w1.T).clamp(min=0) @ w2.T + b2, (flat @ w1.T + b1).clamp(min=0) @ w2.T,
                   (flat @ w1.T).clamp(min=0) @ w2.T]
        if any(close(actual, variant) for variant in no_bias):
            raise Mistake(f"{case}: a bias is missing: add b1 to the hidden layer, b2 to the "
                          "logits")
        raise differ(case, actual, expected)


def check_cross_entropy(yours, reference) -> None:
    gen = torch.Generator().manual_seed(4)
    cases = [("random (6, 10)", torch.randn(6, 10, generator=gen) * 2,
              torch.randint(0, 10, (6,), generator=gen)),
             ("a batch of 1", torch.randn(1, 10, generator=gen), torch.tensor([7])),
             ("5 images, 3 classes", torch.randn(5, 3, generator=gen),
              torch.tensor([0, 2, 1, 2, 0])),
             ("all-zero logits", torch.zeros(4, 10), torch.tensor([0, 3, 9, 1])),
             ("large logits", torch.tensor([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 300.0]]),
              torch.tensor([1, 2]))]
    for case, logits, labels in cases:
        expected = float(reference(logits.clone(), labels.clone()))
        actual = expect_number(yours(logits.clone(), labels.clone()), f"{case}: your loss")
        if abs(actual - expected) <= 1e-4 * max(1.0, abs(expected)):
            continue
        batch = len(labels)
        if not torch.isfinite(torch.tensor(actual)):
            raise Mistake(f"{case}: got {actual}: use logits - torch.logsumexp(...), not "
                          "log(softmax)")
        if batch > 1 and abs(actual - expected * batch) <= 1e-4 * abs(expected * batch):
            raise Mistake(f"{case}: off by a factor of B = {batch}: take the mean over the batch")
        if abs(actual + expected) <= 1e-4 * max(1.0, abs(expected)):
            raise Mistake(f"{case}: the sign is flipped: the loss is MINUS the mean "
                          "log-probability")
        log_probs = F.log_softmax(logits.double(), dim=1)  # (B, C)
        if batch > 1 and abs(actual + float(log_probs[:, labels].mean())) <= 1e-4 * abs(actual):
            raise Mistake(f"{case}: wrong entries: use log_probs[torch.arange(B), labels]")
        raise differ(case, torch.tensor(actual), torch.tensor(expected))


class _SGD:
    """SGD with momentum as torch.optim.SGD computes it (zero_grad() sets .grad to None).

    The check's own copy: a torch.optim optimizer takes seconds to create the first time in a
    process, and your training_step only calls optimizer.zero_grad() and optimizer.step().
    """

    def __init__(self, params, lr: float, momentum: float):
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.velocity = [None] * len(self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for index, param in enumerate(self.params):
            if param.grad is None:
                continue
            velocity = self.velocity[index]
            if velocity is None:
                velocity = self.velocity[index] = param.grad.clone()
            else:
                velocity.mul_(self.momentum).add_(param.grad)
            param.add_(velocity, alpha=-self.lr)


def _tiny_setup(seed: int):
    """A 12-8-3 network, 16 random 3x4 images and labels, SGD with momentum, same for everyone."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(16, 1, 3, 4, generator=gen)  # (B, 1, 3, 4)
    labels = torch.randint(0, 3, (16,), generator=gen)  # (B,)
    return model, images, labels, _SGD(model.parameters(), lr=0.2, momentum=0.5)


def _trajectory(step, num_steps: int) -> tuple[list[float], list[list[torch.Tensor]]]:
    """Run ``step`` num_steps times on the tiny setup: its losses and the weights after each."""
    model, images, labels, optimizer = _tiny_setup(seed=5)
    loss_fn = nn.CrossEntropyLoss()
    losses, weights = [], []
    for _ in range(num_steps):
        losses.append(step(model, images, labels, loss_fn, optimizer))
        weights.append([p.detach().clone() for p in model.parameters()])
    return losses, weights


def _without_zero_grad(model, images, labels, loss_fn, optimizer) -> float:
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def check_training_step(yours, reference) -> None:
    num_steps = 6
    start = [p.detach().clone() for p in _tiny_setup(seed=5)[0].parameters()]
    expected_losses, expected_weights = _trajectory(reference, num_steps)
    losses, weights = _trajectory(yours, num_steps)
    if isinstance(losses[0], torch.Tensor):
        raise Mistake("you return a tensor: return loss.item(), a Python float")
    losses = [expect_number(loss, f"step {i + 1}: your loss") for i, loss in enumerate(losses)]
    if all(close(w, s, atol=0, rtol=0) for w, s in zip(weights[-1], start)):
        raise Mistake("the weights did not change: call loss.backward() and then optimizer.step()")
    _, piled_up = _trajectory(_without_zero_grad, num_steps)
    if all(close(w, v, atol=1e-6) for w, v in zip(weights[-1], piled_up[-1])):
        raise Mistake("the gradients pile up: is optimizer.zero_grad() called each step?")
    for step, (actual, expected) in enumerate(zip(weights, expected_weights), start=1):
        if not all(close(a, e, atol=1e-6) for a, e in zip(actual, expected)):
            raise Mistake(f"after step {step} the weights differ from the reference: zero_grad, "
                          "forward, loss_fn, backward, step: in that order, once each")
    for step, (actual, expected) in enumerate(zip(losses, expected_losses), start=1):
        if abs(actual - expected) > 1e-5:
            raise Mistake(f"step {step}: you returned {actual:.4f}, expected {expected:.4f}: the "
                          "loss computed before optimizer.step()")
    if losses[-1] >= losses[0]:
        raise Mistake("the loss did not go down: is optimizer.zero_grad() called each step?")
