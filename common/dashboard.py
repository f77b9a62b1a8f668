"""The live network dashboard: seven panels that follow a trained network digit by digit (Phase 6).

For every test digit the network classifies, one forward pass with hooks (:mod:`common.activations`)
records what each layer received and produced, and the panels redraw from those numbers:

    1 the digit, its true label, the prediction and its confidence
    2 the ten output probabilities, the predicted digit highlighted
    3 the network at work: the most active input pixels, the most active neurons of each hidden
      layer (a CNN: its strongest channels), the ten outputs; lines show the signal each
      connection carries (weight x activation)
    4 the confusion matrix over the digits seen so far, with the running accuracy
    5 mean and max activation of each layer
    6 the weights into the predicted output neuron, as a histogram around zero
    7 the confidence of the last 50 predictions, with 90% and 50% guide lines

This module computes the panels' numbers (plain tensors, tested); :mod:`common.dashboard_plots`
draws them, the way :mod:`common.interpret` and :mod:`common.interpret_plots` are split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from common import activations, data, evaluation

TOP_INPUT = 15  # input pixels drawn in the network graph (the seed shows about 15 of 784)
# neurons (or channels) drawn per hidden layer: enough to see a pattern, few enough to read
TOP_HIDDEN = 12
RECENT = 50  # predictions shown in the confidence panel
HIGH_CONFIDENCE, LOW_CONFIDENCE = 0.9, 0.5  # the confidence panel's guide lines


# === panel data: numbers only ===================================================================


def top_k(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest ``values``, largest first; ties go to the lower index."""
    return torch.sort(values, descending=True, stable=True).indices[: min(k, len(values))]


def connection_strengths(contributions: torch.Tensor, to_idx: torch.Tensor,
                         from_idx: torch.Tensor) -> torch.Tensor:
    """|signal| along each drawn connection, scaled so the strongest one drawn is 1.

    ``contributions[j, i]`` is what unit ``i`` adds to unit ``j`` of the next layer (for a Linear
    layer ``W[j, i] * a_i``); the result is (len(to_idx), len(from_idx)).
    """
    block = contributions[to_idx][:, from_idx].abs()
    peak = block.max() if block.numel() else torch.tensor(0.0)
    return block / peak if peak > 0 else block


def unit_activity(x: torch.Tensor, producer: nn.Module | None) -> torch.Tensor:
    """One number per unit: a neuron's activation, or a convolution channel's mean over its
    positions."""
    if isinstance(producer, nn.Conv2d):
        return x.reshape(producer.out_channels, -1).mean(dim=1)  # (C,)
    return x.reshape(-1)  # (n,)


def contributions(layer: nn.Module, x: torch.Tensor, producer: nn.Module | None) -> torch.Tensor:
    """(next units, units) matrix of the signal each unit of ``x`` sends through ``layer``.

    Linear: exactly ``W[j, i] * x_i``; after convolutions each channel's positions are summed.
    Conv2d: what a unit adds to an output channel's mean: the kernel's summed weight times the
    incoming channel's mean activity (a pixel: its value spread over all positions). Every
    position shares the kernel, so this is exact except at the image border.
    """
    weight = layer.weight.detach().float().cpu()
    x = x.float().cpu()
    if isinstance(layer, nn.Linear):
        if isinstance(producer, nn.Conv2d):  # flattened feature maps: (out, C, positions)
            channels = producer.out_channels
            return (weight.reshape(len(weight), channels, -1) * x.reshape(1, channels,
                                                                          -1)).sum(dim=2)
        return weight * x.reshape(1, -1)  # (out, in)
    kernel_sums = weight.sum(dim=(2, 3))  # (C_out, C_in)
    if producer is None:  # raw pixels into the first convolution: every pixel feeds every channel
        pixels = x.reshape(-1)  # (H*W,)
        # (C_out, H*W)
        return kernel_sums.sum(dim=1, keepdim=True) * pixels.reshape(1, -1) / len(pixels)
    return kernel_sums * unit_activity(x, producer).reshape(1, -1)  # (C_out, C_in)


@dataclass
class Column:
    """One layer in the network graph: every unit's activity and which few are drawn."""

    title: str  # "input", "hidden 1", "conv 1", "output"
    unit: str  # "pixels", "neurons", "channels", "digits"
    values: torch.Tensor  # (n,) activity of every unit
    shown: torch.Tensor  # (k,) indices of the drawn units, most active first (outputs: 0..9)
    shade: torch.Tensor  # (k,) their activity scaled to [0, 1] within the layer


def _scaled(values: torch.Tensor, shown: torch.Tensor) -> torch.Tensor:
    """Activity of the drawn units on the layer's own 0 (least active) .. 1 (most active) scale."""
    low, high = values.min(), values.max()
    if high <= low:
        return torch.zeros(len(shown))
    return ((values[shown] - low) / (high - low)).clamp(0, 1)


@dataclass
class Graph:
    """Panel 3: the columns, and the connections between neighbouring columns' drawn units."""

    columns: list[Column]
    strengths: list[torch.Tensor]  # strengths[c]: (k_{c+1}, k_c) in [0, 1]
    excites: list[torch.Tensor]  # excites[c]: True where the signal pushes the next unit up


def _column_names(layers: list[tuple[str, nn.Module]]) -> list[tuple[str, str]]:
    """(title, unit) of what each weight layer reads: "input" pixels, then "conv 1" channels,
    "hidden 1" neurons."""
    names, counts = [("input", "pixels")], {"conv": 0, "hidden": 0}
    for _, producer in layers[:-1]:
        kind, unit = ("conv", "channels") if isinstance(producer, nn.Conv2d) else ("hidden",
                                                                                   "neurons")
        counts[kind] += 1
        names.append((f"{kind} {counts[kind]}", unit))
    return names


def network_graph(model: nn.Module, record: activations.Recording, probs: torch.Tensor,
                  top_input: int = TOP_INPUT, top_hidden: int = TOP_HIDDEN) -> Graph:
    """Columns and connections of panel 3 for the first image of ``record``.

    Column c is what weight layer c received, so a hidden column is exactly the ReLU output (after
    pooling, for a CNN) that the next layer multiplies by its weights.
    """
    layers = activations.weight_layers(model)
    producers = [None] + [layer for _, layer in layers[:-1]]
    columns = []
    for (name, _), producer, (title, unit) in zip(layers, producers, _column_names(layers)):
        values = unit_activity(record.inputs[name][0], producer).float().cpu()
        shown = top_k(values, top_input if producer is None else top_hidden)
        columns.append(Column(title, unit, values, shown, _scaled(values, shown)))
    logits = record.outputs[layers[-1][0]][0].float().cpu()  # (10,)
    columns.append(Column("output", "digits", logits, torch.arange(len(logits)),
                          probs.float().cpu()))
    strengths, excites = [], []
    for (name, layer), producer, here, after in zip(layers, producers, columns, columns[1:]):
        signal = contributions(layer, record.inputs[name][0], producer)  # (units after, units here)
        strengths.append(connection_strengths(signal, after.shown, here.shown))
        excites.append(signal[after.shown][:, here.shown] > 0)
    return Graph(columns, strengths, excites)


@dataclass
class RunningStats:
    """Everything seen so far: labels, predictions and confidences, in order (panels 4 and 7)."""

    labels: list[int] = field(default_factory=list)
    preds: list[int] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)

    def add(self, label: int, pred: int, confidence: float) -> None:
        """Remember one classified digit."""
        self.labels.append(int(label))
        self.preds.append(int(pred))
        self.confidences.append(float(confidence))

    def confusion(self, num_classes: int = data.NUM_CLASSES) -> torch.Tensor:
        """(10, 10) counts, rows = true digit, columns = prediction (common.evaluation's
        definition)."""
        return evaluation.confusion_matrix(torch.tensor(self.labels, dtype=torch.long),
                                           torch.tensor(self.preds, dtype=torch.long), num_classes)

    def accuracy(self) -> float:
        """Share of the digits so far that were predicted right (a fraction; 0 before the first)."""
        return sum(t == p for t, p in zip(self.labels, self.preds)) / max(1, len(self.labels))

    def recent(self, n: int = RECENT) -> tuple[list[float], list[bool]]:
        """The last ``n`` confidences, oldest first, and whether each of those predictions was
        right."""
        right = [t == p for t, p in zip(self.labels[-n:], self.preds[-n:])]
        return self.confidences[-n:], right


@dataclass
class Frame:
    """All seven panels' numbers for one digit."""

    image: torch.Tensor  # (28, 28) pixels in [0, 1]
    label: int
    probs: torch.Tensor  # (10,) softmax of the logits
    pred: int
    graph: Graph
    layer_names: list[str]
    layer_means: list[float]
    layer_maxes: list[float]
    output_weights: torch.Tensor  # (n,) the weights into the predicted output neuron
    confusion: torch.Tensor  # (10, 10) over every digit seen so far, this one included
    accuracy: float
    seen: int
    recent: list[float]  # last RECENT confidences, oldest first
    recent_right: list[bool]

    @property
    def confidence(self) -> float:
        return float(self.probs[self.pred])


def layer_summary(graph: Graph, record: activations.Recording,
                  model: nn.Module) -> tuple[list[str], list[float], list[float]]:
    """Panel 5: names, mean and max activation of each hidden layer (all it passes on) and of the
    output logits."""
    layers = activations.weight_layers(model)
    tensors = [record.inputs[name][0] for name,
               _ in layers[1:]] + [record.outputs[layers[-1][0]][0]]
    names = [column.title for column in graph.columns[1:]]
    means = [float(t.float().mean()) for t in tensors]
    return names, means, [float(t.float().max()) for t in tensors]


def make_frame(model: nn.Module, image: torch.Tensor, label: int, stats: RunningStats) -> Frame:
    """Classify one uint8 (28, 28) digit with hooks on, update ``stats``, and gather every panel's
    numbers."""
    device = next(model.parameters()).device
    # (1, 1, 28, 28) in
    logits, record = activations.record_forward(model, data.normalize(image[None]).to(device))
    # (10,): softmax only because probabilities are shown
    probs = F.softmax(logits[0].float().cpu(), dim=0)
    pred = int(probs.argmax())
    stats.add(label, pred, float(probs[pred]))
    graph = network_graph(model, record, probs)
    names, means, maxes = layer_summary(graph, record, model)
    recent, right = stats.recent()
    last_layer = activations.weight_layers(model)[-1][1]
    return Frame(image=image.float().cpu() / 255, label=int(label), probs=probs, pred=pred,
                 graph=graph,
                 layer_names=names, layer_means=means, layer_maxes=maxes,
                 output_weights=last_layer.weight.detach().float().cpu()[pred],
                 confusion=stats.confusion(),
                 accuracy=stats.accuracy(), seen=len(stats.labels), recent=recent,
                 recent_right=right)


def frame_stream(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 stats: RunningStats | None = None) -> Iterator[Frame]:
    """One :class:`Frame` per digit of ``images`` (N, 28, 28) uint8, computed just before it is
    drawn.

    Pass your own ``stats`` to read the totals afterwards.
    """
    stats = RunningStats() if stats is None else stats
    for image, label in zip(images, labels):
        yield make_frame(model, image, int(label), stats)
