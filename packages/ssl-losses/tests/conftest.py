"""Puts this folder on ``sys.path`` so test modules can ``import dist_harness``
(the repository runs pytest with ``--import-mode=importlib``)."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
