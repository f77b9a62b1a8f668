"""Typical mistakes of Phases 1-3 and 03b are named by the checks.

Each function below is what a learner might write; the check must fail it with the message that
names the mistake (in one line that fits the report), never with a traceback.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exercises import _registry as registry
from tests.exercise_mistakes import MESSAGE_ROOM, REFERENCE, run


# --- Phase 1 ---------------------------------------------------------------------------------
def ink_sum_of_values(images, labels):
    per_image = images.float().sum(dim=(1, 2))  # adds up values instead of counting ink pixels
    return torch.stack([per_image[labels == d].mean() if (labels == d).any() else torch.tensor(0.0)
                        for d in range(10)])


def ink_brightness(images, labels):
    per_image = images.float().mean(dim=(1, 2)) / 255
    return torch.stack([per_image[labels == d].mean() if (labels == d).any() else torch.tensor(0.0)
                        for d in range(10)])


def ink_counts_background(images, labels):
    ink = (images >= 0).float().mean(dim=(1, 2))
    return torch.stack([ink[labels == d].mean() if (labels == d).any() else torch.tensor(0.0)
                        for d in range(10)])


def ink_not_per_digit(images, labels):
    return torch.full((10,), float((images > 0).float().mean()))


def ink_nan_for_missing(images, labels):
    ink = (images > 0).float().mean(dim=(1, 2))
    return torch.stack([ink[labels == d].mean() for d in range(10)])


# --- Phase 2 ---------------------------------------------------------------------------------
def softmax_dim0(logits):
    exps = torch.exp(logits - logits.amax(dim=0, keepdim=True))
    return exps / exps.sum(dim=0, keepdim=True)


def softmax_unstable(logits):
    return torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)


def softmax_global_max(logits):
    exps = torch.exp(logits - logits.max())
    return exps / exps.sum(dim=1, keepdim=True)


def softmax_no_exp(logits):
    return logits / logits.sum(dim=1, keepdim=True)


def forward_no_relu(images, w1, b1, w2, b2):
    return (images.reshape(len(images), -1) @ w1.T + b1) @ w2.T + b2


def forward_softmax(images, w1, b1, w2, b2):
    return F.softmax(REFERENCE["p2_forward_pass"](images, w1, b1, w2, b2), dim=1)


def forward_no_bias(images, w1, b1, w2, b2):
    return torch.relu(images.reshape(len(images), -1) @ w1.T) @ w2.T


def forward_relu_on_logits(images, w1, b1, w2, b2):
    return torch.relu(REFERENCE["p2_forward_pass"](images, w1, b1, w2, b2))


def forward_untransposed(images, w1, b1, w2, b2):
    return torch.relu(images.reshape(len(images), -1) @ w1 + b1) @ w2 + b2


# --- Phase 3 ---------------------------------------------------------------------------------
def ce_sum(logits, labels):
    return -(logits.log_softmax(dim=1)[torch.arange(len(labels)), labels]).sum()


def ce_no_minus(logits, labels):
    return logits.log_softmax(dim=1)[torch.arange(len(labels)), labels].mean()


def ce_log_of_softmax(logits, labels):
    return -torch.log(torch.softmax(logits, dim=1)[torch.arange(len(labels)), labels]).mean()


def ce_wrong_entries(logits, labels):
    return -logits.log_softmax(dim=1)[:, labels].mean()


def ce_per_image(logits, labels):
    return -logits.log_softmax(dim=1)[torch.arange(len(labels)), labels]


def step_no_zero_grad(model, images, labels, loss_fn, optimizer):
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_step(model, images, labels, loss_fn, optimizer):
    optimizer.zero_grad()
    loss = loss_fn(model(images), labels)
    loss.backward()
    return loss.item()


def step_returns_tensor(model, images, labels, loss_fn, optimizer):
    optimizer.zero_grad()
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss


def step_before_backward(model, images, labels, loss_fn, optimizer):
    optimizer.zero_grad()
    loss = loss_fn(model(images), labels)
    optimizer.step()
    loss.backward()
    return loss.item()


def step_loss_after_step(model, images, labels, loss_fn, optimizer):
    optimizer.zero_grad()
    loss_fn(model(images), labels).backward()
    optimizer.step()
    return loss_fn(model(images), labels).item()  # the loss AFTER the update


# --- 03b -------------------------------------------------------------------------------------
def gradient_one_sided(f, x, h=1e-5):
    grad, base = np.zeros_like(x), f(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        grad[index] = (f(x) - base) / h
        x[index] = old
    return grad


def gradient_over_h(f, x, h=1e-5):
    return REFERENCE["p3b_gradient_check"](f, x, h) * 2


def gradient_not_restored(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        up = f(x)
        x[index] = old - h
        grad[index] = (up - f(x)) / (2 * h)  # forgets to put x[index] back
    return grad


def backward_no_mask(x, w, b, grad_out):
    return grad_out @ w, grad_out.T @ x, grad_out.sum(axis=0)


def backward_grad_w_transposed(x, w, b, grad_out):
    grad_z = grad_out * (x @ w.T + b > 0)
    return grad_z @ w, x.T @ grad_z, grad_z.sum(axis=0)


def backward_grad_b_not_summed(x, w, b, grad_out):
    grad_z = grad_out * (x @ w.T + b > 0)
    return grad_z @ w, grad_z.T @ x, grad_z


def backward_mask_from_grad_out(x, w, b, grad_out):
    grad_z = grad_out * (grad_out > 0)
    return grad_z @ w, grad_z.T @ x, grad_z.sum(axis=0)


MISTAKES = [
    ("p1_ink_share", ink_sum_of_values, "values above 1"),
    ("p1_ink_share", ink_brightness, "mean brightness"),
    ("p1_ink_share", ink_counts_background, "not >= 0"),
    ("p1_ink_share", ink_not_per_digit, "every digit got the same value"),
    ("p1_ink_share", ink_nan_for_missing, "NaN"),
    ("p2_softmax", softmax_dim0, "rows should sum to 1: did you sum over the right dimension?"),
    ("p2_softmax", softmax_unstable, "subtract each row's max"),
    ("p2_softmax", softmax_global_max, "OWN max"),
    ("p2_softmax", softmax_no_exp, "forget torch.exp"),
    ("p2_forward_pass", forward_no_relu, "WITHOUT ReLU"),
    ("p2_forward_pass", forward_softmax, "not probabilities"),
    ("p2_forward_pass", forward_no_bias, "bias is missing"),
    ("p2_forward_pass", forward_relu_on_logits, "no ReLU after the last layer"),
    ("p2_forward_pass", forward_untransposed, "W is (out, in): W.T"),
    ("p3_cross_entropy", ce_sum, "off by a factor of B"),
    ("p3_cross_entropy", ce_no_minus, "sign is flipped"),
    ("p3_cross_entropy", ce_log_of_softmax, "logsumexp"),
    ("p3_cross_entropy", ce_wrong_entries, "wrong entries"),
    ("p3_cross_entropy", ce_per_image, "return one number"),
    ("p3_training_step", step_no_zero_grad, "is optimizer.zero_grad() called each step?"),
    ("p3_training_step", step_no_step, "weights did not change"),
    ("p3_training_step", step_returns_tensor, "loss.item()"),
    ("p3_training_step", step_before_backward, "weights did not change"),
    ("p3_training_step", step_loss_after_step, "computed before optimizer.step()"),
    ("p3b_gradient_check", gradient_one_sided, "centred"),
    ("p3b_gradient_check", gradient_over_h, "factor of 2"),
    ("p3b_gradient_check", gradient_not_restored, "x was changed"),
    ("p3b_linear_relu_backward", backward_no_mask, "where ReLU was off"),
    ("p3b_linear_relu_backward", backward_grad_w_transposed, "transpose"),
    ("p3b_linear_relu_backward", backward_grad_b_not_summed, "sum over the batch"),
    ("p3b_linear_relu_backward", backward_mask_from_grad_out, "mask comes from the forward pass"),
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
              for e in registry.EXERCISES if e.phase in ('1', '2', '3', '3b')}
    assert min(counts.values()) >= 2, counts
