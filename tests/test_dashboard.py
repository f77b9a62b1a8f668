"""The live dashboard (Phase 6): panel numbers on a hand-made network, and the script end to end,
headless."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from PIL import Image
from torch import nn

from common import activations, checkpoints, dashboard, dashboard_plots, models
from common.cli import load_script
from common.errors import CourseError


def tiny_network() -> nn.Module:
    """4 inputs -> 3 hidden (ReLU) -> 2 outputs, with weights small enough to check by hand."""
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 3), relu1=nn.ReLU(), fc2=nn.Linear(3, 2)))
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, -1.0, 0.0, 2.0],
                                             [0.5, 0.5, 0.5, 0.5]]))
        model.fc1.bias.zero_()
        model.fc2.weight.copy_(torch.tensor([[1.0, -2.0, 0.0], [0.0, 1.0, 1.0]]))
        model.fc2.bias.zero_()
    return model


def test_top_k_most_active_first_ties_to_lower_index():
    assert dashboard.top_k(torch.tensor([0.1, 0.9, 0.5, 0.9]), 3).tolist() == [1, 3, 2]
    # k larger than the layer
    assert dashboard.top_k(torch.tensor([2.0, 1.0]), 5).tolist() == [0, 1]


def test_connection_strengths_are_weight_times_activation_scaled_to_one():
    signal = torch.tensor([[1.0, -4.0, 2.0], [0.5, 0.0, -1.0]])  # (next units, units)
    strengths = dashboard.connection_strengths(signal, torch.tensor([1, 0]), torch.tensor([2, 1]))
    assert torch.allclose(strengths, torch.tensor([[1.0, 0.0], [2.0, 4.0]]) / 4.0)
    silent = dashboard.connection_strengths(torch.zeros(2, 3), torch.tensor([0]), torch.tensor([0,
                                                                                                1]))
    assert torch.equal(silent, torch.zeros(1, 2))  # a silent layer gives zeros, not NaN


def test_network_graph_on_a_hand_made_network():
    model = tiny_network()
    x = torch.tensor([[1.0, 2.0, 0.0, 3.0]])  # (1, 4)
    logits, record = activations.record_forward(model, x)
    graph = dashboard.network_graph(model, record, torch.softmax(logits[0], 0), top_input=2,
                                    top_hidden=2)
    # hidden = ReLU(W1 x) = ReLU([4, 4, 3]); outputs = W2 hidden = [-4, 7]
    inputs, hidden, outputs = graph.columns
    assert (inputs.title, hidden.title, outputs.title) == ("input", "hidden 1", "output")
    assert inputs.shown.tolist() == [3, 1]
    assert hidden.values.tolist() == [4.0, 4.0, 3.0] and hidden.shown.tolist() == [0, 1]
    assert outputs.values.tolist() == [-4.0, 7.0] and outputs.shown.tolist() == [0, 1]
    # |W1[j, i] * x_i| for j in (0, 1), i in (3, 1): [[3, 0], [6, 2]], strongest = 6
    assert torch.allclose(graph.strengths[0], torch.tensor([[3.0, 0.0], [6.0, 2.0]]) / 6)
    assert graph.excites[0].tolist() == [[True, False], [True, False]]  # W1[1, 1] = -1 pushes down
    # |W2[j, i] * h_i| for j in (0, 1), i in (0, 1): [[4, 8], [0, 4]]
    assert torch.allclose(graph.strengths[1], torch.tensor([[4.0, 8.0], [0.0, 4.0]]) / 8)
    # scaled within the layer (min 0, max 3)
    assert torch.allclose(inputs.shade, torch.tensor([1.0, 2 / 3]))


def test_contributions_add_up_to_each_layer_output():
    """Weight x activation, summed over the incoming units, is exactly the layer's output minus its
    bias."""
    torch.manual_seed(0)
    model = models.CNN()
    _, record = activations.record_forward(model, torch.randn(1, 1, 28, 28))
    conv2 = model.conv2
    for name, layer, producer in (("fc1", model.fc1, conv2), ("fc2", model.fc2, model.fc1)):
        signal = dashboard.contributions(layer, record.inputs[name][0], producer)
        assert torch.allclose(signal.sum(dim=1) + layer.bias, record.outputs[name][0], atol=1e-4)
    # a convolution: the signal into each channel's mean, exact when nothing touches the border
    # (32, 14, 14), zero border
    maps = torch.nn.functional.pad(torch.rand(32, 10, 10), (2, 2, 2, 2))
    with torch.no_grad():
        expected = conv2(maps[None])[0].mean(dim=(1, 2)) - conv2.bias  # (64,)
    assert torch.allclose(dashboard.contributions(conv2, maps, model.conv1).sum(dim=1), expected,
                          atol=1e-4)
    graph = dashboard.network_graph(model, record, torch.full((10,), 0.1))
    assert [c.title for c in graph.columns] == ["input", "conv 1", "conv 2", "hidden 1", "output"]
    # channels, not positions
    assert [len(c.values) for c in graph.columns] == [784, 32, 64, 128, 10]
    assert [tuple(s.shape) for s in graph.strengths] == [(12, 15), (12, 12), (12, 12), (10, 12)]


def test_running_confusion_accuracy_and_recent_confidences():
    stats = dashboard.RunningStats()
    for label, pred, confidence in [(3, 3, 0.99), (4, 9, 0.55), (3, 3, 0.9), (9, 9, 0.8)]:
        stats.add(label, pred, confidence)
    cm = stats.confusion()
    assert cm.shape == (10, 10) and int(cm.sum()) == 4
    assert (int(cm[3, 3]), int(cm[4, 9]), int(cm[9, 9])) == (2, 1, 1)
    assert stats.accuracy() == 0.75
    assert stats.recent(3) == ([0.55, 0.9, 0.8], [False, True, True])


def test_frames_follow_the_digits_seen_so_far():
    torch.manual_seed(0)
    model = models.MLP(hidden_sizes=(16, 8))
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    frames = list(dashboard.frame_stream(model, images, torch.tensor([1, 2, 3])))
    last = frames[-1]
    assert [f.seen for f in frames] == [1, 2, 3] and int(last.confusion.sum()) == 3
    assert torch.isclose(last.probs.sum(), torch.tensor(1.0))
    assert torch.equal(last.output_weights, model.layers.fc3.weight[last.pred].detach())
    assert last.layer_names == ["hidden 1", "hidden 2", "output"]
    assert last.layer_maxes[0] == pytest.approx(float(last.graph.columns[1].values.max()))
    assert len(last.recent) == 3 and last.confidence == pytest.approx(last.recent[-1])


def _save_untrained(path, model: nn.Module) -> None:
    checkpoints.save_checkpoint(path, model, hyperparameters={}, metrics={})


def test_script_writes_png_and_gif_headless(synthetic_mnist):
    torch.manual_seed(0)
    _save_untrained(synthetic_mnist.models / "mlp.pt", models.MLP(hidden_sizes=(16, 8)))
    # Agg in tests: no window
    result = load_script("06_watch_network.py").main(count=3, interval=0.5)
    png, gif = result["files"]
    assert png.name == "06_network_dashboard.png" and png.stat().st_size > 10_000
    with Image.open(gif) as animation:
        assert animation.n_frames == 3 and animation.info["duration"] == 500
    assert result["seen"] == 3 and int(result["confusion"].sum()) == 3


def test_script_draws_a_cnn(synthetic_mnist):
    torch.manual_seed(0)
    _save_untrained(synthetic_mnist.models / "cnn.pt", models.CNN())
    result = load_script("06_watch_network.py").main(checkpoint="models/cnn.pt", count=2,
                                                     show=False)
    with Image.open(result["files"][1]) as animation:
        assert animation.n_frames == 2


def test_script_says_what_to_run_without_a_checkpoint(course_dirs):
    with pytest.raises(CourseError, match="03_train_model.py --hidden-sizes 128 64"):
        load_script("06_watch_network.py").main(count=2)


def test_script_animates_in_a_window_when_one_can_open(synthetic_mnist, monkeypatch):
    torch.manual_seed(0)
    _save_untrained(synthetic_mnist.models / "mlp.pt", models.MLP(hidden_sizes=(16, 8)))
    shown = []

    def fake_show() -> None:  # a window's first draw starts the animation
        dashboard_plots.plt.gcf().canvas.draw()
        shown.append(True)

    monkeypatch.setattr(dashboard_plots, "can_animate", lambda: True)
    monkeypatch.setattr(dashboard_plots.plt, "show", fake_show)
    result = load_script("06_watch_network.py").main(count=2, show=True)
    assert shown == [True] and result["files"] == []  # a window instead of files
    dashboard_plots.plt.close("all")
