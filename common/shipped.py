"""The settings the training scripts ship with: what "your changes" are measured against.

A run of ``03_train_model.py`` is logged as ``mlp`` when it uses these settings and as
``mlp-tuned`` (with the list of changes in its name and in ``--runs``) when anything differs,
whether the learner passed a flag or edited a constant at the top of the script: both are the
learner's experiment. ``tests/test_shipped.py`` keeps this table equal to the scripts' constants.
"""

from __future__ import annotations

from typing import Any

SHIPPED: dict[str, dict[str, Any]] = {
    "03_train_model.py": dict(hidden_sizes=(128,), dropout=0.0, batchnorm=False,
                              optimizer_name="adam", lr=1e-3, batch_size=64, num_epochs=10,
                              scheduler_name="none", weight_decay=0.0, augment=False, patience=0,
                              precision="auto", seed=0),
    "04_improved_model.py": dict(arch="cnn", dropout=0.25, optimizer_name="adam", lr=2e-3,
                                 batch_size=128, num_epochs=3, augment_epochs=10,
                                 scheduler_name="onecycle", augment=False, patience=0,
                                 precision="auto", seed=0),
}


def changes(script: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings of a run that differ from what ``script`` ships with."""
    shipped = SHIPPED[script]
    found = {}
    for name, value in settings.items():
        value = tuple(value) if isinstance(value, list) else value
        if name in shipped and value != shipped[name]:
            found[name] = value
    return found
