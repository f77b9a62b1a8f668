"""Exercises: write the mechanism of each phase yourself, and have it checked on the spot.

Each file ``exercises/pN_*.py`` is a small task for phase N (``p3b_*`` belongs to the bonus
script ``03b_backprop_from_scratch.py``): a docstring says what to write, why it matters and
which script shows it, then comes a function that raises ``NotImplementedError("your turn: ...")``
until you replace its body. The checker compares your function with the reference solution in
``exercises/solutions/`` on random and edge-case inputs and says, in words, what is wrong.

    python -m exercises                       every exercise and whether it is done yet
    python -m exercises check                 check all your exercises
    python -m exercises check 3 03b           only Phase 3 and the 03b bonus
    python -m exercises check --hint          also show the next hint of the first failing one
    python -m exercises check --solutions     check the reference solutions (they all pass)

Passing exercises are ticked in learning_plan.md ("Your turn" after each phase), and
``python -m common.progress`` lists them. Checking never changes your files: each check runs in a
separate process with a time limit, so a crash or an endless loop affects only that exercise.
"""

from exercises._registry import EXERCISES, summary_lines  # noqa: F401
