"""What the mistake tests share: the reference solutions, loaded once, and one check call."""

from __future__ import annotations

from exercises import _registry as registry
from exercises import _runner

REFERENCE = {e.name: _runner.load_function(registry.file_of(e, registry.SOLUTIONS_DIR), e.function,
                                           f"_mistakes_reference_{e.name}")
             for e in registry.EXERCISES}
MESSAGE_ROOM = 100 - 4  # the checker prints a reason indented by 4 columns


def run(name: str, function) -> _runner.Result:
    """Check ``function`` as if it were the learner's answer to exercise ``name``."""
    return _runner.check_function(registry.BY_NAME[name], function, REFERENCE[name])
