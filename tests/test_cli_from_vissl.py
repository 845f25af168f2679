"""`ssl recipes from-vissl`: a VISSL config becomes a command line that runs; unmapped keys are
listed, and refused with --strict; `ssl recipes list` shows each method's paper."""

from __future__ import annotations

import shlex
from pathlib import Path

from cli_runner import ssl_in_process

CONFIGS = Path(__file__).resolve().parent.parent / "packages" / "ssl-train" / "tests" / "vissl_configs"


def test_converts_a_vissl_config_into_a_pretrain_command() -> None:
    code, out, err = ssl_in_process("recipes", "from-vissl", CONFIGS / "simclr.yaml")
    assert code == 0, err
    command, *unmapped = out.strip().splitlines()
    words = shlex.split(command)
    assert words[:3] == ["ssl", "pretrain", "simclr"]
    assert any(w.startswith("loss.temperature=") for w in words)
    assert all(line.startswith("# not mapped: ") for line in unmapped)
    code, _, err = ssl_in_process("recipes", "from-vissl", "--strict", CONFIGS / "simclr.yaml")
    assert unmapped and code == 2 and err.count("\n") == 1 and "no mapping" in err


def test_recipes_list_names_papers() -> None:
    code, out, _ = ssl_in_process("recipes", "list")
    assert code == 0 and out.count("paper: ") >= 17
