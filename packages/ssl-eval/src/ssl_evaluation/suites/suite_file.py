"""Suite files: many (checkpoint, benchmark, data, options) runs, every entry checked against its
benchmark's protocol dataclass (the structured-config loader, dotted overrides) before any starts,
written as one table (results.json, results.md, results.png).

Suite file::

    defaults:                     # optional, merged into every run
      checkpoint: runs/simclr/checkpoints/final.pt
      options: [extraction.image_size=32]
    runs:
      - benchmark: knn
        data: fashion-mnist
        options: [knn.k=20]        # dotted key=value, as on the command line
      - {benchmark: svm, data: data/voc07-filelists, name: voc07-svm, options: {costs: [0.1]}}

``options`` is a list of dotted ``key=value`` strings or a mapping of the same keys; a run's
options are applied after the defaults'. Relative paths (checkpoint, data, path-valued protocol
fields) are relative to the suite file's folder.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssl_evaluation.suites.benchmark_data import BUILTIN_DATA, CATALOG_PREFIX, TORCHVISION_DATA
from ssl_evaluation.suites.benchmark_list import BENCHMARKS, headline_metrics
from ssl_evaluation.suites.protocol_loader import load_protocol

__all__ = ["SuiteRun", "load_suite", "run_suite", "write_suite_outputs"]

_ENTRY_KEYS = ("name", "checkpoint", "benchmark", "data", "options")


@dataclass
class SuiteRun:
    """One checked entry of a suite file: ``protocol`` is the benchmark's dataclass, loaded."""

    index: int
    name: str
    benchmark: str
    checkpoint: Path
    data: str | None
    protocol: Any
    overrides: list[str]


def _resolve(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _is_named_data(data: str) -> bool:
    name = data.split(":", 1)[0]
    return data.startswith(CATALOG_PREFIX) or data in BUILTIN_DATA or name in TORCHVISION_DATA


def _dotted(options: Any, where: str) -> list[str]:
    """``[k=v, ...]`` or ``{k: v}`` (nested mappings flattened with dots) -> dotted overrides."""
    if options is None:
        return []
    if isinstance(options, list) and all(isinstance(o, str) for o in options):
        return list(options)
    if not isinstance(options, Mapping):
        raise ValueError("options must be a list of key=value strings or a mapping")
    from omegaconf import OmegaConf

    out = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            out += [f"{key}.{item}" for item in _dotted(value, where)]
        else:
            rendered = OmegaConf.to_yaml(OmegaConf.create({"v": value})).split(":", 1)[1].strip()
            out.append(f"{key}={rendered}" if not isinstance(value, list) else f"{key}={value!r}")
    return out


def _check_entry(index: int, entry: Any, defaults: Mapping[str, Any], base: Path) -> tuple[SuiteRun | None, list[str]]:
    where = f"run {index}"
    if not isinstance(entry, Mapping):
        return None, [f"{where} is not a mapping"]
    problems = [f"{where}: unknown key {k!r} (keys: {', '.join(_ENTRY_KEYS)})" for k in entry if k not in _ENTRY_KEYS]
    merged = {**defaults, **entry}
    bench_name = merged.get("benchmark")
    if not isinstance(bench_name, str) or bench_name not in BENCHMARKS:
        return None, problems + [f"{where}: unknown benchmark {bench_name!r}; choose one of {', '.join(BENCHMARKS)}"]
    where = f"run {index} ({bench_name})"
    bench = BENCHMARKS[bench_name]
    checkpoint = merged.get("checkpoint")
    if not isinstance(checkpoint, str):
        problems.append(f"{where}: no checkpoint")
    elif not Path(_resolve(base, checkpoint)).is_file():
        problems.append(f"{where}: checkpoint not found: {_resolve(base, checkpoint)}")
    data = merged.get("data", bench.data_default)
    if data is not None and not isinstance(data, str):
        problems.append(f"{where}: data must be a string")
        data = None
    if data is None:
        problems.append(f"{where}: needs data ({bench.data_help})")
    elif not _is_named_data(data):
        data = _resolve(base, data)
        if not Path(data).exists():
            problems.append(f"{where}: data path does not exist: {data}")
    protocol, overrides = None, []
    try:
        overrides = _dotted(defaults.get("options"), where) + _dotted(entry.get("options"), where)
        protocol = load_protocol(bench.protocol(), overrides)
        for name in bench.path_fields:
            if getattr(protocol, name):
                setattr(protocol, name, _resolve(base, getattr(protocol, name)))
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
    if problems:
        return None, problems
    label = str(merged.get("name") or f"{index}-{bench_name}")
    return SuiteRun(index, label, bench_name, Path(_resolve(base, checkpoint)), data, protocol, overrides), []


def load_suite(path: str | Path) -> list[SuiteRun]:
    """Read and check a suite file; every problem of every entry is reported in one ValueError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"suite file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if isinstance(doc, list):
        doc = {"runs": doc}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("runs"), list) or not doc["runs"]:
        raise ValueError(f"{path} must hold a non-empty list 'runs' of (checkpoint, benchmark, data, options) entries")
    defaults = doc.get("defaults") or {}
    problems = [f"unknown top-level key {k!r} (keys: runs, defaults)" for k in doc if k not in ("runs", "defaults")]
    if not isinstance(defaults, Mapping):
        problems.append("defaults must be a mapping")
        defaults = {}
    problems += [f"defaults: unknown key {k!r} (keys: {', '.join(_ENTRY_KEYS)})" for k in defaults if k not in _ENTRY_KEYS]
    runs = []
    for index, entry in enumerate(doc["runs"], start=1):
        run, entry_problems = _check_entry(index, entry, defaults, path.parent)
        problems += entry_problems
        if run is not None:
            runs.append(run)
    names = [r.name for r in runs]
    problems += [f"run name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems)}")
    return runs


def run_suite(runs: list[SuiteRun], suite_path: str | Path, progress: Any = None) -> dict[str, Any]:
    """Run every entry in order; returns results.json's content. A failing run ends the suite with
    one ValueError naming it, after the runs already finished are kept in ``partial``."""
    records: list[dict[str, Any]] = []
    for run in runs:
        print(f"[{run.index}/{len(runs)}] {run.name}: {run.benchmark} of {run.checkpoint.name} on {run.data}",
              file=sys.stderr, flush=True)
        try:
            result = BENCHMARKS[run.benchmark].run(run.checkpoint, run.data, run.protocol, progress)
        except (ValueError, OSError) as exc:
            error = ValueError(f"suite run {run.index} ({run.name}): {exc}")
            error.partial = {"suite": str(suite_path), "runs": records}  # type: ignore[attr-defined]
            raise error from exc
        records.append({
            "name": run.name, "benchmark": run.benchmark, "checkpoint": str(run.checkpoint), "data": result["data"],
            "options": run.overrides, "seconds": result["seconds"], "benchmarks": result["metrics"],
            "protocol": result["protocol"], "headline": headline_metrics(run.benchmark, result["metrics"]),
        })
    return {"suite": str(suite_path), "runs": records}


def _markdown(results: Mapping[str, Any]) -> str:
    lines = [f"# Benchmark suite `{Path(results['suite']).name}`", "",
             "| run | benchmark | checkpoint | data | metric | value |", "|---|---|---|---|---|---|"]
    for rec in results["runs"]:
        source = str(rec["data"].get("source", "")).replace("|", "\\|")
        for metric, value in (rec["headline"] or {"-": float("nan")}).items():
            lines.append(f"| {rec['name']} | {rec['benchmark']} | {Path(rec['checkpoint']).name} | {source} "
                         f"| {metric} | {value:.2f} |")
    lines += ["", "Every run's protocol constants and full metrics are in `results.json`.", ""]
    return "\n".join(lines)


def _bar_plot(results: Mapping[str, Any]) -> bytes:
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state

    labels, values = [], []
    for rec in results["runs"]:
        for metric, value in rec["headline"].items():
            labels.append(f"{rec['name']}: {metric}")
            values.append(value)
    figure = Figure(figsize=(8, 1.2 + 0.35 * max(1, len(values))), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(values)))
    axes.barh(positions, values, color="tab:blue")
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    axes.set_xlabel("value (accuracy / AP in %, NMI / ARI in 0..1)")
    axes.set_title("Benchmark suite")
    axes.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_suite_outputs(out: str | Path, results: Mapping[str, Any]) -> list[Path]:
    """OUT/results.json, OUT/results.md and OUT/results.png (the plot needs the ``report`` extra),
    each written atomically."""
    import ssl_evaluation
    from ssl_evaluation.atomic_files import atomic_write_bytes, atomic_write_text

    out = Path(out)
    return [
        ssl_evaluation.write_results(out, results),
        atomic_write_text(out / "results.md", _markdown(results)),
        atomic_write_bytes(out / "results.png", _bar_plot(results)),
    ]
