"""Checkpoints: round trip, metadata, and one-line errors for every broken file a learner can meet.
"""

import datetime
import random

import numpy as np
import pytest
import torch

from common import checkpoints, models, paths
from common.errors import CourseError


@pytest.fixture
def saved_mlp(course_dirs):
    """A small MLP saved to models/mlp.pt; returns (model, path)."""
    torch.manual_seed(0)
    model = models.MLP((32,), dropout=0.1)
    path = checkpoints.save_checkpoint(
        paths.model_path("mlp.pt"),
        model,
        hyperparameters={
            "lr": 1e-3,
            "batch_size": 128,
            "hidden_sizes": (32,),
            "data": paths.DATA_DIR,
        },
        metrics={"val_acc": 0.97, "val_loss": 0.1},
        history=[
            {
                "epoch": 1,
                "train_loss": 0.3,
                "train_acc": 0.9,
                "val_loss": 0.1,
                "val_acc": 0.97,
                "lr": 1e-3,
                "seconds": 2.0,
            }
        ],
    )
    return model, path


def test_round_trip_gives_equal_weights_in_eval_mode(saved_mlp):
    model, path = saved_mlp
    loaded, checkpoint = checkpoints.load_model(path, device="cpu")
    assert isinstance(loaded, models.MLP) and not loaded.training
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_checkpoint_holds_metadata_and_versions(saved_mlp):
    _, path = saved_mlp
    checkpoint = checkpoints.load_checkpoint(path)
    assert checkpoint["model_name"] == "mlp"
    assert checkpoint["model_kwargs"] == {"hidden_sizes": [32], "dropout": 0.1, "batchnorm": False}
    assert checkpoint["hyperparameters"]["hidden_sizes"] == [32]  # tuples stored as lists
    assert isinstance(checkpoint["hyperparameters"]["data"], str)  # paths stored as text
    assert checkpoint["metrics"] == {"val_acc": 0.97, "val_loss": 0.1}
    assert checkpoint["history"][0]["epoch"] == 1
    assert checkpoint["versions"]["torch"] == torch.__version__
    assert set(checkpoint["versions"]) == {"torch", "torchvision", "python"}
    datetime.datetime.fromisoformat(checkpoint["date"])


def test_extra_keys_are_stored(course_dirs):
    path = checkpoints.save_checkpoint(paths.model_path("cnn.pt"), models.CNN(), hyperparameters={},
                                       metrics={}, extra={"epoch": 3})
    assert checkpoints.load_checkpoint(path)["epoch"] == 3


def test_save_is_atomic_and_overwrites(saved_mlp):
    model, path = saved_mlp
    checkpoints.save_checkpoint(path, model, hyperparameters={}, metrics={"val_acc": 0.5})
    assert checkpoints.load_checkpoint(path)["metrics"] == {"val_acc": 0.5}
    # an object weights_only could not load back is refused before writing
    with pytest.raises(TypeError):
        checkpoints.save_checkpoint(path, model, hyperparameters={"loss": object()}, metrics={})
    assert checkpoints.load_checkpoint(path)["metrics"] == {"val_acc": 0.5}
    assert [p.name for p in path.parent.iterdir()] == ["mlp.pt"]  # no temporary files left behind


@pytest.mark.parametrize("name, script", [
    ("mlp.pt", "03_train_model.py"),
    ("cnn.pt", "04_improved_model.py"),
    ("lenet.pt", "04_improved_model.py --arch lenet"),
])
def test_missing_file_names_the_script_that_makes_it(course_dirs, name, script):
    with pytest.raises(CourseError, match=f"{name} not found; run `python {script}`"):
        checkpoints.load_model(paths.model_path(name))


def test_truncated_file_is_a_one_line_error_naming_it(saved_mlp):
    _, path = saved_mlp
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(CourseError, match=r"mlp\.pt is damaged or truncated") as info:
        checkpoints.load_model(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("payload", [b"", b"not a checkpoint at all"])
def test_empty_or_garbage_file_is_a_course_error(course_dirs, payload):
    path = paths.model_path("mlp.pt")
    path.write_bytes(payload)
    with pytest.raises(CourseError, match=r"mlp\.pt is damaged"):
        checkpoints.load_checkpoint(path)


def test_bare_state_dict_is_not_a_course_checkpoint(course_dirs):
    path = paths.model_path("mlp.pt")
    torch.save(models.MLP().state_dict(), path)
    with pytest.raises(CourseError, match=r"mlp\.pt is not a course checkpoint"):
        checkpoints.load_model(path)


def test_pickled_objects_are_refused_not_executed(course_dirs):
    path = paths.model_path("mlp.pt")
    # a whole module
    torch.save({"model_name": "mlp", "model_kwargs": {}, "state_dict": models.MLP()}, path)
    with pytest.raises(CourseError, match=r"mlp\.pt holds Python objects.*weights_only=True"):
        checkpoints.load_checkpoint(path)


def test_wrong_architecture_names_the_file_and_what_it_holds(course_dirs):
    path = checkpoints.save_checkpoint(
        paths.model_path("cnn.pt"), models.CNN(), hyperparameters={}, metrics={}
    )
    with pytest.raises(CourseError, match=r"cnn\.pt holds a cnn\(dropout=0\.5\), not an mlp"):
        checkpoints.load_model(path, expect="mlp")
    with pytest.raises(
        CourseError, match=r"cnn\.pt holds a cnn\(dropout=0\.5\), not an mlp\(hidden_sizes"
    ):
        checkpoints.load_into(models.MLP(), path)


def test_load_into_needs_the_same_settings(saved_mlp):
    model, path = saved_mlp
    with pytest.raises(
        CourseError, match=r"holds an mlp\(hidden_sizes=\[32\].*not an mlp\(hidden_sizes=\[64\]"
    ):
        checkpoints.load_into(models.MLP((64,), dropout=0.1), path)
    same = models.MLP((32,), dropout=0.1)
    checkpoints.load_into(same, path)
    assert torch.equal(same.layers.fc1.weight, model.layers.fc1.weight)


def test_weights_that_do_not_fit_the_description_are_a_course_error(saved_mlp):
    _, path = saved_mlp
    checkpoint = checkpoints.load_checkpoint(path)
    checkpoint["model_kwargs"]["hidden_sizes"] = [64]  # edited description, old weights
    torch.save(checkpoint, path)
    with pytest.raises(CourseError, match=r"mlp\.pt's weights do not fit mlp\(hidden_sizes=\[64\]"):
        checkpoints.load_model(path)


def test_resume_path_sits_beside_the_checkpoint(course_dirs):
    assert checkpoints.resume_path_for(paths.model_path("mlp.pt")).name == "mlp.resume.pt"


def test_training_state_round_trip_with_weights_only(course_dirs):
    random.seed(7)
    version, mt_state, gauss = random.getstate()
    state = {
        "epoch": 2,
        "python_rng": torch.tensor(mt_state, dtype=torch.int64),
        "gauss": gauss,
        "generator": torch.Generator().manual_seed(3).get_state(),
        "history": [{"val_acc": 0.9}],
    }
    path = checkpoints.save_training_state(paths.model_path("mlp.resume.pt"), state)
    loaded = checkpoints.load_training_state(path)
    assert tuple(loaded["python_rng"].tolist()) == mt_state
    assert torch.equal(loaded["generator"], state["generator"])
    assert loaded["history"] == [{"val_acc": 0.9}]


def test_missing_training_state_says_run_without_resume(course_dirs):
    with pytest.raises(CourseError, match="run without --resume"):
        checkpoints.load_training_state(paths.model_path("mlp.resume.pt"))


def test_numpy_numbers_and_version_strings_are_stored_as_plain_values(course_dirs):
    path = checkpoints.save_checkpoint(
        paths.model_path("mlp.pt"),
        models.MLP(),
        metrics={"val_acc": np.float64(0.9)},
        hyperparameters={"epochs": np.int64(3), "torch": torch.__version__},
    )
    # weights_only=True would refuse numpy or torch objects
    checkpoint = checkpoints.load_checkpoint(path)
    assert (
        type(checkpoint["metrics"]["val_acc"]) is float
        and type(checkpoint["hyperparameters"]["epochs"]) is int
    )
    assert type(checkpoint["hyperparameters"]["torch"]) is str
