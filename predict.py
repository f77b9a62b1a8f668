"""Phase 6 (bonus): Predict your own handwritten digit - a photo, a scan, or one you draw.

What you will see: for every image, the three most likely digits with their probabilities;
    with --save, a figure of your image, the 28 x 28 picture the network actually saw, and all
    ten probabilities. A folder predicts every image in it; files that are not usable images
    get a one-line reason and the others still run. When the true digits are known (a digit in
    the file name: 7.png, seven_7.jpg, img3_label7.png; or a labels.csv of "file,digit" lines
    beside the images) it ends with your accuracy, the most common confusions and the gap to
    the model's MNIST test accuracy.
What you will learn: a network only knows the world it was trained on. MNIST digits are bright
    ink on black, 20 px tall, centred by their centre of mass; a photo becomes one only after
    the same recipe (common/digit_preprocess.py). Squashing the photo to 28 x 28 instead gives
    10-40% accuracy (see benchmarks/bench_own_digits.py).
New since Phase 5: MNIST-faithful preprocessing of any picture; a drawing pad (--draw).
Run:     python predict.py my_digit.jpg [more.png ...]     (dark ink on light paper, or the reverse)
         python predict.py my_digits/ --save                (every image of a folder, with figures)
         python predict.py --draw                           (draw with the mouse; needs a display)
         python predict.py my_digit.jpg --arch mlp          (ask the Phase 3 MLP instead of the CNN)
Expect:  the right digit for a clear, single digit on a plain background; a few seconds.
Writes:  visualizations/predict_<image name>.png (with --save)
Try next: --arch mlp on the same folder (which model copes better with your handwriting?);
         --save, then look at the 28 x 28 input of a digit that failed.
"""

import csv
import re
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from common import checkpoints, data, digit_preprocess, drawing_pad, evaluation
from common import interpret_plots, paths, plots, progress, runs
from common import device as devices
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
ARCH = "cnn"     # which model answers: cnn (models/cnn.pt, Phase 5), mlp (Phase 3) or lenet
TOP_K = 3        # try 1..10; how many of the most likely digits are printed per image
MAX_LINES = 20   # try 10..1000; images printed one per line before only the summary follows
TOP_CONFUSED = 3  # try 1..10; most common (true digit -> answer) mistakes in the summary
# ----------------------------------------------------------------------------------------------

LABELS_FILE = "labels.csv"  # optional, beside the images: one "file name,digit" per line
WIDTH = 100  # the terminal width every printed line fits


def classify(model: nn.Module, gray: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-faithful preprocessing, then the model: (28 x 28 input in [0, 1], probabilities)."""
    digit = digit_preprocess.prepare_digit(gray, name)  # (28, 28) bright ink on black, like MNIST
    images = data.normalize(digit[None, None]).to(evaluation.model_device(model))  # (1, 1, 28, 28)
    with evaluation.evaluating(model):
        probs = torch.softmax(model(images), dim=1)[0].cpu()  # (10,), because they are shown
    return digit, probs


def label_from_name(name: str) -> int | None:
    """The true digit written in a file name, or None.

    "label7", "label_7" anywhere wins ("img3_label7.png" is a 7); otherwise a last part that
    is one digit ("7.png", "seven_7.jpg", "scan-2.png"). "img3.png" says nothing for sure.
    """
    stem = Path(name).stem.lower()
    tagged = re.search(r"label[_\- ]?(\d)(?!\d)", stem)
    if tagged:
        return int(tagged.group(1))
    last = re.split(r"[_\- .]+", stem)[-1]
    return int(last) if re.fullmatch(r"\d", last) else None


def read_labels_file(folder: Path) -> dict[str, int]:
    """``labels.csv`` in ``folder`` as {file name: digit}; other rows are skipped."""
    path = folder / LABELS_FILE
    if not path.is_file():
        return {}
    labels = {}
    with path.open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and row[1].strip().isdigit() and len(row[1].strip()) == 1:
                labels[row[0].strip()] = int(row[1])
    return labels


def true_labels(files: list[Path]) -> dict[str, int]:
    """The known true digit of each file: its folder's labels.csv first, then its name."""
    tables: dict[Path, dict[str, int]] = {}
    known = {}
    for path in files:
        table = tables.setdefault(path.parent, read_labels_file(path.parent))
        label = table.get(path.name, label_from_name(path.name))
        if label is not None:
            known[str(path)] = label
    return known


def expand(arguments: tuple[str, ...]) -> tuple[list[Path], dict[str, str]]:
    """Files to predict (folders expanded) and a reason for each argument that gives none."""
    files, problems = [], {}
    for argument in arguments:
        found = digit_preprocess.image_files([argument])
        if Path(argument).is_dir() and not found:
            problems[argument] = f"{argument} is an empty folder"
        files.extend(found)
    return files, problems


def print_line(path: str, top: list[tuple[int, float]], label: int | None, width: int) -> None:
    """One image: its name, its top digits, and right/WRONG when the true digit is known."""
    name = path if len(path) <= width else "..." + path[-(width - 3):]
    verdict = "" if label is None else ("  right" if top[0][0] == label else f"  WRONG, is {label}")
    answers = "   ".join(f"{d} {p:6.1%}" for d, p in top) + verdict
    line = f"{name:<{width}}  {answers}"
    print(line if len(line) <= WIDTH else f"{name}\n    {answers}")


def summarize_labelled(predictions: dict[str, list], labels: dict[str, int],
                       mnist_acc: float | None, top_confused: int) -> dict:
    """Accuracy on the labelled images, the commonest confusions, and the gap to MNIST."""
    scored = [(labels[p], top[0][0]) for p, top in predictions.items() if p in labels]
    if not scored:
        return {}
    right = sum(true == guess for true, guess in scored)
    accuracy = right / len(scored)
    mistakes = Counter((true, guess) for true, guess in scored if true != guess)
    print(f"\nyour labelled images: {right} of {len(scored)} right = {accuracy:.1%}")
    if mistakes:
        print("most common mistakes: " + ", ".join(
            f"{true} read as {guess} ({count}x)" for (true, guess), count
            in mistakes.most_common(top_confused)))
    if mnist_acc is not None:
        gap = 100 * (mnist_acc - accuracy)
        print(f"MNIST test accuracy {mnist_acc:.1%}: "
              + (f"{gap:.1f} points lower on yours = distribution shift (new pens, paper)"
                 if gap > 0 else "your images are no harder for it than MNIST's"))
    if mistakes:
        failed = ", ".join(str(d) for d in sorted({true for true, _ in mistakes}))
        print(f"more like the failures: write {failed} again (same pen, paper, light), "
              "save as name_<digit>.png")
    return {"accuracy": accuracy, "count": len(scored), "mistakes": dict(mistakes)}


def main(*images: str, arch: str = ARCH, top_k: int = TOP_K, max_lines: int = MAX_LINES,
         top_confused: int = TOP_CONFUSED, save: bool = False, draw: bool = False,
         device: str = "auto", show: bool = False) -> dict:
    """Predict each image (or folder of images) given, or open the drawing pad with --draw."""
    check(arch in ("cnn", "mlp", "lenet"), f"--arch must be cnn, mlp or lenet, got {arch!r}")
    check(1 <= top_k <= data.NUM_CLASSES, f"--top-k must be 1..{data.NUM_CLASSES}, got {top_k}")
    check(max_lines >= 0 and top_confused >= 1,
          "--max-lines must be 0 or more and --top-confused at least 1")
    check(bool(images) or draw, "give one or more image files or folders "
                                "(python predict.py my_digit.jpg), or --draw to draw a digit")
    start = time.perf_counter()

    # --- model ---
    device = devices.pick_device(device)
    model, checkpoint = checkpoints.load_model(paths.model_path(f"{arch}.pt"), device, expect=arch)
    test_acc = checkpoint.get("metrics", {}).get("test_acc")
    print(f"model: models/{arch}.pt ({checkpoints.describe(checkpoint)}"
          + (f", {test_acc:.2%} on the MNIST test set)" if test_acc is not None else ")"))

    # --- predict every image; a bad file gets one line and the rest still run ---
    files, errors = expand(images)
    labels = true_labels(files)
    predictions, figures = {}, []
    width = min(40, max([len(str(p)) for p in files] + [5]))
    for message in errors.values():
        print(f"error: {message}")
    for path in files:
        try:
            picture = digit_preprocess.read_image(path)
            digit, probs = classify(model, picture.gray, str(path))
        except CourseError as err:
            errors[str(path)] = str(err)
            print(f"error: {err}")
            continue
        top = probs.topk(top_k)
        predictions[str(path)] = [(int(d), float(p)) for p, d in zip(top.values, top.indices)]
        if len(predictions) <= max_lines:
            print_line(str(path), predictions[str(path)], labels.get(str(path)), width)
        if save or show:
            best, confidence = predictions[str(path)][0]
            figures.append(interpret_plots.plot_prediction(
                picture.rgb, digit, probs, paths.vis_path(f"predict_{path.stem}.png"),
                title=f"{path.name}: {best} ({confidence:.1%})", show=show))
    if len(predictions) > max_lines:
        print(f"... and {len(predictions) - max_lines} more images (--max-lines "
              f"{len(predictions)} prints them all)")

    # --- draw your own ---
    if draw:
        drawing_pad.open_drawing_pad(lambda gray: classify(model, gray, "your drawing"),
                                     title=f"Draw a digit: models/{arch}.pt answers as you draw")

    # --- results ---
    scored = summarize_labelled(predictions, labels, test_acc, top_confused)
    if images:
        print(f"\nsummary: predicted {len(predictions)} of {len(predictions) + len(errors)} images"
              + (f"; {len(errors)} could not be used (reasons above)" if errors else "")
              + f", {time.perf_counter() - start:.1f} s")
    if figures:
        runs.print_files(figures)
    progress.update_plan()
    plots.show_figures(show)
    if images and not predictions:
        raise CourseError(f"none of the {len(errors)} images could be used; see the reasons above")
    return {"predictions": predictions, "errors": errors, "files": figures, "labels": labels,
            "labelled": scored}


if __name__ == "__main__":
    run_main(main)
