"""The course's three networks, built from standard PyTorch modules (introduced in Phase 2).

``MLP`` is the plan's fully connected network (Phase 2-4), ``CNN`` the plan's convolutional
network (Phase 5) and ``LeNet`` the small classic convolutional net of the course's sources.
Every model returns logits (raw scores, one per digit); softmax is applied only where
probabilities are shown. Activations and pooling are modules, not ``F.relu`` calls, so a
forward hook can watch every stage (Phase 6).

Each model has a class attribute ``name`` and an instance attribute ``config`` (its constructor
arguments), which a checkpoint stores so :func:`build_model` can rebuild the same network.

Parameter counts (weights + biases), checked by the tests:
    MLP 784-128-10            101,770
    MLP 784-128-64-10         109,386
    MLP 784-256-128-10        235,146   (dropout adds no parameters)
    CNN                       421,642
    LeNet                      21,840
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from common.data import IMAGE_SIZE, NUM_CLASSES
from common.errors import CourseError

NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE  # 28 * 28 = 784 inputs to a fully connected network


def _check_dropout(dropout: float) -> float:
    """Dropout is a probability of zeroing a unit; 1.0 would zero everything."""
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0.0 <= dropout < 1.0
    ):
        raise CourseError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def _check_hidden_sizes(hidden_sizes: Sequence[int]) -> list[int]:
    sizes = list(hidden_sizes)
    if not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in sizes
    ):
        raise CourseError(
            f"hidden_sizes must be whole numbers of at least 1, got {tuple(hidden_sizes)}"
        )
    return sizes


class MLP(nn.Module):
    """Fully connected network: 784 pixels -> hidden layers (Linear, [BatchNorm], ReLU, [Dropout])
    -> 10.

    Phase 2 builds 784-128-10; Phase 4 adds layers, dropout and batch normalization. With no
    hidden layers (``hidden_sizes=()``) it is multinomial logistic regression: one Linear layer.
    Accepts images (B, 1, 28, 28) or flat vectors (B, 784).
    """

    name = "mlp"

    def __init__(
        self, hidden_sizes: Sequence[int] = (128,), dropout: float = 0.0, batchnorm: bool = False
    ):
        super().__init__()
        sizes = _check_hidden_sizes(hidden_sizes)
        dropout = _check_dropout(dropout)
        if not isinstance(batchnorm, bool):
            raise CourseError(f"batchnorm must be True or False, got {batchnorm!r}")
        self.config = {"hidden_sizes": sizes, "dropout": dropout, "batchnorm": batchnorm}
        # (B, 1, 28, 28) -> (B, 784)
        stages: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        in_features = NUM_PIXELS
        for i, size in enumerate(sizes, start=1):
            stages.append((f"fc{i}", nn.Linear(in_features, size)))  # (B, in) -> (B, size)
            if batchnorm:
                stages.append((f"bn{i}", nn.BatchNorm1d(size)))
            stages.append((f"relu{i}", nn.ReLU()))
            if dropout > 0:
                stages.append((f"dropout{i}", nn.Dropout(dropout)))
            in_features = size
        # (B, in) -> (B, 10)
        stages.append((f"fc{len(sizes) + 1}", nn.Linear(in_features, NUM_CLASSES)))
        self.layers = nn.Sequential(OrderedDict(stages))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)  # (B, 10) logits


class CNN(nn.Module):
    """The plan's convolutional network (Phase 5): two conv+pool stages, then two Linear layers.

    A 3x3 convolution with ``padding=1`` keeps the image size; each 2x2 max-pool halves it.
    """

    name = "cnn"
    SIDE = IMAGE_SIZE // 2 // 2  # 28 -pool-> 14 -pool-> 7
    FLAT = 64 * SIDE * SIDE  # 64 channels * 7 * 7 = 3,136 numbers per image

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        dropout = _check_dropout(dropout)
        self.config = {"dropout": dropout}
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(self.FLAT, 128)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(128, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # (B, 1, 28, 28) -> (B, 32, 28, 28) -> (B, 32, 14, 14)
        x = self.pool1(self.relu1(self.conv1(images)))
        x = self.pool2(self.relu2(self.conv2(x)))  # -> (B, 64, 14, 14) -> (B, 64, 7, 7)
        x = self.flatten(x)  # (B, 3136)
        x = self.dropout(self.relu3(self.fc1(x)))  # (B, 128)
        return self.fc2(x)  # (B, 10) logits


class LeNet(nn.Module):
    """A small LeNet-style network from the course's sources: 10 then 20 5x5 filters, 320 -> 50 ->
    10.

    A 5x5 convolution without padding shrinks each side by 4; each 2x2 max-pool halves it.
    ``Dropout2d`` zeroes whole feature maps; ``Dropout`` zeroes single units of ``fc1``.
    The source pooled before ReLU; ReLU first gives the same numbers (both keep the largest
    value, ReLU only clips negatives), and matches the CNN's conv -> ReLU -> pool order.
    """

    name = "lenet"
    SIDE = ((IMAGE_SIZE - 4) // 2 - 4) // 2  # 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4
    FLAT = 20 * SIDE * SIDE  # 20 channels * 4 * 4 = 320 numbers per image

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        dropout = _check_dropout(dropout)
        self.config = {"dropout": dropout}
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d(dropout)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(self.FLAT, 50)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(50, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # (B, 1, 28, 28) -> (B, 10, 24, 24) -> (B, 10, 12, 12)
        x = self.pool1(self.relu1(self.conv1(images)))
        # -> (B, 20, 8, 8) -> (B, 20, 4, 4)
        x = self.pool2(self.relu2(self.conv2_drop(self.conv2(x))))
        x = self.flatten(x)  # (B, 320)
        x = self.dropout(self.relu3(self.fc1(x)))  # (B, 50)
        return self.fc2(x)  # (B, 10) logits


class OneConvNet(nn.Module):
    """One convolution stage (32 filters 3x3, ReLU, 2x2 max-pool), then the CNN's classifier.

    The first rung above the MLP on Phase 5's ladder (``04_improved_model.py --ladder``): how far
    a single layer of shared filters gets before a second one is added.
    """

    name = "cnn1"
    SIDE = IMAGE_SIZE // 2  # 28 -pool-> 14
    FLAT = 32 * SIDE * SIDE  # 32 channels * 14 * 14 = 6,272 numbers per image

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        dropout = _check_dropout(dropout)
        self.config = {"dropout": dropout}
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(self.FLAT, 128)
        self.relu2 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(128, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # (B, 1, 28, 28) -> (B, 32, 28, 28) -> (B, 32, 14, 14)
        x = self.pool1(self.relu1(self.conv1(images)))
        x = self.flatten(x)  # (B, 6272)
        x = self.dropout(self.relu2(self.fc1(x)))  # (B, 128)
        return self.fc2(x)  # (B, 10) logits


class FastCNN(nn.Module):
    """A small, fast CNN (07_speedrun.py): 24 filters 5x5, pool, 32 filters 3x3, pool, 800 -> 256 ->
    10.

    Unpadded convolutions shrink the image (28 -> 24 -> 12 -> 10 -> 5), so the classifier sees
    only 32 * 5 * 5 = 800 numbers: about 5x fewer parameters than the plan's CNN, and faster.
    """

    name = "fastcnn"
    SIDE = ((IMAGE_SIZE - 4) // 2 - 2) // 2  # 28 -conv5-> 24 -pool-> 12 -conv3-> 10 -pool-> 5
    FLAT = 32 * SIDE * SIDE  # 32 channels * 5 * 5 = 800 numbers per image

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        dropout = _check_dropout(dropout)
        self.config = {"dropout": dropout}
        self.conv1 = nn.Conv2d(1, 24, kernel_size=5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(24, 32, kernel_size=3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(self.FLAT, 256)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(256, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # (B, 1, 28, 28) -> (B, 24, 24, 24) -> (B, 24, 12, 12)
        x = self.pool1(self.relu1(self.conv1(images)))
        x = self.pool2(self.relu2(self.conv2(x)))  # -> (B, 32, 10, 10) -> (B, 32, 5, 5)
        x = self.flatten(x)  # (B, 800)
        x = self.dropout(self.relu3(self.fc1(x)))  # (B, 256)
        return self.fc2(x)  # (B, 10) logits


MODELS: dict[str, type[nn.Module]] = {
    cls.name: cls for cls in (MLP, CNN, LeNet, OneConvNet, FastCNN)
}


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a model by name ("mlp", "cnn", "lenet", "cnn1", "fastcnn"); how checkpoints rebuild
    them."""
    if name not in MODELS:
        raise CourseError(f"unknown model {name!r}; the course has {', '.join(MODELS)}")
    cls = MODELS[name]
    known = list(inspect.signature(cls).parameters)
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise CourseError(f"{name} does not take {', '.join(unknown)}; it takes {', '.join(known)}")
    return cls(**kwargs)


def describe_model(name: str, kwargs: dict) -> str:
    """'cnn(dropout=0.5)': a model's name and settings, for messages and tables."""
    settings = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    return f"{name}({settings})"


def count_parameters(model: nn.Module) -> int:
    """How many numbers training adjusts: every weight and bias that requires a gradient."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def feature_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The stages worth watching with a forward hook (Phase 6), in forward order.

    Every Linear, Conv2d and ReLU, named by its own attribute name ("conv1", "relu2", "fc1"):
    the models register their modules in the order ``forward`` runs them.
    """
    watched = (nn.Linear, nn.Conv2d, nn.ReLU)
    return [(name.rsplit(".", 1)[-1], module) for name, module in model.named_modules()
            if isinstance(module, watched)]
