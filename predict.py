"""Phase 6 (bonus): Predict your own handwritten digit - a photo, a scan, or one you draw.

What you will see: for every image, the three most likely digits with their probabilities;
    with --save, a figure of your image, the 28 x 28 picture the network actually saw, and all
    ten probabilities. A folder predicts every image in it; files that are not usable images
    get a one-line reason and the others still run.
What you will learn: a network only knows the world it was trained on. MNIST digits are bright
    ink on black, 20 px tall, centred by their centre of mass; a photo becomes one only after
    the same recipe (common/digit_preprocess.py). Squashing the photo to 28 x 28 instead gives
    10-40% accuracy (see benchmarks/bench_own_digits.py).
New since Phase 5: MNIST-faithful preprocessing of any picture; a drawing pad (--draw).
Run:     python predict.py my_digit.jpg [more.png ...]     (photos: dark ink on light paper, or the reverse)
         python predict.py my_digits/ --save                (every image of a folder, with figures)
         python predict.py --draw                           (draw with the mouse; needs a display)
         python predict.py my_digit.jpg --arch mlp          (ask the Phase 3 MLP instead of the CNN)
Expect:  the right digit for a clear, single digit on a plain background; a few seconds.
Writes:  visualizations/predict_<image name>.png (with --save)
"""

import time
from pathlib import Path

import torch
from torch import nn

from common import checkpoints, data, digit_preprocess, drawing_pad, evaluation, interpret_plots, paths, plots, progress
from common import device as devices
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
ARCH = "cnn"  # which trained model answers: cnn (models/cnn.pt, Phase 5), mlp (models/mlp.pt, Phase 3) or lenet
TOP_K = 3     # try 1..10; how many of the most likely digits are printed per image
# ----------------------------------------------------------------------------------------------


def classify(model: nn.Module, gray: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-faithful preprocessing, then the model: returns (28 x 28 input in [0, 1], probabilities (10,))."""
    digit = digit_preprocess.prepare_digit(gray, name)  # (28, 28) bright ink on black, like MNIST
    images = data.normalize(digit[None, None]).to(evaluation.model_device(model))  # (1, 1, 28, 28), as in training
    with evaluation.evaluating(model):
        probs = torch.softmax(model(images), dim=1)[0].cpu()  # (10,) probabilities, because they are shown
    return digit, probs


def expand(arguments: tuple[str, ...]) -> tuple[list[Path], dict[str, str]]:
    """Files to predict (folders expanded) and a reason for each argument that gives none."""
    files, problems = [], {}
    for argument in arguments:
        found = digit_preprocess.image_files([argument])
        if Path(argument).is_dir() and not found:
            problems[argument] = f"{argument} is an empty folder"
        files.extend(found)
    return files, problems


def main(*images: str, arch: str = ARCH, top_k: int = TOP_K, save: bool = False, draw: bool = False,
         device: str = "auto", show: bool = False) -> dict:
    """Predict each image (or folder of images) given, or open the drawing pad with --draw."""
    check(arch in ("cnn", "mlp", "lenet"), f"--arch must be cnn, mlp or lenet, got {arch!r}")
    check(1 <= top_k <= data.NUM_CLASSES, f"--top-k must be 1..{data.NUM_CLASSES}, got {top_k}")
    check(bool(images) or draw, "give one or more image files or folders (python predict.py my_digit.jpg), "
                                "or --draw to draw a digit with the mouse")
    start = time.perf_counter()

    # --- model ---
    device = devices.pick_device(device)
    model, checkpoint = checkpoints.load_model(paths.model_path(f"{arch}.pt"), device, expect=arch)
    test_acc = checkpoint.get("metrics", {}).get("test_acc")
    print(f"model: models/{arch}.pt ({checkpoints.describe(checkpoint)}"
          + (f", {test_acc:.2%} on the MNIST test set)" if test_acc is not None else ")"))

    # --- predict every image; a bad file gets one line and the rest still run ---
    files, errors = expand(images)
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
        print(f"{str(path):<{width}}  " + "   ".join(f"{d} {p:6.1%}" for d, p in predictions[str(path)]))
        if save or show:
            figures.append(interpret_plots.plot_prediction(
                picture.rgb, digit, probs, paths.vis_path(f"predict_{path.stem}.png"),
                title=f"{path.name}: {predictions[str(path)][0][0]} ({predictions[str(path)][0][1]:.1%})", show=show))

    # --- draw your own ---
    if draw:
        drawing_pad.open_drawing_pad(lambda gray: classify(model, gray, "your drawing"),
                                     title=f"Draw a digit: models/{arch}.pt answers as you draw")

    # --- results ---
    if images:
        print(f"\nsummary: predicted {len(predictions)} of {len(predictions) + len(errors)} images"
              + (f"; {len(errors)} could not be used (reasons above)" if errors else "")
              + f", {time.perf_counter() - start:.1f} s")
    if figures:
        print("files written:\n" + "\n".join(f"  {paths.display_path(p)}" for p in figures))
    progress.update_plan()
    plots.show_figures(show)
    if images and not predictions:
        raise CourseError(f"none of the {len(errors)} images could be used; see the reasons above")
    return {"predictions": predictions, "errors": errors, "files": figures}


if __name__ == "__main__":
    run_main(main)
