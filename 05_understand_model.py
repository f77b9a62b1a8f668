"""Phase 6: Understanding what you built - mistakes, features, attention, attacks and confidence.

What you will see: for the CNN (Phase 5) next to the MLP (Phase 3): which digits they confuse and
    their worst mistakes; the CNN's learned filters and what every layer makes of one digit;
    which pixels each answer depends on (saliency); tiny adversarial changes that fool them
    (FGSM); how they cope with noise and rotation, and why; and whether "95% sure" means right
    95% of the time (calibration). Every figure comes with a finding computed from the run.
What you will learn: a network's accuracy hides patterns - similar shapes get confused, the CNN
    looks at strokes while the MLP spreads its attention, both are brittle in ways people are
    not, and their confidence is informative but not a guarantee.
New since Phase 5: nothing is trained. Forward hooks (common/activations.py), input gradients
    (common/interpret.py) and distortions (common/adversarial.py, common/robustness.py) look
    inside finished models.
    The test set is only measured here, never used to choose anything.
Run:     python 05_understand_model.py          (all flags: python 05_understand_model.py --help)
Expect:  CNN ~99.2% vs MLP ~97.8%; the most confused pairs of YOUR models (printed); FGSM
         breaks the MLP far more than the CNN; pixel noise hurts the CNN more than the MLP (the
         script measures why); about 35 s on a 2-core CPU.
Writes:  visualizations/05_*.png (confusion matrices, galleries, filters, feature maps,
         saliency, FGSM, robustness, calibration)
"""

import time
from types import SimpleNamespace

import torch
from torch import nn

from common import activations, adversarial, checkpoints, data, evaluation, interpret
from common import interpret_plots, models, paths, plots, progress, robustness, runs
from common import device as devices
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
ROBUSTNESS_SAMPLES = 1000   # try 500..10000; test images for FGSM/noise/rotation (more = smoother)
EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # FGSM step per pixel (0.1 = a tenth of 0..1)
GALLERY_EPSILON = 0.15      # try 0.05..0.3; the FGSM step shown in the gallery and its finding
FGSM_EXAMPLES = 8           # try 4..16; fooled digits in the FGSM gallery
NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)  # std of Gaussian pixel noise (0-1 pixel scale)
REPORT_NOISE = 0.5          # try 0.3..1.0; the noise level the findings look into
NOISE_BLUR = 3              # try 3 or 5; neighbourhood averaged to denoise in the noise test
ANGLES = (-90, -60, -45, -30, -15, 0, 15, 30, 45, 60, 90)  # rotations (counter-clockwise is +)
REPORT_ANGLE = 30           # try 15..60; the rotation the findings report
THRESHOLDS = (0.5, 0.7, 0.9, 0.95, 0.99, 0.999)  # confidence thresholds drawn in the trust curve
CONFIDENCE_THRESHOLD = 0.9  # try 0.5..0.999; "trust only answers at least this sure"
MIN_BIN_ANSWERS = 30        # try 10..100; reliability bins with fewer answers join a neighbour
GALLERY_SIZE = 30           # try 10..60; digits per gallery of mistakes
TOP_CONFUSED = 3            # try 1..10; most confused digit pairs printed per model
EXAMPLE_INDEX = 0           # try 0..9999; the test digit whose feature maps are shown
TOP_UNITS = 16              # try 8..32; most active fc1 units drawn for that digit
SALIENCY_SAMPLES = 32       # try 1..100; noisy copies averaged per saliency map (1 = raw gradient)
SALIENCY_NOISE = 0.15       # try 0.05..0.3; std of the noise added to those copies (0-1 scale)
MAX_MAPS = 32               # try 8..64; feature maps drawn per layer (each panel costs time)
SEED = 0                    # any integer; picks the robustness subset and the noise
# ----------------------------------------------------------------------------------------------

MODEL_FILES = {"CNN": ("cnn.pt", "cnn"), "MLP": ("mlp.pt", "mlp")}
# The CNN's stages shown for one digit: (module name, what it is); conv + ReLU count as one layer.
CNN_STAGES = (("relu1", "conv1 + ReLU"), ("pool1", "max-pool 1"), ("relu2", "conv2 + ReLU"),
              ("pool2", "max-pool 2"))
TRY_NEXT = (
    ("--example-index 7", "05_feature_maps_*.png for another test digit"),
    ("--gallery-epsilon 0.05", "05_fgsm_examples.png: a fainter attack; is it still visible?"),
    ("--noise-blur 5", "the noise finding: does more averaging rescue the CNN further?"),
    ("--saliency-samples 1", "05_saliency.png without SmoothGrad: the raw, speckled gradient"),
)


def load_models(device: torch.device) -> dict[str, nn.Module]:
    """models/cnn.pt and models/mlp.pt; one line naming the script that makes each missing one."""
    missing = [f"models/{name} (run `{checkpoints.MADE_BY[name]}`)"
               for name, _ in MODEL_FILES.values() if not paths.model_path(name).is_file()]
    if missing:
        raise CourseError("Phase 6 studies your trained models, but " + " and ".join(missing)
                          + (" is" if len(missing) == 1 else " are") + " missing")
    loaded = {}
    for model_name, (name, arch) in MODEL_FILES.items():
        model, checkpoint = checkpoints.load_model(paths.model_path(name), device, expect=arch)
        print(f"{model_name}: models/{name}  {checkpoints.describe(checkpoint)}")
        loaded[model_name] = model
    return loaded


finding = interpret.finding


def study_mistakes(predictions: dict[str, evaluation.Predictions], test_split: data.Split,
                   settings: SimpleNamespace) -> tuple[list, dict]:
    """Confusion matrices, the most confused pairs, and galleries of mistakes and near-misses."""
    files, pairs, show = [], {}, settings.show
    for model_name, preds in predictions.items():
        cm = evaluation.confusion_matrix(preds.labels, preds.preds)
        pairs[model_name] = interpret.top_confused_pairs(cm, k=settings.top_confused)
        errors = int(cm.sum() - cm.trace())
        print(f"{model_name}: {errors} mistakes in {int(cm.sum()):,} test digits; most confused:")
        for pair in pairs[model_name]:
            print(f"  {pair}")
        suffix = "" if model_name == "CNN" else f"_{model_name.lower()}"
        files.append(plots.plot_confusion_matrix(
            cm, paths.vis_path(f"05_confusion_matrix{suffix}.png"),
            title=f"{model_name}: confusion matrix ({errors} mistakes)", show=show))
        if model_name == "CNN":
            files.append(plots.plot_confusion_matrix(
                cm, paths.vis_path("05_confusion_matrix_normalized.png"), normalize=True,
                title="CNN: each true digit's mistakes in % of its images", show=show))
    finding("the most confused pairs are "
            + ", ".join(f"{p.a}/{p.b}" for p in pairs["CNN"]) + " for the CNN and "
            + ", ".join(f"{p.a}/{p.b}" for p in pairs["MLP"])
            + " for the MLP: see them in 05_misclassified.png")

    cnn = predictions["CNN"]
    wrong, unsure = interpret.rank_by_confidence(cnn)
    conf = cnn.confidence

    def titles(indices: torch.Tensor) -> list[str]:
        return [f"{int(cnn.labels[i])} as {int(cnn.preds[i])}\n{float(conf[i]):.0%}"
                for i in indices]

    images = test_split.images.float() / 255  # (N, 28, 28) in [0, 1] for display
    size = settings.gallery_size
    in_order = wrong.sort().values[:size]
    galleries = (
        (in_order, "05_misclassified.png",
         "CNN mistakes: true digit as predicted digit, confidence"),
        (wrong[:size], "05_confident_mistakes.png", "The CNN's most confident mistakes"),
        (unsure[:size], "05_unsure_correct.png",
         "Right, but barely: the CNN's least confident correct answers"))
    for indices, name, suptitle in galleries:
        files.append(plots.plot_image_grid(images[indices], paths.vis_path(name), titles(indices),
                                           suptitle=suptitle, show=show))
    if len(wrong):
        worst = int(wrong[0])
        finding(f"the CNN's surest mistake is test digit {worst}, a {int(cnn.labels[worst])} it "
                f"reads as {int(cnn.preds[worst])} with {float(conf[worst]):.1%} confidence: "
                "look at it, you may agree")
    return files, {name: [(p.a, p.b, p.total) for p in found] for name, found in pairs.items()}


def study_filters(model: nn.Module, seed: int, show: bool) -> list:
    """conv1 before and after training (a fresh network with the same seed is the start)."""
    devices.seed_everything(seed)
    untrained = models.build_model("cnn")  # the weights training started from, if seeded alike
    learned = model.conv1.weight.detach().cpu()
    change = interpret.filter_change(learned, untrained.conv1.weight)
    count, size = len(learned), learned.shape[-1]
    files = [
        interpret_plots.plot_filter_pairs(
            learned, untrained.conv1.weight, paths.vis_path("05_conv1_filters.png"),
            title=f"conv1: the {count} filters of {size}x{size} before and after training",
            show=show),
        interpret_plots.plot_conv2_reading(model.conv2.weight.cpu(),
                                           paths.vis_path("05_conv2_filters.png"), show=show)]
    kept = "still close to" if change.cosine > 0.9 else "far from"
    finding(f"the learned conv1 filters are {kept} their random start: cosine similarity "
            f"{change.cosine:.2f}, changed by {change.change:.0%} (medians of {count} filters)")
    sharper = "sum closer to zero" if change.balance_learned < change.balance_untrained else \
        "sum further from zero"
    print(f"         mixing + and - weights proves nothing (random 3x3 filters do it too); what "
          f"training did:\n         their weights {sharper} (|sum| / sum of |w|: "
          f"{change.balance_learned:.2f} vs {change.balance_untrained:.2f} untrained), so they\n"
          "         answer contrast (a stroke's edge) more than plain brightness; roughness "
          f"{change.roughness_learned:.2f} vs {change.roughness_untrained:.2f}")
    return files


MAPS_NOTE = ("map #k comes from filter #k; one colour scale for all maps (bar on the right); "
             "bright = strong response. Some "
             "filters answer the background, not the ink. The frame at the border comes from the "
             "zero padding: 0 is brighter than the normalized black background (-0.42), so filters "
             "see a fake edge there.")


def study_features(model: nn.Module, image: torch.Tensor, label: int,
                   settings: SimpleNamespace) -> list:
    """What each stage of the CNN makes of one digit (recorded with forward hooks)."""
    show, files = settings.show, study_filters(model, settings.seed, settings.show)
    layers = [(name, getattr(model, name)) for name, _ in CNN_STAGES] + [("relu3", model.relu3)]
    x = data.normalize(image[None]).to(evaluation.model_device(model))  # (1, 1, 28, 28)
    with evaluation.evaluating(model), activations.recording(model, layers) as record:
        probs = torch.softmax(model(x), dim=1)[0].cpu()  # (10,)
    for step, (name, what) in enumerate(CNN_STAGES, start=1):
        maps = record.outputs[name][0].cpu()  # (C, H, W)
        shown = min(len(maps), settings.max_maps)
        files.append(plots.plot_feature_maps(
            maps, paths.vis_path(f"05_feature_maps_{step}_{name}.png"), max_maps=shown,
            title=f"{what} for a {label}: {shown} of {len(maps)} maps of "
                  f"{maps.shape[1]}x{maps.shape[2]}", note=MAPS_NOTE, show=show))
        print(f"  {what:<13} {len(maps):>3} maps of {maps.shape[1]:>2}x{maps.shape[2]:<2}  "
              f"{float((maps == 0).float().mean()):.0%} zeros")
    ink = image[0] > 0  # (28, 28) the digit's pixels
    conv1 = record.outputs["relu1"][0].cpu()  # (C, 28, 28)
    background_maps = int((conv1[:, ~ink].mean(1) > conv1[:, ink].mean(1)).sum())
    finding(f"{background_maps} of {len(conv1)} conv1 maps are stronger on the background than "
            "on the ink: those filters answer 'no ink here'")
    hidden = record.outputs["relu3"][0].cpu()  # (fc1 units,)
    top = hidden.topk(min(settings.top_units, len(hidden)))
    files.append(plots.plot_bars(
        [f"#{int(i)}" for i in top.indices], top.values,
        paths.vis_path(f"05_feature_maps_{len(CNN_STAGES) + 1}_fc1.png"),
        title=f"fc1 + ReLU: the {len(top.values)} most active of {len(hidden)} units for a {label}",
        ylabel="activation", value_fmt="{:.1f}", show=show))
    files.append(plots.plot_bars(
        [str(d) for d in range(data.NUM_CLASSES)], probs,
        paths.vis_path(f"05_feature_maps_{len(CNN_STAGES) + 2}_output.png"),
        title=f"Output: softmax of fc2 for a {label}", ylabel="probability",
        highlight=int(probs.argmax()), value_fmt="{:.2f}", show=show))
    finding(f"the {label} is {image.numel()} pixels, then "
            f"{record.outputs['pool2'][0].numel():,} numbers after two conv stages "
            f"({float((hidden == 0).float().mean()):.0%} of the {len(hidden)} fc1 units are "
            f"silent); answer {int(probs.argmax())}")
    return files


def study_saliency(models_by_name: dict[str, nn.Module], test_split: data.Split,
                   settings: SimpleNamespace) -> list:
    """Input-gradient maps for the first test example of each digit, CNN and MLP."""
    first = torch.stack([torch.nonzero(test_split.labels == d)[0, 0]
                         for d in range(data.NUM_CLASSES)])
    images, labels = data.to_unit(test_split.images[first]), test_split.labels[first]
    ink_near = torch.nn.functional.max_pool2d(images, 3, stride=1, padding=1)[:, 0] > 0
    maps, shares = {}, {}
    for model_name, model in models_by_name.items():
        saliency = interpret.saliency_maps(model, images, labels, samples=settings.saliency_samples,
                                           noise_std=settings.saliency_noise)  # (10, 28, 28)
        shares[model_name] = float((saliency * ink_near).sum() / saliency.sum())
        maps[model_name] = saliency
    finding(f"{shares['CNN']:.0%} of the CNN's saliency lies on or next to the ink "
            f"(MLP: {shares['MLP']:.0%}): bright pixels are the ones that would change the answer")
    return [interpret_plots.plot_saliency(
        images[:, 0], maps, paths.vis_path("05_saliency.png"),
        title="Saliency |d score / d pixel| (SmoothGrad): the digit, the CNN's map, the MLP's map",
        show=settings.show)]


def study_confidence(predictions: dict[str, evaluation.Predictions],
                     settings: SimpleNamespace) -> tuple[list, dict]:
    """Confidence histograms, reliability diagrams, ECE, and accuracy of the confident answers."""
    show, threshold = settings.show, settings.confidence_threshold
    results = {name: interpret.reliability(p.confidence, p.preds == p.labels)
               for name, p in predictions.items()}
    merged = {name: interpret.merge_sparse_bins(r, settings.min_bin_answers)
              for name, r in results.items()}
    files = [interpret_plots.plot_confidence_histograms(
                 {name: (p.confidence, p.preds == p.labels) for name, p in predictions.items()},
                 paths.vis_path("05_confidence_histogram.png"), show=show),
             interpret_plots.plot_reliability(merged, paths.vis_path("05_reliability_diagram.png"),
                                              show=show)]
    for model_name, p in predictions.items():
        mean_confidence = float(p.confidence.mean())
        finding(f"{model_name} expected calibration error {results[model_name].ece:.4f}; "
                f"{'over' if mean_confidence > p.accuracy else 'under'}-confident overall: "
                f"mean confidence {mean_confidence:.2%} vs accuracy {p.accuracy:.2%}")
    subsets = {name: [interpret.confident_subset(p, t) for t in settings.thresholds]
               for name, p in predictions.items()}
    files.append(interpret_plots.plot_confidence_threshold(
        settings.thresholds, subsets, paths.vis_path("05_confidence_threshold.png"), show=show))
    chosen = {name: interpret.confident_subset(p, threshold) for name, p in predictions.items()}
    for model_name, subset in chosen.items():
        finding(f"{model_name} answers at least {threshold:.0%} sure: {subset.kept_fraction:.1%} "
                f"of the digits ({subset.kept:,}), {subset.accuracy:.2%} of them right "
                f"(all answers: {predictions[model_name].accuracy:.2%})")
    return files, {"ece": {k: r.ece for k, r in results.items()},
                   "confident": {k: (s.kept_fraction, s.accuracy) for k, s in chosen.items()}}


def main(robustness_samples: int = ROBUSTNESS_SAMPLES, epsilons: tuple[float, ...] = EPSILONS,
         gallery_epsilon: float = GALLERY_EPSILON, fgsm_examples: int = FGSM_EXAMPLES,
         noise_levels: tuple[float, ...] = NOISE_LEVELS, report_noise: float = REPORT_NOISE,
         noise_blur: int = NOISE_BLUR, angles: tuple[int, ...] = ANGLES,
         report_angle: int = REPORT_ANGLE, thresholds: tuple[float, ...] = THRESHOLDS,
         confidence_threshold: float = CONFIDENCE_THRESHOLD,
         min_bin_answers: int = MIN_BIN_ANSWERS, gallery_size: int = GALLERY_SIZE,
         top_confused: int = TOP_CONFUSED, example_index: int = EXAMPLE_INDEX,
         top_units: int = TOP_UNITS, saliency_samples: int = SALIENCY_SAMPLES,
         saliency_noise: float = SALIENCY_NOISE, max_maps: int = MAX_MAPS, seed: int = SEED,
         device: str = "auto", show: bool = False) -> dict:
    """Load the CNN and the MLP, and look at them from every side; one finding per figure."""
    settings = SimpleNamespace(**{k: v for k, v in locals().items() if k != "device"})
    check(robustness_samples >= 10, f"--robustness-samples must be at least 10")
    check(all(0 <= e <= 1 for e in (*epsilons, gallery_epsilon)),
          "--epsilons and --gallery-epsilon must be in [0, 1]")
    check(0 < confidence_threshold < 1 and all(0 < t < 1 for t in thresholds),
          "--confidence-threshold and --thresholds must be between 0 and 1")
    check(min(gallery_size, max_maps, fgsm_examples, top_units, top_confused,
              saliency_samples, min_bin_answers) >= 1,
          "--gallery-size, --max-maps, --fgsm-examples, --top-units, --top-confused, "
          "--saliency-samples and --min-bin-answers must be at least 1")
    check(noise_blur >= 1 and noise_blur % 2 == 1, f"--noise-blur must be odd, got {noise_blur}")
    start = time.perf_counter()

    # --- models and data ---
    device = devices.pick_device(device)
    models_by_name = load_models(device)
    splits = data.load_mnist(seed=seed)
    test_split = splits.test
    check(0 <= example_index < len(test_split), f"--example-index must be 0..{len(test_split) - 1}")
    test_loader = data.BatchLoader(test_split, batch_size=adversarial.EVAL_BATCH, device=device)
    predictions = {name: evaluation.collect_predictions(model, test_loader)
                   for name, model in models_by_name.items()}
    print("test accuracy: " + ", ".join(f"{k} {p.accuracy:.2%}" for k, p in predictions.items()))
    subset = torch.randperm(len(test_split),
                            generator=torch.Generator().manual_seed(seed))[:robustness_samples]
    images, labels = data.to_unit(test_split.images[subset]), test_split.labels[subset]

    # --- look from every side ---
    print("\n1. mistakes")
    files, pairs = study_mistakes(predictions, test_split, settings)
    print("\n2. learned features")
    example = data.to_unit(test_split.images[example_index : example_index + 1])[0]  # (1, 28, 28)
    files += study_features(models_by_name["CNN"], example, int(test_split.labels[example_index]),
                            settings)
    print("\n3. saliency")
    files += study_saliency(models_by_name, test_split, settings)
    print(f"\n4. adversarial examples (FGSM, {len(images):,} test digits)")
    fgsm_files, fgsm = robustness.study_fgsm(models_by_name, images, labels, settings)
    print(f"\n5. robustness to noise and rotation ({len(images):,} test digits)")
    robust_files, robust = robustness.study_robustness(models_by_name, images, labels, splits.train,
                                            settings)
    print("\n6. confidence and calibration")
    confidence_files, confidence = study_confidence(predictions, settings)
    files += fgsm_files + robust_files + confidence_files

    # --- results ---
    seconds = time.perf_counter() - start
    print(f"\nsummary: CNN {predictions['CNN'].accuracy:.2%} vs MLP "
          f"{predictions['MLP'].accuracy:.2%} on the test set; {len(files)} figures in "
          f"{seconds:.1f} s")
    runs.print_files(files)
    print("try next (python 05_understand_model.py FLAG):")
    for flag, look in TRY_NEXT:
        print(f"  {flag:<25}{look}")
    progress.update_plan()
    plots.show_figures(show)
    return {"accuracy": {k: p.accuracy for k, p in predictions.items()}, "confused_pairs": pairs,
            "fgsm": fgsm, **robust, **confidence, "files": files, "seconds": seconds}


if __name__ == "__main__":
    run_main(main)
