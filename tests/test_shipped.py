"""The table of shipped settings matches the constants the training scripts really ship with."""

import inspect

import pytest

from common import shipped
from common.cli import load_script


@pytest.mark.parametrize("script", sorted(shipped.SHIPPED))
def test_the_scripts_ship_the_settings_the_table_says(script):
    defaults = {name: param.default
                for name, param in inspect.signature(load_script(script).main).parameters.items()}
    assert {name: defaults[name] for name in shipped.SHIPPED[script]} == shipped.SHIPPED[script]


def test_a_flag_and_an_edited_constant_count_the_same():
    assert shipped.changes("03_train_model.py", {"lr": 0.01, "batch_size": 64}) == {"lr": 0.01}
    assert shipped.changes("03_train_model.py", {"hidden_sizes": [128], "show": True}) == {}
    assert shipped.changes("04_improved_model.py", {"augment": True}) == {"augment": True}
