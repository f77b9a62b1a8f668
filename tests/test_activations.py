"""Forward hooks (Phase 6): the right stages, the right shapes, the same logits, and no hooks left
behind."""

from __future__ import annotations

import pytest
import torch

from common import activations, models


def _images(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


def test_mlp_capture_shapes_and_logits():
    torch.manual_seed(0)
    model = models.MLP(hidden_sizes=(128, 64))
    images = _images()
    logits, acts = activations.capture_activations(model, images)
    assert list(acts) == ["fc1", "relu1", "fc2", "relu2", "fc3"]  # the order the stages ran
    assert {name: tuple(t.shape) for name, t in acts.items()} == {
        "fc1": (3, 128), "relu1": (3, 128), "fc2": (3, 64), "relu2": (3, 64), "fc3": (3, 10)}
    with torch.inference_mode():
        assert torch.allclose(logits, model(images))  # hooks only watch: the answer is unchanged
    assert torch.equal(acts["fc3"], logits)
    assert torch.equal(acts["relu1"], acts["fc1"].clamp(min=0))
    assert _hook_count(model) == 0


def test_cnn_capture_shapes():
    torch.manual_seed(0)
    model = models.CNN()
    logits, acts = activations.capture_activations(model, _images(2))
    assert logits.shape == (2, 10)
    assert {name: tuple(t.shape) for name, t in acts.items()} == {
        "conv1": (2, 32, 28, 28), "relu1": (2, 32, 28, 28), "conv2": (2, 64, 14, 14),
        "relu2": (2, 64, 14, 14),
        "fc1": (2, 128), "relu3": (2, 128), "fc2": (2, 10)}
    assert _hook_count(model) == 0


def test_recording_keeps_what_each_layer_received():
    torch.manual_seed(0)
    model = models.CNN()
    _, record = activations.record_forward(model, _images(2))
    # after pooling: what conv2 really multiplies
    assert record.inputs["conv2"].shape == (2, 32, 14, 14)
    assert record.inputs["fc1"].shape == (2, models.CNN.FLAT)
    assert torch.equal(record.inputs["fc2"], record.outputs["relu3"])  # dropout is off in eval mode
    assert [name for name, _ in activations.weight_layers(model)] == ["conv1", "conv2", "fc1",
                                                                      "fc2"]


def test_mode_restored_and_hooks_removed_after_an_error():
    model = models.MLP(hidden_sizes=(8,), dropout=0.5)
    model.train()
    activations.capture_activations(model, _images(1))
    assert model.training  # evaluation switched dropout off only for the pass
    with pytest.raises(RuntimeError):
        with activations.recording(model) as record:
            model(torch.randn(1, 5))  # wrong input size: the forward pass fails half-way
    assert record.outputs == {}
    assert _hook_count(model) == 0
