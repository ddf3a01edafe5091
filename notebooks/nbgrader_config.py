# nbgrader's settings for this course. nbgrader reads the nbgrader_config.py of the folder it runs in: this
# one serves `nbgrader validate` run in notebooks/ (or in the student bundle's notebooks/), and
# `dlcourse grade` copies it into the course folder it grades in. Teachers with a course folder of their own
# copy it to that folder's top (beside source/ and submitted/).
import logging
import warnings

from sqlalchemy.exc import SADeprecationWarning, SAWarning

c = get_config()  # noqa: F821 (nbgrader defines it)

# Seconds a cell may run before nbgrader stops it and moves on. nbgrader's default, 30 s, cuts off a correct
# student: 11 of the 15 notebooks have a longer cell at the default profile (the longest, 06's training, took
# 91 s on 2 cores). 600 s is the course's own cell limit (dlcourse.tools.kernel.CELL_TIMEOUT_S): over 6 times
# the longest cell, room for a slower laptop; tests/test_grading.py checks it against the measured cell times.
c.Execute.timeout = 600

# The notebooks publish their metrics and logs on stdout; nbgrader's default cap (10,000 characters a cell)
# is not reached by any cell, so it stays.

# A grading run prints one warning per check cell that has hidden tests ("Attribute 'checksum' for cell
# ex1_check has changed"): nbgrader stores each check cell's checksum with its hidden tests, the student's copy
# lacks them, and autograde puts them back before it runs the cell, as it should. The warning means nothing
# here, so it is dropped; every other warning stays.


class _HiddenTestsChecksum(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith("Attribute 'checksum' for cell")
                    and "has changed" in record.getMessage())


for _app in ("NbGraderApp", "AutogradeApp", "ValidateApp", "GenerateFeedbackApp"):  # the loggers nbgrader uses
    logging.getLogger(_app).addFilter(_HiddenTestsChecksum())

# nbgrader 0.9.6 still uses SQLAlchemy 1.x idioms; SQLAlchemy 2 warns about them on every run (deprecations,
# and "Object of type <SubmittedAssignment> not in session, add operation along 'Student.submissions' will not
# proceed" while autograde builds its records: nbgrader adds them to the session itself, and the scores are
# right, as tests/test_grading.py checks). The warnings point at nbgrader's lines, so they are matched by kind.
warnings.filterwarnings("ignore", category=SAWarning)
warnings.filterwarnings("ignore", category=SADeprecationWarning)
