"""Smoke tests of 05_understand_model.py and predict.py on tiny models trained on synthetic data."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from common import checkpoints, data, models, paths, training
from common.cli import load_script, run_main
from common.errors import CourseError
from conftest import make_synthetic_images


@pytest.fixture(scope="module")
def trained_checkpoints(tmp_path_factory):
    """A CNN and an MLP trained for one epoch on synthetic digits, once for the whole module."""
    folder = tmp_path_factory.mktemp("trained")
    labels = torch.arange(600) % 10
    train = data.Split(make_synthetic_images(labels[:540], seed=1), labels[:540])
    val = data.Split(make_synthetic_images(labels[540:], seed=3), labels[540:])
    for model in (models.CNN(), models.MLP()):
        torch.manual_seed(0)
        optimizer = training.make_optimizer("adam", model.parameters(), 1e-3)
        result = training.fit(model, data.BatchLoader(train, 64, shuffle=True),
                              data.BatchLoader(val, 60), optimizer,
                              training.FitOptions(num_epochs=1))
        checkpoints.save_checkpoint(folder / f"{model.name}.pt", model, hyperparameters={},
                                    metrics={"val_acc": result.best_val_acc})
    return folder


@pytest.fixture
def tiny_models(synthetic_mnist, trained_checkpoints):
    """The synthetic MNIST, with the tiny CNN and MLP in models/ where the scripts look for them."""
    for name in ("cnn.pt", "mlp.pt"):
        shutil.copy(trained_checkpoints / name, paths.model_path(name))
    return synthetic_mnist


def digit_photo(path, label: int = 3, dark_ink: bool = True):
    """A synthetic test digit enlarged 8 times, off-centre on a 240 x 320 'photo'."""
    digit = data.to_unit(data.load_mnist().test.images[label : label + 1])[0, 0]  # (28, 28)
    big = F.interpolate(digit[None, None], scale_factor=8, mode="bilinear",
                        align_corners=False)[0, 0].clamp(0, 1)
    sheet = torch.zeros(240, 320)
    sheet[10 : 10 + big.shape[0], 60 : 60 + big.shape[1]] = big
    pixels = ((1 - sheet) if dark_ink else sheet) * 255
    Image.fromarray(pixels.round().to(torch.uint8).numpy()).save(path)
    return path


def test_05_end_to_end_writes_every_figure(tiny_models, capsys):
    result = load_script("05_understand_model.py").main(
        robustness_samples=40, epsilons=(0.0, 0.2), noise_levels=(0.0, 0.5), angles=(0, 45),
        gallery_size=6,
        max_maps=4)
    out = capsys.readouterr().out
    names = {p.name for p in result["files"]}
    expected = {"05_confusion_matrix.png", "05_confusion_matrix_normalized.png",
                "05_confusion_matrix_mlp.png",
                "05_misclassified.png", "05_confident_mistakes.png", "05_unsure_correct.png",
                "05_conv1_filters.png", "05_conv2_filters.png", "05_saliency.png",
                "05_fgsm_accuracy.png",
                "05_noise_robustness.png", "05_rotation_robustness.png",
                "05_confidence_histogram.png",
                "05_reliability_diagram.png", "05_confidence_threshold.png",
                "05_feature_maps_1_relu1.png",
                "05_feature_maps_4_pool2.png", "05_feature_maps_6_output.png"}
    assert expected <= names
    assert all(p.exists() and p.parent == tiny_models.vis for p in result["files"])
    assert out.count("finding:") >= 10
    for label in ("CNN", "MLP"):
        fgsm, noise = result["fgsm"][label], result["noise"][label]
        rotation = result["rotation"][label]
        # epsilon 0, no noise and 0 degrees: the same clean images
        assert fgsm[0] == noise[0] == rotation[0]
        assert 0 <= result["ece"][label] <= 1
    assert "05_confusion_matrix.png" in out and "summary:" in out


def test_05_names_the_scripts_that_make_missing_checkpoints(synthetic_mnist):
    with pytest.raises(CourseError) as err:
        load_script("05_understand_model.py").main()
    message = str(err.value)
    assert "models/cnn.pt" in message and "04_improved_model.py" in message
    assert "models/mlp.pt" in message and "03_train_model.py" in message and "\n" not in message


def test_predict_a_folder_with_good_and_bad_files(tiny_models, tmp_path, capsys):
    folder = tmp_path / "my_digits"
    folder.mkdir()
    digit_photo(folder / "three.png")
    digit_photo(folder / "chalk.jpg", label=5, dark_ink=False)
    (folder / "notes.txt").write_text("shopping list")
    Image.fromarray(np.full((64, 64), 250, np.uint8)).save(folder / "blank.png")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(folder / "dot.png")
    predict = load_script("predict.py")
    result = run_main(predict.main, [str(folder), "--save", "--top-k", "3"])
    out = capsys.readouterr().out
    assert sorted(p.split("/")[-1] for p in result["predictions"]) == ["chalk.jpg", "three.png"]
    for top in result["predictions"].values():
        assert len(top) == 3 and sum(p for _, p in top) <= 1 + 1e-6 and top[0][1] >= top[1][1]
    reasons = {path.split("/")[-1]: message for path, message in result["errors"].items()}
    assert "not an image" in reasons["notes.txt"]
    assert "looks blank" in reasons["blank.png"]
    assert "only 1x1 pixels" in reasons["dot.png"]
    assert {p.name for p in result["files"]} == {"predict_three.png", "predict_chalk.png"}
    assert "predicted 2 of 5 images" in out and out.count("error:") == 3


def test_predict_errors_are_one_line(tiny_models, tmp_path, capsys):
    predict = load_script("predict.py")
    with pytest.raises(CourseError, match="give one or more image files"):
        predict.main()
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(CourseError, match="none of the 1 images"):
        predict.main(str(tmp_path / "bad.png"))
    with pytest.raises(CourseError, match="lenet.pt not found.*04_improved_model.py --arch lenet"):
        predict.main(str(tmp_path / "bad.png"), arch="lenet")
    with pytest.raises(SystemExit) as exit_info:
        run_main(predict.main, [str(tmp_path / "missing.png")])
    assert exit_info.value.code == 1
    assert "missing.png: no such file" in capsys.readouterr().out


def test_predict_reads_true_digits_from_names_and_labels_csv(tmp_path):
    predict = load_script("predict.py")
    assert predict.label_from_name("7.png") == 7
    assert predict.label_from_name("seven_7.jpg") == 7
    assert predict.label_from_name("img3_label7.png") == 7
    assert predict.label_from_name("digit_00_label_3.jpg") == 3
    assert predict.label_from_name("img3.png") is None
    assert predict.label_from_name("notes.png") is None
    (tmp_path / "labels.csv").write_text("file,digit\nscan.png,4\nbad.png,x\n")
    files = [tmp_path / "scan.png", tmp_path / "bad.png", tmp_path / "two_2.png"]
    assert predict.true_labels(files) == {str(files[0]): 4, str(files[2]): 2}


def test_predict_summary_of_a_labelled_folder(tiny_models, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    for index in range(6):
        digit_photo(folder / f"img{index}_label{index % 3}.png", label=index % 3)
    predict = load_script("predict.py")
    result = predict.main(str(folder), max_lines=2)
    out = capsys.readouterr().out
    scored = result["labelled"]
    assert scored["count"] == 6 and 0 <= scored["accuracy"] <= 1
    right = sum(result["labels"][p] == top[0][0] for p, top in result["predictions"].items())
    assert f"{right} of 6 right" in out and "MNIST test accuracy" not in out  # no test_acc saved
    assert "... and 4 more images" in out
    assert sum(scored["mistakes"].values()) == 6 - right
    assert not [line for line in out.splitlines() if len(line) > 100]
