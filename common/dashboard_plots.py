"""Drawing the live network dashboard of :mod:`common.dashboard` (Phase 6 companion).

Each ``draw_*`` function makes one panel's artists once and returns an ``update(frame)`` that
only changes their data per digit, which is what makes a 30-digit GIF take seconds rather
than minutes. :func:`save_png_and_gif` writes the files; :func:`animate` opens a window.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib
import numpy as np
import torch
from torch import nn

from common import activations, data, paths, plots  # plots picks Agg when there is no display
from common.dashboard import RECENT, HIGH_CONFIDENCE, LOW_CONFIDENCE, Column, Frame, Graph

import matplotlib.pyplot as plt  # noqa: E402  (only after plots has chosen the backend)
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

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
        ax.title.set_text(f"1. Input: a {frame.label}\n"
                          f"predicted {frame.pred} ({frame.confidence:.1%}){wrong}")
        ax.title.set_color(_verdict(frame))
    return update


def draw_probabilities(ax: plt.Axes) -> Updater:
    """Panel 2: the softmax probabilities; the predicted digit's bar is green (vermillion when it is
    wrong)."""
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
    current = ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=plots.PALETTE[1],
                                     linewidth=2))
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
            # empty cells stay blank (and cost nothing to draw)
            counts[row][col].set_visible(bool(value))
            counts[row][col].set_color("white" if value > peak / 2 else "black")
        current.set_xy((frame.pred - 0.5, frame.label - 0.5))
        ax.title.set_text(f"4. Confusion, {frame.seen} digits: accuracy {frame.accuracy:.1%}")
    return update


def _slots(graph: Graph) -> tuple[np.ndarray, list[np.ndarray], float]:
    """x of each column, y of each drawn unit (most active at the top), and the spacing between
    units."""
    xs = np.linspace(0.08, 0.92, len(graph.columns))
    spacing = 0.78 / max(len(column.shown) for column in graph.columns)
    ys = [0.48 + ((len(column.shown) - 1) / 2 - np.arange(len(column.shown))) * spacing
          for column in graph.columns]
    return xs, ys, spacing


def _edge_style(strengths: torch.Tensor, excites: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """RGBA colour and width per connection: strong signals dark and thick, weak ones faint and
    thin."""
    s = strengths.reshape(-1).numpy()[:, None]
    rgb = np.where(excites.reshape(-1).numpy()[:, None], EXCITE_COLOR, INHIBIT_COLOR)
    return np.hstack([rgb, 0.03 + 0.8 * s]), 0.2 + 2.6 * s[:, 0]


def _unit_label(column: Column, index: int) -> str:
    """A drawn unit's name: a pixel's row,column; a neuron's or channel's number."""
    if column.unit == "pixels":
        return f"{index // data.IMAGE_SIZE},{index % data.IMAGE_SIZE}"
    return str(index)


def _draw_column_frame(ax: plt.Axes, column: Column, x: float, ys: np.ndarray,
                       spacing: float) -> None:
    """The parts of a column that never change: its heading and the ⋮ for the units left out."""
    total = len(column.values)
    drawn = len(column.shown)
    count = (f"all {total} {column.unit}" if total == drawn
             else f"top {drawn} of {total} {column.unit}")
    count += " (row,col)" if column.unit == "pixels" else ""
    ax.text(x, 0.93, f"{column.title}\n{count}", ha="center", va="bottom", fontsize=8.5)
    if total > len(column.shown):
        ax.text(x, ys[-1] - 0.9 * spacing, "⋮", ha="center", va="center", fontsize=14,
                color="dimgray")


def draw_network(ax: plt.Axes, graph: Graph) -> Updater:
    """Panel 3: units shaded by activation, connections by the signal they carry (weight x
    activation)."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.title.set_text("3. Network activity for this digit")
    xs, ys, spacing = _slots(graph)
    edges = []
    for c in range(len(graph.columns) - 1):
        # (k_next * k) lines
        segments = [[(xs[c], y0), (xs[c + 1], y1)] for y1 in ys[c + 1] for y0 in ys[c]]
        edges.append(ax.add_collection(LineCollection(segments, zorder=1)))
    nodes, labels = [], []
    for column, x, y in zip(graph.columns, xs, ys):
        _draw_column_frame(ax, column, x, y, spacing)
        nodes.append(ax.scatter(np.full(len(y), x), y, s=300, edgecolors="0.3", linewidths=0.8,
                                zorder=2))
        inside = column.unit not in ("pixels", "digits")
        outside = (-0.018, "right") if column.unit == "pixels" else (0.018, "left")
        offset, align = (0, "center") if inside else outside
        labels.append([ax.text(x + offset, yy, "", ha=align, va="center",
                               fontsize=7 if inside else 8.5, zorder=3)
                       for yy in y])
    ax.text(0.5, 0.015,
            "shade = activation (darker = more active)    line width = |weight x activation|    "
            "blue pushes the next unit up, orange pushes it down", ha="center", fontsize=8,
            color="dimgray")

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
                inside = column.unit not in ("pixels", "digits")
                text.set_color("white" if value > 0.55 and inside else "black")
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
    """Panel 5: mean and max activation per layer: how the signal changes on its way."""
    positions = np.arange(len(names))
    means = ax.bar(positions - 0.2, np.zeros(len(names)), 0.4, color=plots.PALETTE[0], label="mean")
    maxes = ax.bar(positions + 0.2, np.zeros(len(names)), 0.4, color=plots.PALETTE[3], label="max")
    ax.set_xticks(positions, names, fontsize=8)
    ax.axhline(0, color="0.4", linewidth=0.8)
    plots._style(ax, "", "", "activation", grid="y")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.title.set_text("5. Layer activations: mean and max")

    def update(frame: Frame) -> None:
        for bar, value in zip(means, frame.layer_means):
            bar.set_height(value)
        for bar, value in zip(maxes, frame.layer_maxes):
            bar.set_height(value)
        low = min(0.0, *frame.layer_means)
        ax.set_ylim(low * 1.2, max(frame.layer_maxes) * 1.15 or 1.0)
    return update


def draw_output_weights(ax: plt.Axes, all_weights: torch.Tensor, bins: int = 30) -> Updater:
    """Panel 6: histogram of the weights into the predicted output neuron, on bins and axes shared
    by all ten."""
    edges = np.linspace(float(all_weights.min()), float(all_weights.max()), bins + 1)
    tallest = max(int(np.histogram(row, bins=edges)[0].max()) for row in all_weights.numpy())
    bars = ax.bar(edges[:-1], np.zeros(bins), width=np.diff(edges), align="edge",
                  color=plots.PALETTE[5],
                  edgecolor="white", linewidth=0.4)
    ax.axvline(0, color=plots.PALETTE[3], linestyle="--", linewidth=1.2)
    ax.set_ylim(0, tallest * 1.1)
    ax.yaxis.get_major_locator().set_params(integer=True)  # counts are whole numbers
    plots._style(ax, "", "weight", "count", grid="y")

    def update(frame: Frame) -> None:
        counts, _ = np.histogram(frame.output_weights.numpy(), bins=edges)
        for bar, count in zip(bars, counts):
            bar.set_height(count)
        positive = int((frame.output_weights > 0).sum())
        ax.title.set_text(f"6. Weights into output {frame.pred} "
                          f"({positive} of {len(frame.output_weights)} positive)")
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
    """Fix the title and axis-label positions once (a title above the axes, labels a fixed distance
    off).

    Left to itself, matplotlib measures every tick label on every frame to place them: a third of
    the drawing time of this figure.
    """
    ax.set_title(" ", fontsize=10, y=1.0)
    ax.xaxis.set_label_coords(0.5, 0, transform=offset_copy(ax.transAxes, ax.figure, y=-below,
                                                            units="points"))
    ax.yaxis.set_label_coords(0, 0.5, transform=offset_copy(ax.transAxes, ax.figure, x=-left,
                                                            units="points"))
    return ax


def build_dashboard(model: nn.Module, first: Frame, title: str) -> tuple[plt.Figure, Updater]:
    """The seven-panel figure (the seed's layout) and one ``update(frame)`` that redraws every
    panel."""
    fig = plt.figure(figsize=FIGSIZE, facecolor="white")
    grid = fig.add_gridspec(3, 4, width_ratios=[1.0, 1.35, 1.35, 1.2], left=0.035, right=0.985,
                            top=0.9,
                            bottom=0.06, wspace=0.28, hspace=0.55)
    axes = [_pinned(fig.add_subplot(spec)) for spec in (grid[0, 0], grid[1, 0])]
    # the confusion matrix's small ticks
    axes.append(_pinned(fig.add_subplot(grid[2, 0]), below=16, left=16))
    axes += [_pinned(fig.add_subplot(spec)) for spec in (grid[:, 1:3], grid[0, 3], grid[1, 3],
                                                         grid[2, 3])]
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


def save_png_and_gif(fig: plt.Figure, update: Updater, frames: Iterable[Frame], png: Path,
                     gif: Path,
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


def animate(fig: plt.Figure, update: Updater, frames: Iterable[Frame],
            seconds_per_frame: float) -> FuncAnimation:
    """Show the dashboard in a window, one digit every ``seconds_per_frame``, until it is closed."""
    animation = FuncAnimation(fig, update, frames=frames, init_func=lambda: None,
                              interval=1000 * seconds_per_frame,
                              repeat=False, cache_frame_data=False)
    plt.show()
    return animation
