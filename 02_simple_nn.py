"""Phase 2: Your first neural network - build it, count it, run it by hand (no training yet).

What you will see: the 784-128-10 network layer by layer with its parameter counts (101,770 in
    all); one forward pass computed by hand with matrix products (x @ W.T + b, ReLU, softmax)
    that matches PyTorch's to the last digits; the untrained network's guess for a real digit
    (about 10% for every class); and proof that without ReLU two layers collapse into one.
What you will learn: what weights and biases are, what a forward pass computes, why an untrained
    network guesses at random, and why activation functions matter.
New since Phase 1: a model (common/models.py MLP) and the forward pass; nothing is learned yet.
Run:     python 02_simple_nn.py          (all flags: python 02_simple_nn.py --help)
Expect:  101,770 parameters, untrained accuracy near 10%; about 5 s on a 2-core CPU.
Writes:  visualizations/02_untrained_prediction.png, a row in models/results.csv
"""

import time

import torch
import torch.nn.functional as F
from torch import nn

from common import data, evaluation, ledger, models, paths, plots, progress, runs
from common import device as devices
from common.cli import check, run_main

# ----------------------------------------------------------------------------------------------
HIDDEN_SIZES = (128,)  # try 64, 256 or 128 64; the plan's first network has one layer of 128
EXAMPLE_INDEX = 0      # try 0..53999; which training image the untrained network looks at
BATCH_SIZE = 1000      # try 100..10000; images per forward pass when measuring (same accuracy)
SEED = 0               # any integer; a different seed gives different random starting weights
# ----------------------------------------------------------------------------------------------

TRY_NEXT = (
    ("--hidden-sizes 256", "the parameter table: how does one wider layer change the total?"),
    ("--hidden-sizes 128 64", "a third Linear layer; the by-hand pass still matches PyTorch"),
    ("--seed 1", "new random weights: a different untrained guess, still near 10% accuracy"),
)


def print_parameter_table(model: nn.Module) -> int:
    """One line per Linear layer: its weight and bias shapes and how many numbers it learns."""
    print(f"{'layer':<10}{'weights':>14}{'biases':>9}{'parameters':>14}")
    total = 0
    for i, layer in enumerate(m for m in model.modules() if isinstance(m, nn.Linear)):
        count = layer.weight.numel() + layer.bias.numel()
        total += count
        shape = f"{layer.out_features} x {layer.in_features}"
        print(f"linear {i + 1:<3}{shape:>14}{layer.out_features:>9}{count:>14,}"
              f"   = {layer.in_features} * {layer.out_features} + {layer.out_features}")
    print(f"{'total':<33}{total:>14,}")
    return total


def forward_by_hand(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The MLP's forward pass written out: every hidden layer is ReLU(x @ W.T + b)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    h = x.reshape(len(x), -1)  # (B, 784): the image flattened row by row
    for layer in linears[:-1]:
        h = torch.clamp(h @ layer.weight.T + layer.bias, min=0)  # (B, hidden): ReLU = max(0, z)
    return h @ linears[-1].weight.T + linears[-1].bias  # (B, 10) logits


def collapse_without_activations(x: torch.Tensor, hidden: int) -> float:
    """Two Linear layers with nothing between them equal ONE Linear layer; the max difference."""
    first, second = nn.Linear(data.IMAGE_SIZE**2, hidden), nn.Linear(hidden, data.NUM_CLASSES)
    flat = x.reshape(len(x), -1)  # (B, 784)
    two_layers = second(first(flat))
    weight = second.weight @ first.weight  # (10, 784): one matrix does the work of both
    bias = second.weight @ first.bias + second.bias  # (10,)
    return float((two_layers - (flat @ weight.T + bias)).abs().max())


def main(hidden_sizes: tuple[int, ...] = HIDDEN_SIZES, example_index: int = EXAMPLE_INDEX,
         batch_size: int = BATCH_SIZE, seed: int = SEED, show: bool = False) -> dict:
    """Build the network, inspect it, and run it by hand and by PyTorch."""
    check(len(hidden_sizes) >= 1 and all(size >= 1 for size in hidden_sizes),
          f"--hidden-sizes needs one or more positive layer widths (e.g. 128), got {hidden_sizes}")
    check(batch_size >= 1, f"--batch-size must be at least 1, got {batch_size}")
    start = time.perf_counter()

    # --- data ---
    splits = data.load_mnist(seed=seed)
    check(0 <= example_index < len(splits.train),
          f"--example-index must be 0..{len(splits.train) - 1}")
    image = splits.train.images[example_index : example_index + 1]  # (1, 28, 28) uint8
    label = int(splits.train.labels[example_index])
    x = data.normalize(image)  # (1, 1, 28, 28)

    # --- model ---
    devices.seed_everything(seed)
    model = models.MLP(hidden_sizes=hidden_sizes)
    print(model, "\n")
    num_params = print_parameter_table(model)

    # --- forward pass by hand ---
    model.eval()
    with torch.inference_mode():
        logits = model(x)  # (1, 10)
        by_hand = forward_by_hand(model, x)
    probs = F.softmax(logits, dim=1)[0]  # softmax only to show probabilities
    difference = float((logits - by_hand).abs().max())
    print(f"\nforward pass by hand vs PyTorch: largest difference {difference:.1e}")
    print("logits (raw scores):   " + " ".join(f"{v:+.2f}" for v in logits[0].tolist()))
    print("softmax probabilities: " + " ".join(f"{p:.2f}" for p in probs.tolist())
          + f"  (sum {float(probs.sum()):.2f})")
    guess = int(probs.argmax())
    chance = 1 / data.NUM_CLASSES
    print(f"the untrained network says {guess} ({float(probs[guess]):.1%}) for a {label}: "
          f"its weights are random,\nso every digit gets roughly {chance:.0%}")

    # --- why activations matter ---
    with torch.no_grad():
        gap = collapse_without_activations(x, hidden_sizes[0])
    pixels = data.IMAGE_SIZE**2
    print(f"without ReLU, Linear({pixels}->{hidden_sizes[0]}) then "
          f"Linear({hidden_sizes[0]}->{data.NUM_CLASSES}) equals one Linear({pixels}->"
          f"{data.NUM_CLASSES})\n(largest difference {gap:.1e}): "
          "depth adds nothing without a non-linearity")

    # --- results ---
    _, val_loader, test_loader = data.make_loaders(splits, batch_size=batch_size,
                                                   eval_batch_size=batch_size)
    val_acc = evaluation.evaluate(model, val_loader)["accuracy"]
    test_acc = evaluation.evaluate(model, test_loader)["accuracy"]  # the baseline, measured once
    print(f"untrained accuracy: validation {val_acc:.2%}, test {test_acc:.2%} "
          f"(chance is {chance:.0%})")
    figure = plots.plot_bars([str(d) for d in range(data.NUM_CLASSES)], probs.tolist(),
                             paths.vis_path("02_untrained_prediction.png"),
                             title=f"Untrained network's guess for a {label} "
                                   f"(pure chance would be {chance:.2f} each)",
                             ylabel="probability", highlight=guess, value_fmt="{:.2f}", show=show)
    seconds = time.perf_counter() - start
    ledger.append_result(script="02_simple_nn.py", step="untrained", model=runs.describe(model),
                         params=num_params, epochs=0, seconds=seconds, val_acc=val_acc,
                         test_acc=test_acc, seed=seed,
                         hyperparameters={"hidden_sizes": list(hidden_sizes)})
    print(f"\nsummary: {num_params:,} parameters, untrained test accuracy {test_acc:.2%}, "
          f"{seconds:.1f} s")
    runs.print_files([figure, paths.results_csv()])
    print("try next (python 02_simple_nn.py FLAG):")
    for flag, look in TRY_NEXT:
        print(f"  {flag:<24}{look}")
    progress.update_plan()
    plots.show_figures(show)
    return {"params": num_params, "max_difference": difference,
            "collapse_difference": gap, "probs": probs, "val_acc": val_acc, "test_acc": test_acc}


if __name__ == "__main__":
    run_main(main)
