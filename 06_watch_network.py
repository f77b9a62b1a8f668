"""Phase 6 companion: Watch your trained network think, one test digit after another.

What you will see: a PNG and an animated GIF (or, with --show and a display, a live window)
    with seven panels that update for every digit: the digit with its true label, prediction
    and confidence; the ten output probabilities; the network at work (the 15 brightest input
    pixels, the most
    active neurons of each hidden layer, the 10 outputs, and lines as thick as the signal each
    connection carries); the confusion matrix and accuracy so far; the mean and max activation
    of each layer; the weights into the predicted output neuron; and the confidence of the last
    50 predictions.
What you will learn: a prediction is many small weighted signals adding up; only a few neurons
    of each layer fire strongly for a given digit, and different digits light up different ones;
    confident predictions are usually right, and the uncertain ones are where the mistakes hide.
New since Phase 5: forward hooks (common/activations.py) record every layer during one ordinary
    forward pass, so the pictures show the numbers the model really computed.
Run:     python 06_watch_network.py          (all flags: python 06_watch_network.py --help)
         python 06_watch_network.py --show   (with a display: animate live in a window instead)
         python 03_train_model.py --hidden-sizes 128 64   first: the 784-128-64-10 net it expects
         python 06_watch_network.py --checkpoint models/cnn.pt   (a CNN: its strongest channels)
Expect:  about 97-98% of the digits right (30 random digits: usually all or all but one); the
         30-digit GIF takes about 15 s on a 2-core CPU.
Writes:  visualizations/06_network_dashboard.png and visualizations/06_network_dashboard.gif
         (unless a live window was asked for with --show and could open)
"""

import time
from pathlib import Path

import torch

from common import checkpoints, dashboard, dashboard_plots, data, paths, progress, runs
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
CHECKPOINT = "models/mlp.pt"  # any course checkpoint: models/mlp.pt (Phase 3), models/cnn.pt
COUNT = 30             # try 10..200; how many test digits to watch (and GIF frames to write)
INTERVAL = 1.0         # try 0.2..3; seconds each digit stays on screen (and in the GIF)
SEED = 0               # any integer; picks which test digits are shown, in which order
# ----------------------------------------------------------------------------------------------

TRY_NEXT = (
    ("--checkpoint models/cnn.pt", "panel 3 shows the CNN's strongest channels instead of neurons"),
    ("--count 200", "panel 4: which cells off the diagonal fill up first?"),
    ("--seed 1", "other digits: do the same hidden neurons light up for every 7?"),
)


def checkpoint_file(checkpoint: str) -> Path:
    """``models/<name>`` means the course's models folder, wherever the script is run from."""
    path = Path(checkpoint)
    if not path.is_absolute() and path.parts[:1] == ("models",) and len(path.parts) > 1:
        return paths.MODELS_DIR.joinpath(*path.parts[1:])
    return path


def load_trained_model(checkpoint: str):
    """The trained model on the CPU (fastest for one digit at a time); if missing, what to run."""
    path = checkpoint_file(checkpoint)
    if not path.is_file() and path.name == "mlp.pt":
        raise CourseError(f"{paths.display_path(path)} not found: run "
                          "`python 03_train_model.py --hidden-sizes 128 64` first (the "
                          "784-128-64-10 network this dashboard was designed for)")
    return checkpoints.load_model(path, "cpu")


def main(checkpoint: str = CHECKPOINT, count: int = COUNT, interval: float = INTERVAL,
         seed: int = SEED, show: bool = False) -> dict:
    """Classify ``count`` random test digits with hooks on; show (or save) the dashboard."""
    check(count >= 1, f"--count must be at least 1, got {count}")
    check(interval > 0, f"--interval must be positive (seconds per digit), got {interval}")
    start = time.perf_counter()

    # --- model and digits ---
    model, saved = load_trained_model(checkpoint)
    title = runs.describe(model)
    saved_acc = saved.get("metrics", {}).get("test_acc")
    print(f"model: {title}"
          + (f", {saved_acc:.2%} test accuracy when it was saved" if saved_acc else ""))
    test = data.load_mnist(seed=seed).test  # test digits, in a seeded random order
    check(count <= len(test), f"--count must be at most {len(test)}, the number of test digits")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:count]
    stats = dashboard.RunningStats()
    frames = dashboard.frame_stream(model, test.images[order], test.labels[order], stats)

    # --- the dashboard ---
    fig, update = dashboard_plots.build_dashboard(model, next(frames), title)
    files = []
    if show and dashboard_plots.can_animate():
        print(f"showing {count} digits, one every {interval:g} s; close the window when done")
        dashboard_plots.animate(fig, update, frames, interval)
    else:
        print(f"no window {'can open here' if show else 'asked for'}: drawing {count} digits "
              "into a GIF ...")
        files = list(dashboard_plots.save_png_and_gif(
            fig, update, frames, paths.vis_path("06_network_dashboard.png"),
            paths.vis_path("06_network_dashboard.gif"), interval))

    # --- results ---
    seen, accuracy = len(stats.labels), stats.accuracy()
    mean_confidence = sum(stats.confidences) / max(1, seen)
    seconds = time.perf_counter() - start
    print(f"summary: {title} got {accuracy:.1%} of {seen} test digits right "
          f"(mean confidence {mean_confidence:.1%}), {seconds:.1f} s")
    if files:
        runs.print_files(files)
    print("try next (python 06_watch_network.py FLAG):")
    for flag, look in TRY_NEXT:
        print(f"  {flag:<29}{look}")
    progress.update_plan()
    return {"seen": seen, "accuracy": accuracy, "mean_confidence": mean_confidence,
            "confusion": stats.confusion(), "files": files, "seconds": seconds}


if __name__ == "__main__":
    run_main(main)
