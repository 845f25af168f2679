"""The `ssl benchmark` examples in the READMEs use the current syntax: every `key=value` of every
documented command (and every `options` mapping of the documented suite file) loads into that
benchmark's protocol, and the classification examples run end to end on tiny data."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

import bench_files as bf
from cli_runner import ssl_in_process

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", ROOT / "apps" / "cli" / "README.md", ROOT / "packages" / "ssl-eval" / "README.md"]


def _code_blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def _benchmark_lines() -> list[tuple[str, list[str]]]:
    """``(readme: line, argv)`` of every documented ``ssl benchmark NAME ...`` command."""
    found = []
    for readme in READMES:
        for block in _code_blocks(readme, "bash"):
            for line in block.splitlines():
                line = line.split("#")[0].strip()
                for command in line.split(";"):
                    command = command.strip()
                    if command.startswith("ssl benchmark "):
                        found.append((f"{readme.relative_to(ROOT)}: {command}", shlex.split(command)[1:]))
    return found


BENCHMARK_LINES = _benchmark_lines()


def test_the_readmes_document_benchmark_commands():
    assert len(BENCHMARK_LINES) >= 25


@pytest.mark.parametrize("argv", [argv for _, argv in BENCHMARK_LINES], ids=[name for name, _ in BENCHMARK_LINES])
def test_every_documented_override_loads_into_the_benchmarks_protocol(argv):
    from ssl_evaluation import suites

    name = argv[1]
    protocol = {"detectron2": suites.Detectron2Protocol}.get(name)
    if name in ("suite", "protocol"):
        assert not [a for a in argv if "=" in a and not a.startswith("-")], argv  # no overrides there
        return
    protocol = protocol or suites.BENCHMARKS[name].protocol
    overrides = [a for a in argv[2:] if "=" in a and not a.startswith("-")]
    options = [a for a in argv[2:] if a.startswith("-")]
    assert set(options) <= {"-c", "--checkpoint", "--data", "--out", "--config", "--no-progress", "--download"}, options
    suites.load_protocol(protocol(), overrides)  # raises on an unknown key or a wrong type


def test_the_documented_suite_file_loads_every_option():
    from ssl_evaluation import suites

    blocks = [b for b in _code_blocks(ROOT / "apps" / "cli" / "README.md", "yaml") if "runs:" in b]
    assert blocks
    for block in blocks:
        spec = yaml.safe_load(block)
        for run in spec["runs"]:
            options = [f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in (run.get("options") or {}).items()]
            suites.load_protocol(suites.BENCHMARKS[run["benchmark"]].protocol(), options)


TINY = {"knn": ["extraction.image_size=16", "knn.k=3"],
        "all": ["extraction.image_size=16", "knn.k=3", "linear.epochs=2", "clustering.num_clusters=3"],
        "multi-layer-linear": ["image_size=16", "milestones=[1]"],
        "virb-grid": ["image_size=16"],
        "finetune": ["image_size=16", "batch_size=8"]}


CLASSIFICATION_EXAMPLES = [argv for name, argv in BENCHMARK_LINES if name.startswith("apps/cli") and argv[1] in TINY]


@pytest.mark.parametrize("command", CLASSIFICATION_EXAMPLES, ids=[" ".join(a[1:2] + a[6:]) for a in CLASSIFICATION_EXAMPLES])
def test_classification_examples_run_on_tiny_data(command, tmp_path, monkeypatch):
    """The documented command, with the checkpoint and data swapped for tiny ones, epochs shortened
    (run inside the test's folder: relative outputs such as ``save=in1k.pt`` land there)."""
    monkeypatch.chdir(tmp_path)
    ckpt = bf.save_tiny_checkpoint(tmp_path / "tiny.pt")
    data = bf.write_image_folder(tmp_path / "colours", 3, 6, 3)
    argv, skip = [], False
    for arg in command:
        if skip:
            skip = False
            continue
        if arg in ("-c", "--checkpoint", "--data", "--out"):
            skip = True
            continue
        if arg == "--download":  # the tiny data is on disk (tests/test_cli_progress.py: downloads offline)
            continue
        if arg.startswith(("epochs=", "linear.epochs=")):
            arg = arg.split("=")[0] + "=1"
        argv.append(arg)
    argv += ["-c", str(ckpt), "--data", str(data), "--out", str(tmp_path / "out"), "--no-progress", *TINY[command[1]]]
    code, _, stderr = ssl_in_process(*argv)
    assert code == 0, stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["benchmark"] == command[1] and results["benchmarks"]
