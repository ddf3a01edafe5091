"""dlcourse: the support package of the *deep learning x big data* notebooks.

Importing it is cheap and imports no TensorFlow: call :func:`setup` first in every notebook, right
after the parameters cell; it quiets TensorFlow before anything imports it. `claim`, `same` and
`speed_claim` back a sentence of the prose with a check whose verdict the reader sees; `publish` shows
(and checks) the headline results; `calls_to` lets an exercise's check catch an answer that calls the
course's own helper.
"""

from dlcourse.claims import claim, same, speed_claim
from dlcourse.exercises import calls_to
from dlcourse.report import publish
from dlcourse.session import setup

__version__ = "0.1.0"
__all__ = ["__version__", "calls_to", "claim", "publish", "same", "setup", "speed_claim"]
