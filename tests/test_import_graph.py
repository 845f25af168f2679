"""The import graph between packages is the one DESIGN.md fixes.

Two independent checks: import-linter's contracts over the installed packages, and the
`dependencies` each pyproject.toml declares (what `pip install` will pull in).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# DESIGN.md, "Packages and who may import whom".
ALLOWED = {
    "ssl-losses": set(),
    "ssl-models": set(),
    "ssl-data": set(),
    "ssl-evaluation": {"ssl-models", "ssl-data"},
    "ssl-convert": {"ssl-models"},
    "ssl-train": {"ssl-losses", "ssl-models", "ssl-data"},
    "ssl-cli": {"ssl-losses", "ssl-models", "ssl-data", "ssl-evaluation", "ssl-convert", "ssl-train"},
}
FOLDERS = {
    "ssl-losses": "packages/ssl-losses",
    "ssl-models": "packages/ssl-models",
    "ssl-data": "packages/ssl-data",
    "ssl-evaluation": "packages/ssl-eval",
    "ssl-convert": "packages/ssl-convert",
    "ssl-train": "packages/ssl-train",
    "ssl-cli": "apps/cli",
}


def _declared(dist: str) -> list[str]:
    meta = tomllib.loads((ROOT / FOLDERS[dist] / "pyproject.toml").read_text())
    return [re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower() for req in meta["project"]["dependencies"]]


@pytest.mark.parametrize("dist", sorted(ALLOWED))
def test_declared_in_repo_dependencies_follow_design(dist: str) -> None:
    in_repo = {d for d in _declared(dist) if d in ALLOWED}
    assert in_repo == ALLOWED[dist], f"{dist} declares {sorted(in_repo)}, DESIGN.md allows {sorted(ALLOWED[dist])}"


def test_ssl_losses_declares_torch_only() -> None:
    assert _declared("ssl-losses") == ["torch"]


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run(
        [exe, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout


def test_no_package_is_named_ssl() -> None:
    """Nothing may shadow Python's own `ssl` module."""
    for folder in FOLDERS.values():
        assert not (ROOT / folder / "src" / "ssl").exists()
    import ssl

    assert hasattr(ssl, "SSLContext")
