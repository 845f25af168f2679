"""ssl-data's tests may import each other's helpers (the suite runs with --import-mode=importlib,
which does not put test folders on sys.path)."""

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
