"""The Python facade under its 0.1 import path: ``from spertmt.api import SpertMT``.

The class lives in :mod:`spertmt.inference.api`; ``from spertmt import SpertMT`` is the
shorter way to the same object. This module stays so that code written against spertmt 0.1
keeps working.

Example:
    >>> from spertmt.api import SpertMT
    >>> from spertmt.inference.api import SpertMT as Same
    >>> SpertMT is Same
    True
"""

from spertmt.inference.api import DECISION_OPTIONS, PredictInput, SpertMT

__all__ = ["DECISION_OPTIONS", "PredictInput", "SpertMT"]
