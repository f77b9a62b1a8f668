"""Phase 6's robustness study: FGSM, pixel noise and rotation, CNN vs MLP, with findings.

``05_understand_model.py`` calls :func:`study_fgsm` and :func:`study_robustness` with its
settings (the flags of its ``main()``); the distortions themselves are in
:mod:`common.adversarial`, the measurements behind the explanations in :mod:`common.interpret`.
Every finding is computed from the run.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from common import adversarial, data, interpret, paths, plots
from common.interpret import finding

CHANCE = 100 / data.NUM_CLASSES  # accuracy (%) of guessing


def study_fgsm(models_by_name: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor,
               settings: SimpleNamespace) -> tuple[list, dict]:
    """Accuracy against the FGSM step size for both models, and a gallery of fooled CNN digits."""
    epsilons, epsilon = settings.epsilons, settings.gallery_epsilon
    directions = {name: adversarial.loss_gradient_sign(model, images, labels)
                  for name, model in models_by_name.items()}
    curves = {name: adversarial.fgsm_curve(model, images, labels, epsilons, directions[name])
              for name, model in models_by_name.items()}
    for model_name, curve in curves.items():
        print(f"  FGSM {model_name}: " + " ".join(f"{e:.2f}:{a:4.0%}" for e, a in zip(epsilons,
                                                                                      curve)))
    files = [plots.plot_lines(epsilons, {k: [100 * a for a in v] for k, v in curves.items()},
                              paths.vis_path("05_fgsm_accuracy.png"),
                              title="FGSM: accuracy vs attack strength",
                              xlabel="epsilon (change per pixel, 0-1 scale)",
                              ylabel="test accuracy (%)", hlines={"chance": CHANCE},
                              show=settings.show)]
    cnn, direction = models_by_name["CNN"], directions["CNN"]
    attacked = adversarial.fgsm(cnn, images, labels, epsilon, direction)
    before, after = adversarial.predict(cnn, images), adversarial.predict(cnn, attacked)
    fooled = torch.nonzero((before.argmax(1) == labels) & (after.argmax(1) != labels)).squeeze(1)
    pictures, titles = [], []
    for i in fooled[: settings.fgsm_examples]:
        pictures += [images[i, 0], (direction[i, 0] + 1) / 2, attacked[i, 0]]
        titles += [f"clean: {int(before[i].argmax())} ({float(before[i].max()):.0%})",
                   f"+/-{epsilon} pattern",
                   f"attacked: {int(after[i].argmax())} ({float(after[i].max()):.0%})"]
    if pictures:
        files.append(plots.plot_image_grid(
            torch.stack(pictures), paths.vis_path("05_fgsm_examples.png"), titles, ncols=6,
            suptitle=f"FGSM fools the CNN (epsilon {epsilon}): the speckle is visible, "
                     "yet the digit is plain to a person", show=settings.show))
    at = {name: adversarial.accuracy_on(model, adversarial.fgsm(model, images, labels, epsilon,
                                                                directions[name]), labels)
          for name, model in models_by_name.items()}
    finding(f"moving every pixel by {epsilon} against the model leaves the CNN {at['CNN']:.0%} "
            f"and the MLP {at['MLP']:.0%} accuracy.\n         The change is visible as grey "
            "speckle (05_fgsm_examples.png), but a person still reads the digit")
    return files, curves


def explain_noise(models_by_name: dict[str, nn.Module], images: torch.Tensor,
                  labels: torch.Tensor, settings: SimpleNamespace) -> dict:
    """Measure why pixel noise hurts the CNN more than the MLP (printed as one finding)."""
    std, size = settings.report_noise, settings.noise_blur
    why = interpret.noise_diagnosis(models_by_name, images, labels, std, size, settings.seed)
    common, share = why["common_answer"]
    finding(f"why noise of std {std} hurts the CNN more: in the units the networks see "
            f"(divided by {data.MNIST_STD}) it is {std / data.MNIST_STD:.1f} per pixel, and "
            f"clipping to 0..1\n         turns the black background grey (mean "
            f"{why['background_mean']:.2f}, spread {why['background_std']:.2f}). The CNN's "
            f"3x3 filters see 9 pixels at a time,\n         so speckle looks like bits of "
            f"stroke: conv2 + ReLU units on go from {why['active_clean']:.0%} to "
            f"{why['active_noisy']:.0%}, max-pooling keeps\n         the strongest of them, and "
            f"{share:.0%} of the noisy digits become {common}s. Each MLP unit sums all "
            f"{images[0].numel()} pixels,\n         so independent noise partly cancels. "
            f"Averaging {size}x{size} neighbourhoods first: CNN {why['blurred']['CNN']:.0%}, "
            f"MLP {why['blurred']['MLP']:.0%}")
    return why


def explain_rotation(rotation: dict[str, list[float]], angles: tuple[int, ...],
                     train_split: data.Split, report_angle: int) -> dict:
    """Accuracy at the reported angle, and how slanted MNIST's own digits already are."""
    at = {name: [a for angle, a in zip(angles, curve) if abs(angle) == report_angle]
          for name, curve in rotation.items()}
    ones = data.to_unit(train_split.images[train_split.labels == 1])[:, 0]  # (n, 28, 28)
    low, high, inside = interpret.slant_range(ones, report_angle)
    if all(at.values()):
        kept = {name: sum(values) / len(values) for name, values in at.items()}
        finding(f"turned by {report_angle} degrees either way, the CNN keeps {kept['CNN']:.0%} "
                f"and the MLP {kept['MLP']:.0%} (05_rotation_robustness.png)")
    finding(f"MNIST is not upright: the middle 90% of its training 1s lean {low:+.0f} to "
            f"{high:+.0f} degrees, so small turns\n         look like training digits; after a "
            f"{report_angle}-degree turn only {inside:.0%} of those 1s "
            "stay in that range")
    return {"slant_range": (low, high)}


def study_robustness(models_by_name: dict[str, nn.Module], images: torch.Tensor,
                     labels: torch.Tensor, train_split: data.Split,
                     settings: SimpleNamespace) -> tuple[list, dict]:
    """Accuracy against Gaussian pixel noise and against rotation, CNN vs MLP, and why."""
    def noisy(pixels: torch.Tensor, std: float) -> torch.Tensor:  # the same noise for both
        return adversarial.add_noise(pixels, std, torch.Generator().manual_seed(settings.seed))

    noise = {name: adversarial.robustness_curve(m, images, labels, settings.noise_levels, noisy)
             for name, m in models_by_name.items()}
    rotation = {name: adversarial.robustness_curve(m, images, labels, settings.angles,
                                                   adversarial.rotate)
                for name, m in models_by_name.items()}
    percent = {"noise": {k: [100 * a for a in v] for k, v in noise.items()},
               "rotation": {k: [100 * a for a in v] for k, v in rotation.items()}}
    files = [plots.plot_lines(settings.noise_levels, percent["noise"],
                              paths.vis_path("05_noise_robustness.png"),
                              title="Accuracy with Gaussian pixel noise",
                              xlabel="noise standard deviation (0-1 scale)",
                              ylabel="test accuracy (%)", hlines={"chance": CHANCE},
                              show=settings.show),
             plots.plot_lines(settings.angles, percent["rotation"],
                              paths.vis_path("05_rotation_robustness.png"),
                              title="Accuracy on rotated digits",
                              xlabel="rotation (degrees, counter-clockwise +)",
                              ylabel="test accuracy (%)", hlines={"chance": CHANCE},
                              show=settings.show)]
    mid = min(range(len(settings.noise_levels)),
              key=lambda i: abs(settings.noise_levels[i] - settings.report_noise))
    finding(f"with noise of std {settings.noise_levels[mid]} the CNN keeps "
            f"{noise['CNN'][mid]:.0%}, the MLP {noise['MLP'][mid]:.0%}")
    why = explain_noise(models_by_name, images, labels, settings)
    slant = explain_rotation(rotation, settings.angles, train_split, settings.report_angle)
    return files, {"noise": noise, "rotation": rotation, "noise_why": why, **slant}
