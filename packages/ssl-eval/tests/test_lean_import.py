"""`import ssl_evaluation` loads no optional dependency, and the hard dependencies are the lean set
DESIGN.md allows (torch, torchvision, torchmetrics and our own packages, plus their small helpers)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

OPTIONAL = ("faiss", "sklearn", "scipy", "matplotlib", "pycocotools", "detectron2")
ALLOWED = {"ssl-models", "ssl-data", "torch", "torchvision", "torchmetrics", "numpy", "omegaconf", "typing-extensions"}


def test_import_loads_no_optional_dependency() -> None:
    code = (
        "import sys, ssl_evaluation, ssl_evaluation.suites; "
        f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("module", ["ssl_evaluation.retrieval", "ssl_evaluation.detection", "ssl_evaluation.virb"])
def test_subpackage_import_loads_no_optional_dependency(module: str) -> None:
    """Their optional libraries (scikit-learn's PCA whitening, SciPy's .mat reader, pycocotools)
    are imported when the function that needs them runs."""
    code = f"import sys, {module}; print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"import {module} loaded {proc.stdout.strip()}"


def test_hard_dependencies_are_lean() -> None:
    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    names = {req.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for req in meta["project"]["dependencies"]}
    assert names <= ALLOWED, sorted(names - ALLOWED)
    assert {"faiss", "svm", "report", "detection"} <= set(meta["project"]["optional-dependencies"])
