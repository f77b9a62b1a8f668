"""See inside a network while it runs: forward hooks record every stage (introduced in Phase 6).

A forward hook is a function PyTorch calls right after a module has computed its output. Hooking
every Linear, Conv2d and ReLU listed by :func:`common.models.feature_layers` lets one ordinary
forward pass report what each stage received and produced, so a visualization shows the numbers
the model really computed instead of re-running a hand-written copy of it.

    logits, activations = capture_activations(model, images)
    activations["layers.1"]   # (B, 128): the first hidden layer after ReLU, for an MLP

The hooks are removed again when the ``recording`` block ends, even after an error, so a model
is never left slowed down or changed. The input layer's activity is the input pixels themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from common import evaluation, models


@dataclass
class Recording:
    """What each hooked stage received (``inputs``) and produced (``outputs``), keyed by its
    name."""

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)


@contextmanager
def recording(model: nn.Module,
              layers: Sequence[tuple[str, nn.Module]] | None = None) -> Iterator[Recording]:
    """Hook ``layers`` (default: ``feature_layers(model)``) for the duration of a ``with`` block.

    Tensors are detached copies: an in-place ReLU later in the network cannot change what was
    recorded.
    """
    record = Recording()

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            record.inputs[name] = args[0].detach().clone()
            record.outputs[name] = output.detach().clone()
        return hook

    handles = [module.register_forward_hook(hook_for(name))
               for name, module in (layers if layers is not None else models.feature_layers(model))]
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


def record_forward(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, Recording]:
    """One evaluation-mode forward pass of ``images`` with every stage's input and output recorded.

    Dropout is off and nothing is learned; the model's train/eval mode is restored afterwards.
    """
    with evaluation.evaluating(model), recording(model) as record:
        logits = model(images)  # (B, 10)
    return logits, record


def capture_activations(model: nn.Module,
                        images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(logits, {stage name: output})`` from one forward pass, in the order the stages ran.

    For the 784-128-64-10 MLP the outputs are (B, 128), (B, 128), (B, 64), (B, 64), (B, 10):
    each Linear and the ReLU after it. A CNN's convolution stages give (B, C, H, W) maps.
    """
    logits, record = record_forward(model, images)
    return logits, record.outputs


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv2d stages, in order: the layers whose weights carry signals forward."""
    return [(name, module) for name, module in models.feature_layers(model)
            if isinstance(module, (nn.Linear, nn.Conv2d))]
