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

The first half of this module computes the panels' numbers (plain tensors, tested); the second
half draws them. The figure's artists are made once and only updated per digit, which is what
makes a 30-digit GIF take seconds rather than minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import activations, data, evaluation, paths, plots  # plots picks Agg when there is no display

import matplotlib.pyplot as plt  # noqa: E402  (only after plots has chosen the backend)
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

TOP_INPUT = 15  # input pixels drawn in the network graph (the seed shows about 15 of 784)
TOP_HIDDEN = 12  # neurons (or channels) drawn per hidden layer: enough to see a pattern, few enough to read
RECENT = 50  # predictions shown in the confidence panel
HIGH_CONFIDENCE, LOW_CONFIDENCE = 0.9, 0.5  # the confidence panel's guide lines


# === panel data: numbers only ===================================================================


def top_k(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest ``values``, largest first; ties go to the lower index."""
    return torch.sort(values, descending=True, stable=True).indices[: min(k, len(values))]


def connection_strengths(contributions: torch.Tensor, to_idx: torch.Tensor, from_idx: torch.Tensor) -> torch.Tensor:
    """|signal| along each drawn connection, scaled so the strongest one drawn is 1.

    ``contributions[j, i]`` is what unit ``i`` adds to unit ``j`` of the next layer (for a Linear
    layer ``W[j, i] * a_i``); the result is (len(to_idx), len(from_idx)).
    """
    block = contributions[to_idx][:, from_idx].abs()
    peak = block.max() if block.numel() else torch.tensor(0.0)
    return block / peak if peak > 0 else block


def unit_activity(x: torch.Tensor, producer: nn.Module | None) -> torch.Tensor:
    """One number per unit: a neuron's activation, or a convolution channel's mean over its positions."""
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
            return (weight.reshape(len(weight), channels, -1) * x.reshape(1, channels, -1)).sum(dim=2)
        return weight * x.reshape(1, -1)  # (out, in)
    kernel_sums = weight.sum(dim=(2, 3))  # (C_out, C_in)
    if producer is None:  # raw pixels into the first convolution: every pixel feeds every channel
        pixels = x.reshape(-1)  # (H*W,)
        return kernel_sums.sum(dim=1, keepdim=True) * pixels.reshape(1, -1) / len(pixels)  # (C_out, H*W)
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
    return ((values[shown] - low) / (high - low)).clamp(0, 1) if high > low else torch.zeros(len(shown))


@dataclass
class Graph:
    """Panel 3: the columns, and the connections between neighbouring columns' drawn units."""

    columns: list[Column]
    strengths: list[torch.Tensor]  # strengths[c]: (k_{c+1}, k_c) in [0, 1]
    excites: list[torch.Tensor]  # excites[c]: True where the signal pushes the next unit up


def _column_names(layers: list[tuple[str, nn.Module]]) -> list[tuple[str, str]]:
    """(title, unit) of what each weight layer reads: "input" pixels, then "conv 1" channels, "hidden 1" neurons."""
    names, counts = [("input", "pixels")], {"conv": 0, "hidden": 0}
    for _, producer in layers[:-1]:
        kind, unit = ("conv", "channels") if isinstance(producer, nn.Conv2d) else ("hidden", "neurons")
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
    columns.append(Column("output", "digits", logits, torch.arange(len(logits)), probs.float().cpu()))
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
        """(10, 10) counts, rows = true digit, columns = prediction (common.evaluation's definition)."""
        return evaluation.confusion_matrix(torch.tensor(self.labels, dtype=torch.long),
                                           torch.tensor(self.preds, dtype=torch.long), num_classes)

    def accuracy(self) -> float:
        """Share of the digits so far that were predicted right (a fraction; 0 before the first)."""
        return sum(t == p for t, p in zip(self.labels, self.preds)) / max(1, len(self.labels))

    def recent(self, n: int = RECENT) -> tuple[list[float], list[bool]]:
        """The last ``n`` confidences, oldest first, and whether each of those predictions was right."""
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
    """Panel 5: names, mean and max activation of each hidden layer (all it passes on) and of the output logits."""
    layers = activations.weight_layers(model)
    tensors = [record.inputs[name][0] for name, _ in layers[1:]] + [record.outputs[layers[-1][0]][0]]
    names = [column.title for column in graph.columns[1:]]
    return names, [float(t.float().mean()) for t in tensors], [float(t.float().max()) for t in tensors]


def make_frame(model: nn.Module, image: torch.Tensor, label: int, stats: RunningStats) -> Frame:
    """Classify one uint8 (28, 28) digit with hooks on, update ``stats``, and gather every panel's numbers."""
    device = next(model.parameters()).device
    logits, record = activations.record_forward(model, data.normalize(image[None]).to(device))  # (1, 1, 28, 28) in
    probs = F.softmax(logits[0].float().cpu(), dim=0)  # (10,): softmax only because probabilities are shown
    pred = int(probs.argmax())
    stats.add(label, pred, float(probs[pred]))
    graph = network_graph(model, record, probs)
    names, means, maxes = layer_summary(graph, record, model)
    recent, right = stats.recent()
    last_layer = activations.weight_layers(model)[-1][1]
    return Frame(image=image.float().cpu() / 255, label=int(label), probs=probs, pred=pred, graph=graph,
                 layer_names=names, layer_means=means, layer_maxes=maxes,
                 output_weights=last_layer.weight.detach().float().cpu()[pred], confusion=stats.confusion(),
                 accuracy=stats.accuracy(), seen=len(stats.labels), recent=recent, recent_right=right)


def frame_stream(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 stats: RunningStats | None = None) -> Iterator[Frame]:
    """One :class:`Frame` per digit of ``images`` (N, 28, 28) uint8, computed just before it is drawn.

    Pass your own ``stats`` to read the totals afterwards.
    """
    stats = RunningStats() if stats is None else stats
    for image, label in zip(images, labels):
        yield make_frame(model, image, int(label), stats)


# === drawing: artists made once, updated per digit ==============================================

Updater = Callable[[Frame], None]
RIGHT_COLOR, WRONG_COLOR = plots.PALETTE[2], plots.PALETTE[3]  # bluish green, vermillion
EXCITE_COLOR, INHIBIT_COLOR = np.array(to_rgb(plots.PALETTE[0])), np.array(to_rgb(plots.PALETTE[3]))
NODE_CMAP = plt.get_cmap("Greys")
FIGSIZE = (16, 9)


def _verdict(frame: Frame) -> str:
    """Green for a right prediction, vermillion for a wrong one."""
    return RIGHT_COLOR if frame.pred == frame.label else WRONG_COLOR


def draw_input(ax: plt.Axes) -> Updater:
    """Panel 1: the digit, with the pixels panel 3 shows as the input layer marked."""
    picture = ax.imshow(np.zeros((data.IMAGE_SIZE, data.IMAGE_SIZE)), cmap="gray", vmin=0, vmax=1)
    marks = ax.scatter([], [], s=14, facecolors="none", edgecolors=plots.PALETTE[1], linewidths=0.9)
    ax.set_xticks([])
    ax.set_yticks([])

    def update(frame: Frame) -> None:
        picture.set_data(frame.image.numpy())
        shown = frame.graph.columns[0].shown.numpy()
        marks.set_offsets(np.column_stack([shown % data.IMAGE_SIZE, shown // data.IMAGE_SIZE]))
        wrong = "  WRONG" if frame.pred != frame.label else ""
        ax.title.set_text(f"1. Input: a {frame.label}\npredicted {frame.pred} ({frame.confidence:.1%}){wrong}")
        ax.title.set_color(_verdict(frame))
    return update


def draw_probabilities(ax: plt.Axes) -> Updater:
    """Panel 2: the softmax probabilities; the predicted digit's bar is green (vermillion when it is wrong)."""
    bars = ax.bar(range(data.NUM_CLASSES), np.zeros(data.NUM_CLASSES), color=plots.BASE_COLOR)
    note = ax.text(0, 0, "", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(data.NUM_CLASSES))
    ax.set_ylim(0, 1.15)
    ax.set_yticks([0, 0.5, 1.0], ["0%", "50%", "100%"])
    plots._style(ax, "", "digit", "", grid="y")

    def update(frame: Frame) -> None:
        for digit, bar in enumerate(bars):
            bar.set_height(float(frame.probs[digit]))
            bar.set_color(_verdict(frame) if digit == frame.pred else plots.BASE_COLOR)
        note.set_position((frame.pred, frame.confidence + 0.02))
        note.set_text(f"{frame.confidence:.0%}")
        ax.title.set_text(f"2. Output probabilities (true digit: {frame.label})")
    return update


def draw_confusion(ax: plt.Axes) -> Updater:
    """Panel 4: counts of (true, predicted) pairs so far; the current digit's cell is outlined."""
    size = data.NUM_CLASSES
    cells = ax.imshow(np.zeros((size, size)), cmap="Blues", vmin=0, vmax=1)
    counts = [[ax.text(col, row, "", ha="center", va="center", fontsize=6.5) for col in range(size)]
              for row in range(size)]
    current = ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=plots.PALETTE[1], linewidth=2))
    ax.set_xticks(range(size))
    ax.set_yticks(range(size))
    ax.tick_params(labelsize=7, length=0)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)

    def update(frame: Frame) -> None:
        matrix = frame.confusion.numpy()
        peak = max(1, int(matrix.max()))
        cells.set_data(matrix)
        cells.set_clim(0, peak)
        for (row, col), value in np.ndenumerate(matrix):
            counts[row][col].set_text(str(value))
            counts[row][col].set_visible(bool(value))  # empty cells stay blank (and cost nothing to draw)
            counts[row][col].set_color("white" if value > peak / 2 else "black")
        current.set_xy((frame.pred - 0.5, frame.label - 0.5))
        ax.title.set_text(f"4. Confusion, {frame.seen} digits: accuracy {frame.accuracy:.1%}")
    return update


def _slots(graph: Graph) -> tuple[np.ndarray, list[np.ndarray], float]:
    """x of each column, y of each drawn unit (most active at the top), and the spacing between units."""
    xs = np.linspace(0.08, 0.92, len(graph.columns))
    spacing = 0.78 / max(len(column.shown) for column in graph.columns)
    ys = [0.48 + ((len(column.shown) - 1) / 2 - np.arange(len(column.shown))) * spacing for column in graph.columns]
    return xs, ys, spacing


def _edge_style(strengths: torch.Tensor, excites: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """RGBA colour and width per connection: strong signals dark and thick, weak ones faint and thin."""
    s = strengths.reshape(-1).numpy()[:, None]
    rgb = np.where(excites.reshape(-1).numpy()[:, None], EXCITE_COLOR, INHIBIT_COLOR)
    return np.hstack([rgb, 0.03 + 0.8 * s]), 0.2 + 2.6 * s[:, 0]


def _unit_label(column: Column, index: int) -> str:
    """A drawn unit's name: a pixel's row,column; a neuron's or channel's number."""
    if column.unit == "pixels":
        return f"{index // data.IMAGE_SIZE},{index % data.IMAGE_SIZE}"
    return str(index)


def _draw_column_frame(ax: plt.Axes, column: Column, x: float, ys: np.ndarray, spacing: float) -> None:
    """The parts of a column that never change: its heading and the ⋮ for the units left out."""
    total = len(column.values)
    drawn = len(column.shown)
    count = f"all {total} {column.unit}" if total == drawn else f"top {drawn} of {total} {column.unit}"
    count += " (row,col)" if column.unit == "pixels" else ""
    ax.text(x, 0.93, f"{column.title}\n{count}", ha="center", va="bottom", fontsize=8.5)
    if total > len(column.shown):
        ax.text(x, ys[-1] - 0.9 * spacing, "⋮", ha="center", va="center", fontsize=14, color="dimgray")


def draw_network(ax: plt.Axes, graph: Graph) -> Updater:
    """Panel 3: units shaded by activation, connections by the signal they carry (weight x activation)."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.title.set_text("3. Network activity for this digit")
    xs, ys, spacing = _slots(graph)
    edges = []
    for c in range(len(graph.columns) - 1):
        segments = [[(xs[c], y0), (xs[c + 1], y1)] for y1 in ys[c + 1] for y0 in ys[c]]  # (k_next * k) lines
        edges.append(ax.add_collection(LineCollection(segments, zorder=1)))
    nodes, labels = [], []
    for column, x, y in zip(graph.columns, xs, ys):
        _draw_column_frame(ax, column, x, y, spacing)
        nodes.append(ax.scatter(np.full(len(y), x), y, s=300, edgecolors="0.3", linewidths=0.8, zorder=2))
        inside = column.unit not in ("pixels", "digits")
        offset, align = (0, "center") if inside else ((-0.018, "right") if column.unit == "pixels" else (0.018, "left"))
        labels.append([ax.text(x + offset, yy, "", ha=align, va="center", fontsize=7 if inside else 8.5, zorder=3)
                       for yy in y])
    ax.text(0.5, 0.015, "shade = activation (darker = more active)    line width = |weight x activation|    "
            "blue pushes the next unit up, orange pushes it down", ha="center", fontsize=8, color="dimgray")

    def update(frame: Frame) -> None:
        for edge, strength, excite in zip(edges, frame.graph.strengths, frame.graph.excites):
            colors, widths = _edge_style(strength, excite)
            edge.set_color(colors)
            edge.set_linewidth(widths)
        for column, dots, texts in zip(frame.graph.columns, nodes, labels):
            shade = column.shade.numpy()
            dots.set_facecolor(NODE_CMAP(0.03 + 0.82 * shade))
            for unit, value, text in zip(column.shown.tolist(), shade, texts):
                text.set_text(_unit_label(column, unit))
                text.set_color("white" if value > 0.55 and column.unit not in ("pixels", "digits") else "black")
        _mark_prediction(labels[-1], nodes[-1], frame)
    return update


def _mark_prediction(texts: list, dots, frame: Frame) -> None:
    """The output layer: the predicted digit's label bold and coloured, its node outlined."""
    color = _verdict(frame)
    for digit, text in enumerate(texts):
        chosen = digit == frame.pred
        text.set_color(color if chosen else "black")
        text.set_fontweight("bold" if chosen else "normal")
        text.set_text(f"{digit}  {frame.probs[digit]:.0%}" if chosen else str(digit))
    dots.set_edgecolors([color if digit == frame.pred else "0.3" for digit in range(len(texts))])
    dots.set_linewidths([2.5 if digit == frame.pred else 0.8 for digit in range(len(texts))])


def draw_layer_activity(ax: plt.Axes, names: list[str]) -> Updater:
    """Panel 5: mean (blue) and max (red) activation per layer: how the signal changes on its way."""
    positions = np.arange(len(names))
    means = ax.bar(positions - 0.2, np.zeros(len(names)), 0.4, color=plots.PALETTE[0], label="mean")
    maxes = ax.bar(positions + 0.2, np.zeros(len(names)), 0.4, color=plots.PALETTE[3], label="max")
    ax.set_xticks(positions, names, fontsize=8)
    ax.axhline(0, color="0.4", linewidth=0.8)
    plots._style(ax, "", "", "activation", grid="y")
    ax.title.set_text("5. Layer activations: mean (blue), max (red)")

    def update(frame: Frame) -> None:
        for bar, value in zip(means, frame.layer_means):
            bar.set_height(value)
        for bar, value in zip(maxes, frame.layer_maxes):
            bar.set_height(value)
        low = min(0.0, *frame.layer_means)
        ax.set_ylim(low * 1.2, max(frame.layer_maxes) * 1.15 or 1.0)
    return update


def draw_output_weights(ax: plt.Axes, all_weights: torch.Tensor, bins: int = 30) -> Updater:
    """Panel 6: histogram of the weights into the predicted output neuron, on bins and axes shared by all ten."""
    edges = np.linspace(float(all_weights.min()), float(all_weights.max()), bins + 1)
    tallest = max(int(np.histogram(row, bins=edges)[0].max()) for row in all_weights.numpy())
    bars = ax.bar(edges[:-1], np.zeros(bins), width=np.diff(edges), align="edge", color=plots.PALETTE[5],
                  edgecolor="white", linewidth=0.4)
    ax.axvline(0, color=plots.PALETTE[3], linestyle="--", linewidth=1.2)
    ax.set_ylim(0, tallest * 1.1)
    plots._style(ax, "", "weight", "count", grid="y")

    def update(frame: Frame) -> None:
        counts, _ = np.histogram(frame.output_weights.numpy(), bins=edges)
        for bar, count in zip(bars, counts):
            bar.set_height(count)
        positive = int((frame.output_weights > 0).sum())
        ax.title.set_text(f"6. Weights into output {frame.pred} ({positive} of {len(frame.output_weights)} positive)")
    return update


def draw_confidence(ax: plt.Axes) -> Updater:
    """Panel 7: confidence of the last predictions; mistakes marked with a red x."""
    line, = ax.plot([], [], "-", color="#008080", linewidth=1.6, marker="o", markersize=2.5)
    misses, = ax.plot([], [], "x", color=WRONG_COLOR, markersize=7, markeredgewidth=2)
    for level, color in ((HIGH_CONFIDENCE, plots.PALETTE[2]), (LOW_CONFIDENCE, plots.PALETTE[1])):
        ax.axhline(level, color=color, linestyle="--", linewidth=1)
    ax.set_xlim(0.5, RECENT + 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0, 0.5, 0.9], ["0%", "50%", "90%"])
    plots._style(ax, "", f"last {RECENT} predictions (newest on the right)", "confidence")

    def update(frame: Frame) -> None:
        steps = np.arange(1, len(frame.recent) + 1)
        confidences = np.array(frame.recent)
        line.set_data(steps, confidences)
        wrong = ~np.array(frame.recent_right, dtype=bool)
        misses.set_data(steps[wrong], confidences[wrong])
        ax.title.set_text(f"7. Confidence: mean {confidences.mean():.1%} (x = wrong)")
    return update


def _pinned(ax: plt.Axes, below: float = 22, left: float = 30) -> plt.Axes:
    """Fix the title and axis-label positions once (a title above the axes, labels a fixed distance off).

    Left to itself, matplotlib measures every tick label on every frame to place them: a third of
    the drawing time of this figure.
    """
    ax.set_title(" ", fontsize=10, y=1.0)
    ax.xaxis.set_label_coords(0.5, 0, transform=offset_copy(ax.transAxes, ax.figure, y=-below, units="points"))
    ax.yaxis.set_label_coords(0, 0.5, transform=offset_copy(ax.transAxes, ax.figure, x=-left, units="points"))
    return ax


def build_dashboard(model: nn.Module, first: Frame, title: str) -> tuple[plt.Figure, Updater]:
    """The seven-panel figure (the seed's layout) and one ``update(frame)`` that redraws every panel."""
    fig = plt.figure(figsize=FIGSIZE, facecolor="white")
    grid = fig.add_gridspec(3, 4, width_ratios=[1.0, 1.35, 1.35, 1.2], left=0.035, right=0.985, top=0.9,
                            bottom=0.06, wspace=0.28, hspace=0.55)
    axes = [_pinned(fig.add_subplot(spec)) for spec in (grid[0, 0], grid[1, 0])]
    axes.append(_pinned(fig.add_subplot(grid[2, 0]), below=16, left=16))  # the confusion matrix's small ticks
    axes += [_pinned(fig.add_subplot(spec)) for spec in (grid[:, 1:3], grid[0, 3], grid[1, 3], grid[2, 3])]
    last_layer = activations.weight_layers(model)[-1][1]
    updaters = [
        draw_input(axes[0]),
        draw_probabilities(axes[1]),
        draw_confusion(axes[2]),
        draw_network(axes[3], first.graph),
        draw_layer_activity(axes[4], first.layer_names),
        draw_output_weights(axes[5], last_layer.weight.detach().cpu()),
        draw_confidence(axes[6]),
    ]
    for ax in axes:
        ax.title.set_fontsize(10)  # the same size for every panel, however it was styled
    heading = fig.suptitle("", fontsize=13)

    def update(frame: Frame) -> None:
        for draw in updaters:
            draw(frame)
        heading.set_text(f"{title}: test digit {frame.seen}, running accuracy {frame.accuracy:.1%}")
    update(first)
    return fig, update


# === output: a window, or a PNG and a GIF =======================================================

NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def can_animate() -> bool:
    """True when a window can open: a display exists and matplotlib chose an interactive backend."""
    backend = matplotlib.get_backend().lower()
    return backend not in NON_INTERACTIVE and "inline" not in backend


def _replace(tmp: Path, path: Path) -> Path:
    """Move a finished file into place in one step (never a half-written picture)."""
    os.replace(tmp, path)
    return path


def save_png_and_gif(fig: plt.Figure, update: Updater, frames: Iterable[Frame], png: Path, gif: Path,
                     seconds_per_frame: float, gif_dpi: int = 72) -> tuple[Path, Path]:
    """Draw every frame into ``gif`` (Pillow writer), then save the last one as ``png``."""
    paths.ensure_dir(Path(gif).parent)
    tmp_gif = Path(gif).with_name(f".{Path(gif).name}.tmp.gif")
    writer = PillowWriter(fps=1 / seconds_per_frame)
    with writer.saving(fig, str(tmp_gif), dpi=gif_dpi):
        writer.grab_frame()  # the frame already drawn by build_dashboard
        for frame in frames:
            update(frame)
            writer.grab_frame()
    _replace(tmp_gif, Path(gif))
    tmp_png = Path(png).with_name(f".{Path(png).name}.tmp.png")
    fig.savefig(tmp_png, dpi=plots.DPI, facecolor="white")
    plt.close(fig)
    return _replace(tmp_png, Path(png)), Path(gif)


def animate(fig: plt.Figure, update: Updater, frames: Iterable[Frame], seconds_per_frame: float) -> FuncAnimation:
    """Show the dashboard in a window, one digit every ``seconds_per_frame``, until it is closed."""
    animation = FuncAnimation(fig, update, frames=frames, init_func=lambda: None, interval=1000 * seconds_per_frame,
                              repeat=False, cache_frame_data=False)
    plt.show()
    return animation
