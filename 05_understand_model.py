"""Phase 6: Understanding what you built - mistakes, features, attention, attacks and confidence.

What you will see: for the CNN (Phase 5) next to the MLP (Phase 3): which digits they confuse and
    their worst mistakes; the CNN's learned filters and what every layer makes of one digit;
    which pixels each answer depends on (saliency); tiny adversarial changes that fool them
    (FGSM); how they cope with noise and rotation; and whether "95% sure" means right 95% of
    the time (calibration). Every figure comes with a one-line finding.
What you will learn: a network's accuracy hides patterns - similar shapes get confused, the CNN
    looks at strokes while the MLP spreads its attention, both are brittle in ways people are
    not, and their confidence is informative but not a guarantee.
New since Phase 5: nothing is trained. Forward hooks (common/activations.py), input gradients
    (common/interpret.py) and distortions (common/adversarial.py) look inside finished models.
    The test set is only measured here, never used to choose anything.
Run:     python 05_understand_model.py          (all flags: python 05_understand_model.py --help)
Expect:  CNN ~99.2% vs MLP ~97.8%; top confusions like 4/9, 2/7, 3/5; FGSM at epsilon 0.1 leaves the
         CNN ~89% and the MLP ~30%; about 40 s on a 2-core CPU.
Writes:  visualizations/05_*.png (confusion matrices, galleries, filters, feature maps,
         saliency, FGSM, robustness, calibration)
"""

import time

import torch
import torch.nn.functional as F
from torch import nn

from common import activations, adversarial, checkpoints, data, evaluation, interpret, interpret_plots
from common import paths, plots, progress, runs
from common import device as devices
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
ROBUSTNESS_SAMPLES = 1000   # try 500..10000; test images for the FGSM/noise/rotation curves (more = slower, smoother)
EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # FGSM step per pixel (0.1 = a tenth of black-to-white)
GALLERY_EPSILON = 0.15      # try 0.05..0.3; the FGSM step shown in the gallery of fooled digits
NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # std of Gaussian pixel noise (0-1 pixel scale)
ANGLES = (-90, -60, -45, -30, -15, 0, 15, 30, 45, 60, 90)  # rotations in degrees (counter-clockwise is +)
CONFIDENCE_THRESHOLD = 0.9  # try 0.5..0.999; "trust only answers at least this sure"
GALLERY_SIZE = 30           # try 10..60; digits per gallery of mistakes
EXAMPLE_INDEX = 0           # try 0..9999; the test digit whose feature maps are shown
SALIENCY_SAMPLES = 32       # try 1..100; noisy copies averaged per saliency map (1 = the raw, speckled gradient)
SALIENCY_NOISE = 0.15       # try 0.05..0.3; std of the noise added to those copies (0-1 pixel scale)
MAX_MAPS = 32               # try 8..64; feature maps drawn per layer (conv2 has 64; each panel costs drawing time)
SEED = 0                    # any integer; picks the robustness subset and the noise
# ----------------------------------------------------------------------------------------------

MODEL_FILES = {"CNN": ("cnn.pt", "cnn"), "MLP": ("mlp.pt", "mlp")}
# The CNN's stages shown for one digit: (module name, what it is); conv + ReLU count as one layer.
CNN_STAGES = (("relu1", "conv1 + ReLU"), ("pool1", "max-pool 1"), ("relu2", "conv2 + ReLU"), ("pool2", "max-pool 2"))


def load_models(device: torch.device) -> dict[str, nn.Module]:
    """models/cnn.pt and models/mlp.pt; one line naming the script that makes each missing one."""
    missing = [f"models/{name} (run `{checkpoints.MADE_BY[name]}`)" for name, _ in MODEL_FILES.values()
               if not paths.model_path(name).is_file()]
    if missing:
        raise CourseError("Phase 6 studies your trained models, but " + " and ".join(missing)
                          + (" is" if len(missing) == 1 else " are") + " missing")
    loaded = {}
    for label, (name, arch) in MODEL_FILES.items():
        model, checkpoint = checkpoints.load_model(paths.model_path(name), device, expect=arch)
        print(f"{label}: models/{name}  {checkpoints.describe(checkpoint)}")
        loaded[label] = model
    return loaded


def finding(text: str) -> None:
    print(f"finding: {text}")


def study_mistakes(predictions: dict[str, evaluation.Predictions], test: data.Split, gallery_size: int,
                   show: bool) -> tuple[list, dict]:
    """Confusion matrices, the most confused pairs, and galleries of mistakes and near-misses."""
    files, pairs = [], {}
    for label, preds in predictions.items():
        cm = evaluation.confusion_matrix(preds.labels, preds.preds)
        pairs[label] = interpret.top_confused_pairs(cm, k=3)
        errors = int(cm.sum() - cm.trace())
        print(f"{label}: {errors} mistakes in {int(cm.sum()):,} test digits; most confused: "
              + ";  ".join(str(pair) for pair in pairs[label]))
        suffix = "" if label == "CNN" else f"_{label.lower()}"
        files.append(plots.plot_confusion_matrix(cm, paths.vis_path(f"05_confusion_matrix{suffix}.png"),
                                                 title=f"{label}: confusion matrix ({errors} mistakes)", show=show))
        if label == "CNN":
            files.append(plots.plot_confusion_matrix(cm, paths.vis_path("05_confusion_matrix_normalized.png"),
                                                     normalize=True, title="CNN: each row as fractions", show=show))
    finding("the most confused pairs are " + ", ".join(f"{p.a}/{p.b}" for p in pairs["CNN"]) + " for the CNN and "
            + ", ".join(f"{p.a}/{p.b}" for p in pairs["MLP"]) + " for the MLP: digits that share strokes")

    cnn = predictions["CNN"]
    wrong, unsure = interpret.rank_by_confidence(cnn)
    conf = cnn.confidence

    def titles(indices: torch.Tensor) -> list[str]:
        return [f"{int(cnn.labels[i])} as {int(cnn.preds[i])}\n{float(conf[i]):.0%}" for i in indices]

    images = test.images.float() / 255  # (N, 28, 28) in [0, 1] for display
    in_order = wrong.sort().values[:gallery_size]
    files.append(plots.plot_image_grid(images[in_order], paths.vis_path("05_misclassified.png"), titles(in_order),
                                       suptitle="CNN mistakes: true digit as predicted digit, confidence", show=show))
    files.append(plots.plot_image_grid(images[wrong[:gallery_size]], paths.vis_path("05_confident_mistakes.png"),
                                       titles(wrong[:gallery_size]), suptitle="The CNN's most confident mistakes",
                                       show=show))
    files.append(plots.plot_image_grid(images[unsure[:gallery_size]], paths.vis_path("05_unsure_correct.png"),
                                       titles(unsure[:gallery_size]),
                                       suptitle="Right, but barely: the CNN's least confident correct answers",
                                       show=show))
    if len(wrong):
        worst = int(wrong[0])
        finding(f"the CNN's surest mistake is test digit {worst}, a {int(cnn.labels[worst])} it reads as "
                f"{int(cnn.preds[worst])} with {float(conf[worst]):.1%} confidence: look at it, you may agree")
    return files, {label: [(p.a, p.b, p.total) for p in found] for label, found in pairs.items()}


def study_features(model: nn.Module, image: torch.Tensor, label: int, max_maps: int, show: bool) -> list:
    """The CNN's filters, and what each stage makes of one digit (recorded with forward hooks)."""
    files = [plots.plot_filters(model.conv1.weight.detach().cpu(), paths.vis_path("05_conv1_filters.png"),
                                title="conv1: 32 filters of 3x3 over the pixels (red +, blue -)", show=show),
             plots.plot_filters(model.conv2.weight.detach().cpu(), paths.vis_path("05_conv2_filters.png"),
                                title="conv2: 64 filters, averaged over their 32 input maps", show=show)]
    weights = model.conv1.weight.detach().flatten(1)  # (32, 9)
    limit = weights.abs().amax(dim=1, keepdim=True)
    edges = int(((weights > 0.3 * limit).any(1) & (weights < -0.3 * limit).any(1)).sum())
    finding(f"{edges} of {len(weights)} conv1 filters mix strong positive and negative weights: "
            "edge detectors (bright on one side, dark on the other)")

    layers = [(name, getattr(model, name)) for name, _ in CNN_STAGES] + [("relu3", model.relu3)]
    x = data.normalize(image[None]).to(evaluation.model_device(model))  # (1, 1, 28, 28)
    with evaluation.evaluating(model), activations.recording(model, layers) as record:
        probs = torch.softmax(model(x), dim=1)[0].cpu()  # (10,)
    for step, (name, what) in enumerate(CNN_STAGES, start=1):
        maps = record.outputs[name][0].cpu()  # (C, H, W)
        shown = min(len(maps), max_maps)
        files.append(plots.plot_feature_maps(
            maps, paths.vis_path(f"05_feature_maps_{step}_{name}.png"), max_maps=shown,
            title=f"{what} for a {label}: {shown} of {len(maps)} maps of {maps.shape[1]}x{maps.shape[2]}", show=show))
        print(f"  {what:<13} {len(maps):>3} maps of {maps.shape[1]:>2}x{maps.shape[2]:<2}  "
              f"{float((maps == 0).float().mean()):.0%} zeros")
    hidden = record.outputs["relu3"][0].cpu()  # (128,)
    top = hidden.topk(16)
    files.append(plots.plot_bars([f"#{int(i)}" for i in top.indices], top.values,
                                 paths.vis_path(f"05_feature_maps_{len(CNN_STAGES) + 1}_fc1.png"),
                                 title=f"fc1 + ReLU: the 16 most active of {len(hidden)} units for a {label}",
                                 ylabel="activation", value_fmt="{:.1f}", show=show))
    files.append(plots.plot_bars([str(d) for d in range(data.NUM_CLASSES)], probs,
                                 paths.vis_path(f"05_feature_maps_{len(CNN_STAGES) + 2}_output.png"),
                                 title=f"Output: softmax of fc2 for a {label}", ylabel="probability",
                                 highlight=int(probs.argmax()), value_fmt="{:.2f}", show=show))
    finding(f"the {label} is 784 pixels, then {record.outputs['pool2'][0].numel():,} numbers after two conv stages "
            f"({float((hidden == 0).float().mean()):.0%} of the 128 fc1 units are silent); "
            f"answer {int(probs.argmax())}")
    return files


def study_saliency(models: dict[str, nn.Module], test: data.Split, show: bool) -> list:
    """Input-gradient maps for the first test example of each digit, CNN and MLP."""
    first = torch.stack([torch.nonzero(test.labels == d)[0, 0] for d in range(data.NUM_CLASSES)])
    images, labels = data.to_unit(test.images[first]), test.labels[first]  # (10, 1, 28, 28), (10,)
    rows, titles = [images[:, 0]], [f"digit {d}" for d in range(data.NUM_CLASSES)]
    ink_near = F.max_pool2d(images, 3, stride=1, padding=1)[:, 0] > 0.25  # the strokes and a pixel around them
    shares = {}
    for label, model in models.items():
        saliency = interpret.saliency_maps(model, images, labels, samples=SALIENCY_SAMPLES,
                                           noise_std=SALIENCY_NOISE)  # (10, 28, 28)
        shares[label] = float((saliency * ink_near).sum() / saliency.sum())
        rows.append(saliency / saliency.amax(dim=(1, 2), keepdim=True))  # each map scaled to its own maximum
        titles += [label] * data.NUM_CLASSES
    finding(f"{shares['CNN']:.0%} of the CNN's saliency lies on or next to the ink (MLP: {shares['MLP']:.0%}): "
            "bright pixels are the ones that would change the answer")
    return [plots.plot_image_grid(torch.cat(rows), paths.vis_path("05_saliency.png"), titles, ncols=10, cmap="inferno",
                                  suptitle="Saliency |d score / d pixel| (SmoothGrad): "
                                           "the digit, the CNN's map, the MLP's map",
                                  show=show)]


def study_fgsm(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor,
               epsilons: tuple[float, ...], gallery_epsilon: float, show: bool) -> tuple[list, dict]:
    """Accuracy against the FGSM step size for both models, and a gallery of fooled CNN digits."""
    directions = {label: adversarial.loss_gradient_sign(model, images, labels) for label, model in models.items()}
    curves = {label: adversarial.fgsm_curve(model, images, labels, epsilons, directions[label])
              for label, model in models.items()}
    for label, curve in curves.items():
        print(f"  FGSM {label}: " + "  ".join(f"eps {e:.2f} {a:6.1%}" for e, a in zip(epsilons, curve)))
    files = [plots.plot_lines(epsilons, {k: [100 * a for a in v] for k, v in curves.items()},
                              paths.vis_path("05_fgsm_accuracy.png"), title="FGSM: accuracy vs attack strength",
                              xlabel="epsilon (change per pixel, 0-1 scale)", ylabel="test accuracy (%)",
                              hlines={"chance": 10.0}, show=show)]
    cnn, direction = models["CNN"], directions["CNN"]
    attacked = adversarial.fgsm(cnn, images, labels, gallery_epsilon, direction)
    before, after = adversarial.predict(cnn, images), adversarial.predict(cnn, attacked)
    fooled = torch.nonzero((before.argmax(1) == labels) & (after.argmax(1) != labels)).squeeze(1)[:8]
    pictures, titles = [], []
    for i in fooled:
        pictures += [images[i, 0], (direction[i, 0] + 1) / 2, attacked[i, 0]]
        titles += [f"clean: {int(before[i].argmax())} ({float(before[i].max()):.0%})", f"+/-{gallery_epsilon} pattern",
                   f"attacked: {int(after[i].argmax())} ({float(after[i].max()):.0%})"]
    if pictures:
        files.append(plots.plot_image_grid(torch.stack(pictures), paths.vis_path("05_fgsm_examples.png"), titles,
                                           ncols=6, suptitle=f"FGSM fools the CNN (epsilon {gallery_epsilon})",
                                           show=show))
    mid = min(range(len(epsilons)), key=lambda i: abs(epsilons[i] - 0.1))
    finding(f"moving every pixel by {epsilons[mid]:.2f} against the model leaves the CNN {curves['CNN'][mid]:.0%} "
            f"and the MLP {curves['MLP'][mid]:.0%} accuracy; a person still reads these digits easily")
    return files, curves


def steady_range(angles: tuple[int, ...], accuracies: list[float], level: float) -> int:
    """The largest angle A such that every rotation of at most A degrees (either way) keeps ``level`` accuracy."""
    reach = 0
    for angle, accuracy in sorted(zip(angles, accuracies), key=lambda pair: abs(pair[0])):
        if accuracy < level:
            break
        reach = abs(angle)
    return reach


def study_robustness(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor,
                     noise_levels: tuple[float, ...], angles: tuple[int, ...], seed: int,
                     show: bool) -> tuple[list, dict]:
    """Accuracy against Gaussian pixel noise and against rotation, CNN vs MLP (seed 003's robustness test)."""
    def noisy(pixels: torch.Tensor, std: float) -> torch.Tensor:  # the same noise for both models
        return adversarial.add_noise(pixels, std, torch.Generator().manual_seed(seed))

    noise = {label: adversarial.robustness_curve(m, images, labels, noise_levels, noisy) for label, m in models.items()}
    rotation = {label: adversarial.robustness_curve(m, images, labels, angles, adversarial.rotate)
                for label, m in models.items()}
    percent = lambda curves: {k: [100 * a for a in v] for k, v in curves.items()}  # noqa: E731
    files = [plots.plot_lines(noise_levels, percent(noise), paths.vis_path("05_noise_robustness.png"),
                              title="Accuracy with Gaussian pixel noise", xlabel="noise standard deviation (0-1 scale)",
                              ylabel="test accuracy (%)", hlines={"chance": 10.0}, show=show),
             plots.plot_lines(angles, percent(rotation), paths.vis_path("05_rotation_robustness.png"),
                              title="Accuracy on rotated digits", xlabel="rotation (degrees, counter-clockwise +)",
                              ylabel="test accuracy (%)", hlines={"chance": 10.0}, show=show)]
    mid = min(range(len(noise_levels)), key=lambda i: abs(noise_levels[i] - 0.5))
    finding(f"with noise of std {noise_levels[mid]} the CNN keeps {noise['CNN'][mid]:.0%}, "
            f"the MLP {noise['MLP'][mid]:.0%}")
    reach = {label: steady_range(angles, curve, 0.9) for label, curve in rotation.items()}
    finding(f"accuracy stays at 90% or more up to {reach['CNN']} degrees of rotation for the CNN, "
            f"{reach['MLP']} for the MLP: neither learned rotated digits, because MNIST has none")
    return files, {"noise": noise, "rotation": rotation}


def study_confidence(predictions: dict[str, evaluation.Predictions], threshold: float, show: bool) -> tuple[list, dict]:
    """Confidence histograms, reliability diagrams, ECE, and accuracy of the confident answers."""
    results = {label: interpret.reliability(p.confidence, p.preds == p.labels) for label, p in predictions.items()}
    files = [interpret_plots.plot_confidence_histograms(
                 {label: (p.confidence, p.preds == p.labels) for label, p in predictions.items()},
                 paths.vis_path("05_confidence_histogram.png"), show=show),
             interpret_plots.plot_reliability(results, paths.vis_path("05_reliability_diagram.png"), show=show)]
    for label, p in predictions.items():
        mean_confidence = float(p.confidence.mean())
        finding(f"{label} expected calibration error {results[label].ece:.4f}; overall it is "
                f"{'over' if mean_confidence > p.accuracy else 'under'}-confident: mean confidence "
                f"{mean_confidence:.2%} vs accuracy {p.accuracy:.2%}")
    thresholds = (0.5, 0.7, 0.9, 0.95, 0.99, 0.999)
    subsets = {label: [interpret.confident_subset(p, t) for t in thresholds] for label, p in predictions.items()}
    series = {}
    for label, subset in subsets.items():
        series[f"{label}: accuracy of kept answers"] = [100 * s.accuracy for s in subset]
        series[f"{label}: share of answers kept"] = [100 * s.kept_fraction for s in subset]
    files.append(plots.plot_lines(thresholds, series, paths.vis_path("05_confidence_threshold.png"),
                                  title="Trusting only confident answers", xlabel="confidence threshold",
                                  ylabel="%", show=show))
    chosen = {label: interpret.confident_subset(p, threshold) for label, p in predictions.items()}
    for label, subset in chosen.items():
        finding(f"{label} answers at least {threshold:.0%} sure: {subset.kept_fraction:.1%} of the digits "
                f"({subset.kept:,}), {subset.accuracy:.2%} of them right "
                f"(all answers: {predictions[label].accuracy:.2%})")
    return files, {"ece": {k: r.ece for k, r in results.items()},
                   "confident": {k: (s.kept_fraction, s.accuracy) for k, s in chosen.items()}}


def main(robustness_samples: int = ROBUSTNESS_SAMPLES, epsilons: tuple[float, ...] = EPSILONS,
         gallery_epsilon: float = GALLERY_EPSILON, noise_levels: tuple[float, ...] = NOISE_LEVELS,
         angles: tuple[int, ...] = ANGLES, confidence_threshold: float = CONFIDENCE_THRESHOLD,
         gallery_size: int = GALLERY_SIZE, example_index: int = EXAMPLE_INDEX, max_maps: int = MAX_MAPS,
         seed: int = SEED,
         device: str = "auto", show: bool = False) -> dict:
    """Load the CNN and the MLP, and look at them from every side; one finding per figure."""
    check(robustness_samples >= 10, f"--robustness-samples must be at least 10, got {robustness_samples}")
    check(all(0 <= e <= 1 for e in (*epsilons, gallery_epsilon)), "--epsilons and --gallery-epsilon must be in [0, 1]")
    check(0 < confidence_threshold < 1, f"--confidence-threshold must be between 0 and 1, got {confidence_threshold}")
    check(gallery_size >= 1 and max_maps >= 1, "--gallery-size and --max-maps must be at least 1")
    start = time.perf_counter()

    # --- models and data ---
    device = devices.pick_device(device)
    models = load_models(device)
    test = data.load_mnist(seed=seed).test
    check(0 <= example_index < len(test), f"--example-index must be 0..{len(test) - 1}")
    test_loader = data.BatchLoader(test, batch_size=1000, device=device)
    predictions = {label: evaluation.collect_predictions(model, test_loader) for label, model in models.items()}
    print("test accuracy: " + ", ".join(f"{k} {p.accuracy:.2%}" for k, p in predictions.items()))
    subset = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:robustness_samples]
    images, labels = data.to_unit(test.images[subset]), test.labels[subset]  # (n, 1, 28, 28) in [0, 1]

    # --- look from every side ---
    print("\n1. mistakes")
    files, pairs = study_mistakes(predictions, test, gallery_size, show)
    print("\n2. learned features")
    example = data.to_unit(test.images[example_index : example_index + 1])[0]  # (1, 28, 28)
    files += study_features(models["CNN"], example, int(test.labels[example_index]), max_maps, show)
    print("\n3. saliency")
    files += study_saliency(models, test, show)
    print(f"\n4. adversarial examples (FGSM, {len(images):,} test digits)")
    fgsm_files, fgsm = study_fgsm(models, images, labels, epsilons, gallery_epsilon, show)
    print(f"\n5. robustness to noise and rotation ({len(images):,} test digits)")
    robust_files, robust = study_robustness(models, images, labels, noise_levels, angles, seed, show)
    print("\n6. confidence and calibration")
    confidence_files, confidence = study_confidence(predictions, confidence_threshold, show)
    files += fgsm_files + robust_files + confidence_files

    # --- results ---
    seconds = time.perf_counter() - start
    print(f"\nsummary: CNN {predictions['CNN'].accuracy:.2%} vs MLP {predictions['MLP'].accuracy:.2%} on the test set; "
          f"{len(files)} figures in {seconds:.1f} s")
    runs.print_files(files)
    progress.update_plan()
    plots.show_figures(show)
    return {"accuracy": {k: p.accuracy for k, p in predictions.items()}, "confused_pairs": pairs, "fgsm": fgsm,
            **robust, **confidence, "files": files, "seconds": seconds}


if __name__ == "__main__":
    run_main(main)
