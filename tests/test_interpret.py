"""Phase 6's analysis helpers: confusions, saliency, calibration (common/interpret.py), attacks and
distortions (common/adversarial.py), their figures and the drawing pad."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from common import adversarial, data, drawing_pad, interpret, interpret_plots
from common.errors import CourseError
from common.evaluation import Predictions


def linear_model(seed: int = 0) -> nn.Module:
    """logits = W x + b on the normalized pixels: its input gradient is known exactly (W /
    MNIST_STD)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(data.IMAGE_SIZE**2, data.NUM_CLASSES))


def some_images(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10


def predictions(labels: list[int], preds: list[int], confidence: list[float]) -> Predictions:
    probs = torch.zeros(len(labels), 10)
    for row, (pred, conf) in enumerate(zip(preds, confidence)):
        probs[row] = (1 - conf) / 9
        probs[row, pred] = conf
    return Predictions(labels=torch.tensor(labels), preds=torch.tensor(preds), probs=probs)


# --- interpret -------------------------------------------------------------------------------


def test_confused_pairs_add_both_directions():
    cm = torch.diag(torch.full((10,), 100))
    cm[4, 9], cm[9, 4] = 5, 4  # 4/9: 9 in all
    cm[3, 5] = 7
    cm[7, 1], cm[1, 7] = 1, 1
    pairs = interpret.top_confused_pairs(cm, k=3)
    assert [(p.a, p.b, p.total) for p in pairs] == [(4, 9, 9), (3, 5, 7), (1, 7, 2)]
    assert (pairs[0].a_as_b, pairs[0].b_as_a) == (5, 4)
    assert str(pairs[0]) == "4/9: 9 (4 read as 9: 5, 9 as 4: 4)"


def test_rank_by_confidence():
    preds = predictions(labels=[1, 2, 3, 4, 5], preds=[1, 7, 3, 9, 5], confidence=[0.99, 0.6, 0.5,
                                                                                   0.95, 0.8])
    wrong, unsure = interpret.rank_by_confidence(preds)
    assert wrong.tolist() == [3, 1]  # the 95% mistake before the 60% one
    assert unsure.tolist() == [2, 4, 0]  # right answers, least sure first


def test_ece_is_zero_when_confidence_matches_accuracy():
    confidence = torch.tensor([0.75] * 4 + [1.0] * 3 + [0.55] * 20)
    correct = torch.tensor([1, 1, 1, 0] + [1] * 3 + [1] * 11 + [0] * 9).bool()
    result = interpret.reliability(confidence, correct)
    assert result.ece == pytest.approx(0.0, abs=1e-6)  # float32 confidences
    assert result.counts.sum() == 27 and result.counts[7] == 4 and result.counts[9] == 3
    assert torch.isnan(result.accuracy[0])  # empty bins are nan, not 0


def test_ece_of_an_overconfident_model():
    result = interpret.reliability(torch.full((10,), 0.9), torch.zeros(10, dtype=torch.bool))
    assert result.ece == pytest.approx(0.9)
    mixed = interpret.reliability(torch.tensor([0.9, 0.9, 0.3, 0.3]), torch.tensor([1, 1, 1, 0]))
    assert mixed.ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.2)


def test_confident_subset():
    preds = predictions(labels=[1, 2, 3, 4], preds=[1, 2, 0, 0], confidence=[0.99, 0.95, 0.97, 0.5])
    subset = interpret.confident_subset(preds, 0.9)
    assert (subset.kept, subset.total, subset.kept_fraction) == (3, 4, 0.75)
    assert subset.accuracy == pytest.approx(2 / 3)
    assert torch.isnan(torch.tensor(interpret.confident_subset(preds, 0.999).accuracy))


def test_saliency_of_a_linear_model_is_its_weights():
    model = linear_model().train()
    images, labels = some_images(4)
    saliency = interpret.saliency_maps(model, images, labels)
    expected = model[1].weight[labels].abs().detach().reshape(4, 28, 28) / data.MNIST_STD
    assert torch.allclose(saliency, expected, atol=1e-5)
    assert model.training  # its mode is given back
    # default target: the prediction
    assert interpret.saliency_maps(model, images).shape == (4, 28, 28)


# --- adversarial -----------------------------------------------------------------------------


def test_fgsm_at_epsilon_zero_changes_nothing():
    model = linear_model()
    images, labels = some_images()
    assert torch.equal(adversarial.fgsm(model, images, labels, 0.0), images)
    curve = adversarial.fgsm_curve(model, images, labels, [0.0, 0.1])
    assert curve[0] == adversarial.accuracy_on(model, images, labels)


def test_fgsm_raises_the_loss_and_stays_in_range():
    model = linear_model()
    images, labels = some_images()
    attacked = adversarial.fgsm(model, images, labels, 0.1)
    assert float((attacked - images).abs().max()) <= 0.1 + 1e-6
    assert attacked.min() >= 0 and attacked.max() <= 1
    with torch.no_grad():
        assert nn.functional.cross_entropy(model(data.normalize(attacked)), labels) > \
            nn.functional.cross_entropy(model(data.normalize(images)), labels)
    curve = adversarial.fgsm_curve(model, images, labels, [0.0, 0.1, 0.3])
    assert curve[-1] <= curve[0]


def test_rotation_and_noise():
    images = torch.zeros(2, 1, 28, 28)
    images[:, 0, 13:15, 18:26] = 1.0  # a bar to the right of the centre
    assert torch.allclose(adversarial.rotate(images, 0), images, atol=1e-6)
    turned = adversarial.rotate(images, 90)[0, 0]
    rows, cols = torch.nonzero(turned > 0.5, as_tuple=True)
    # counter-clockwise: now above
    assert rows.float().mean() < 12 and abs(cols.float().mean() - 13.5) < 1
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(adversarial.add_noise(images, 0.0, gen), images)
    noisy = adversarial.add_noise(images, 0.5, gen)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, images)
    model = linear_model()
    labels = torch.tensor([3, 4])
    curve = adversarial.robustness_curve(model, images, labels, [0, 90], adversarial.rotate)
    assert curve[0] == adversarial.accuracy_on(model, images, labels) and len(curve) == 2


# --- figures and the drawing pad -------------------------------------------------------------


def test_phase6_figures_are_written(tmp_path):
    confidence = torch.rand(200, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.1
    correct = torch.rand(200, generator=torch.Generator().manual_seed(1)) < confidence
    result = interpret.reliability(confidence, correct)
    files = [
        interpret_plots.plot_reliability({"CNN": result, "MLP": result}, tmp_path / "rel.png"),
        interpret_plots.plot_confidence_histograms({"CNN": (confidence, correct)},
                                                   tmp_path / "hist.png"),
        interpret_plots.plot_prediction(torch.rand(50, 40, 3), torch.rand(28, 28),
                                        torch.softmax(torch.randn(10), 0),
                                        tmp_path / "predict_x.png", title="x.png"),
    ]
    assert all(path.stat().st_size > 5000 for path in files)


def test_drawing_pad_strokes_and_predictions():
    sheet = torch.ones(50, 50).numpy()
    drawing_pad.draw_segment(sheet, (10, 25), (40, 25), radius=3)
    assert sheet[25, 10:41].max() == 0 and sheet[5, 5] == 1 and sheet[25, 45] == 1
    seen = []

    def classify(gray: torch.Tensor):
        seen.append(gray.clone())
        if gray.min() > 0.5:
            raise CourseError("looks blank")
        return torch.zeros(28, 28), torch.nn.functional.one_hot(torch.tensor(7), 10).float()

    pad = drawing_pad.DrawingPad(classify)
    # noqa: E731
    event = lambda x, y: types.SimpleNamespace(inaxes=pad.sheet_ax, xdata=x, ydata=y, key=None)
    pad.on_press(event(60, 50))
    pad.on_move(event(140, 150))
    pad.on_release(event(140, 150))
    assert seen[-1][100, 100] < 0.5 and "prediction: 7" in pad.bars_ax.get_title()
    pad.on_key(types.SimpleNamespace(key="c"))
    assert pad.sheet.min() == 1 and "draw a digit" in pad.bars_ax.get_title()


def test_drawing_pad_needs_a_display():
    with pytest.raises(CourseError, match="needs a window"):
        drawing_pad.open_drawing_pad(lambda gray: (gray, gray))
