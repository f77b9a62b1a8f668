"""The three networks: shapes, parameter counts, a forward pass by hand, the registry."""

import pytest
import torch
from torch import nn

from common import models
from common.errors import CourseError


@pytest.mark.parametrize("kwargs, expected", [
    ({"hidden_sizes": (128,)}, 101_770),             # 784*128+128 + 128*10+10
    ({"hidden_sizes": (128, 64)}, 109_386),          # + 128*64+64, output 64*10+10
    ({"hidden_sizes": (256, 128), "dropout": 0.2}, 235_146),  # dropout adds no parameters
    ({"hidden_sizes": ()}, 7_850),                   # logistic regression: 784*10+10
])
def test_mlp_parameter_counts(kwargs, expected):
    assert models.count_parameters(models.MLP(**kwargs)) == expected


def test_conv_parameter_counts():
    assert models.count_parameters(models.CNN()) == 421_642
    assert models.count_parameters(models.LeNet()) == 21_840
    assert models.CNN.FLAT == 64 * 7 * 7 == 3136
    assert models.LeNet.FLAT == 20 * 4 * 4 == 320


def test_batchnorm_adds_scale_and_shift_per_unit():
    plain = models.count_parameters(models.MLP((128, 64)))
    assert models.count_parameters(models.MLP((128, 64), batchnorm=True)) == plain + 2 * (128 + 64)


@pytest.mark.parametrize("name", ["mlp", "cnn", "lenet"])
def test_every_model_returns_logits_for_a_batch(name):
    model = models.build_model(name).eval()
    logits = model(torch.randn(5, 1, 28, 28))
    assert logits.shape == (5, 10)
    # raw scores: rows do not sum to 1 like probabilities
    assert not torch.allclose(logits.sum(dim=1), torch.ones(5))


def test_mlp_accepts_flat_vectors():
    model = models.MLP().eval()
    images = torch.randn(3, 1, 28, 28)
    assert torch.equal(model(images), model(images.reshape(3, 784)))


def test_mlp_equals_forward_pass_by_hand():
    torch.manual_seed(0)
    model = models.MLP((32, 16)).eval()
    x = torch.randn(4, 1, 28, 28)
    fc1, fc2, fc3 = model.layers.fc1, model.layers.fc2, model.layers.fc3
    h = x.reshape(4, 784)                                   # (B, 784)
    h = torch.clamp(h @ fc1.weight.T + fc1.bias, min=0)     # (B, 32) ReLU
    h = torch.clamp(h @ fc2.weight.T + fc2.bias, min=0)     # (B, 16) ReLU
    logits = h @ fc3.weight.T + fc3.bias                    # (B, 10)
    torch.testing.assert_close(model(x), logits)


def test_mlp_is_one_sequential_of_standard_modules():
    model = models.MLP((64,), dropout=0.3, batchnorm=True)
    kinds = [type(module) for module in model.layers]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert [type(m) for m in models.MLP((64,)).layers] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]


def test_cnn_attribute_names_and_shapes():
    model = models.CNN()
    assert model.conv1.out_channels == 32 and model.conv2.out_channels == 64
    assert model.fc1.in_features == 3136 and model.fc2.out_features == 10


def test_feature_layers_cover_every_linear_conv_and_relu_in_order():
    names = [name for name, _ in models.feature_layers(models.CNN())]
    assert names == ["conv1", "relu1", "conv2", "relu2", "fc1", "relu3", "fc2"]
    seen = []
    model = models.MLP((16,))
    for name, module in models.feature_layers(model):
        module.register_forward_hook(
            lambda mod, inp, out, name=name: seen.append((name, tuple(out.shape)))
        )
    model(torch.randn(2, 784))
    assert seen == [("fc1", (2, 16)), ("relu1", (2, 16)), ("fc2", (2, 10))]


@pytest.mark.parametrize("name, kwargs", [
    ("mlp", {"hidden_sizes": (256, 128), "dropout": 0.2, "batchnorm": True}),
    ("cnn", {"dropout": 0.25}),
    ("lenet", {}),
])
def test_build_model_rebuilds_from_name_and_config(name, kwargs):
    model = models.build_model(name, **kwargs)
    assert model.name == name
    again = models.build_model(model.name, **model.config)
    assert again.config == model.config
    assert models.count_parameters(again) == models.count_parameters(model)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(CourseError, match="mlp, cnn, lenet"):
        models.build_model("resnet")


def test_unknown_argument_names_what_the_model_takes():
    with pytest.raises(CourseError, match="cnn does not take hidden_sizes; it takes dropout"):
        models.build_model("cnn", hidden_sizes=(128,))


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, "half"])
def test_dropout_outside_zero_one_is_rejected(dropout):
    with pytest.raises(CourseError, match=r"dropout must be a number in \[0, 1\)"):
        models.MLP(dropout=dropout)
    with pytest.raises(CourseError):
        models.CNN(dropout=dropout)


def test_bad_hidden_sizes_are_rejected():
    with pytest.raises(CourseError, match="hidden_sizes"):
        models.MLP((128, 0))


def test_describe_model():
    assert models.describe_model("cnn", {"dropout": 0.5}) == "cnn(dropout=0.5)"
