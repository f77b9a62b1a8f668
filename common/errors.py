"""One exception type for mistakes a learner can fix (introduced in Phase 1).

Scripts raise :class:`CourseError` with a one-line message that says what to do;
:func:`common.cli.run_main` prints it without a traceback and exits with status 1.
"""


class CourseError(Exception):
    """A problem the learner can fix: missing data, missing checkpoint, bad flag value, ..."""
