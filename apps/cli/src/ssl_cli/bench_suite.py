"""`ssl benchmark suite SUITE.yaml --out DIR`: many (checkpoint, benchmark, data, options) runs,
checked before any starts, written as one table (results.json, results.md, results.png).

Suite file::

    defaults:                     # optional, merged into every run (options merged key by key)
      checkpoint: runs/simclr/checkpoints/final.pt
      options: {image_size: 32}
    runs:
      - benchmark: knn
        data: fashion-mnist
        options: {knn_k: 20}
      - {benchmark: svm, data: data/voc07-filelists, name: voc07-svm}

Relative paths (checkpoint, data, path-valued options) are relative to the suite file's folder.
"""

from __future__ import annotations

import fnmatch
import inspect
import io
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_cli.bench_data import is_builtin_or_catalog
from ssl_cli.bench_detection import run_detection
from ssl_cli.bench_finetune import run_finetune, run_low_shot_transfer, run_semi_supervised
from ssl_cli.bench_probes import PROBE_SUITES, run_multi_layer_linear, run_probes, run_virb_grid
from ssl_cli.bench_retrieval import run_retrieval
from ssl_cli.bench_robustness import run_robustness
from ssl_cli.bench_svm import run_low_shot, run_svm
from ssl_cli.bench_virb import run_depth, run_segmentation, run_virb_image
from ssl_cli.errors import EXPECTED_ERRORS

__all__ = ["BENCHMARKS", "Benchmark", "SuiteRun", "headline_metrics", "load_suite", "run_suite", "write_suite_outputs"]


@dataclass(frozen=True)
class Benchmark:
    """One `ssl benchmark NAME`: its runner, arguments fixed by the name, and the metric paths
    (``fnmatch`` patterns over ``benchmarks`` flattened to ``a/b/c``) shown in the suite table."""

    run: Callable[..., dict[str, Any]]
    headline: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, inspect.Parameter]:
        """The runner's keyword options a suite entry may set."""
        params = inspect.signature(self.run).parameters
        return {n: p for n, p in params.items() if n not in ("checkpoint", "data", *self.fixed)}

    def needs_data(self) -> bool:
        """True when the runner has no default data source."""
        return inspect.signature(self.run).parameters["data"].default is inspect.Parameter.empty


_PROBE_HEADLINES = {"knn": ("knn/top1", "knn/top5"), "linear": ("linear/top1", "linear/top5"),
                    "clustering": ("clustering/nmi", "clustering/ari"),
                    "all": ("knn/top1", "linear/top1", "clustering/nmi")}
BENCHMARKS: dict[str, Benchmark] = {
    **{name: Benchmark(run_probes, _PROBE_HEADLINES[name], {"which": which}) for name, which in PROBE_SUITES.items()},
    "multi-layer-linear": Benchmark(run_multi_layer_linear, ("multi-layer-linear/*/top1",)),
    "virb-grid": Benchmark(run_virb_grid, ("virb-grid/best/top1",)),
    "svm": Benchmark(run_svm, ("svm/mAP",)),
    "low-shot": Benchmark(run_low_shot, ("low-shot/k=*/mean",)),
    "finetune": Benchmark(run_finetune, ("finetune/top1", "finetune/top5")),
    "semi-supervised": Benchmark(run_semi_supervised, ("semi-supervised/top1", "semi-supervised/top5")),
    "low-shot-transfer": Benchmark(run_low_shot_transfer, ("low-shot-transfer/top1", "low-shot-transfer/top5")),
    "robustness": Benchmark(run_robustness, ("robustness/top1", "robustness/top5")),
    "retrieval": Benchmark(run_retrieval, ("retrieval/mAP", "retrieval/mAP/*", "retrieval/*/mAP")),
    "detection": Benchmark(run_detection, ("detection/bbox/AP", "detection/bbox/AP50")),
    "virb-image": Benchmark(run_virb_image, tuple(f"virb-image/{m}" for m in ("top1", "count_mae", "rmse", "r2"))),
    "segmentation": Benchmark(run_segmentation, ("segmentation/miou", "segmentation/pixel_accuracy")),
    "depth": Benchmark(run_depth, ("depth/rmse", "depth/delta1")),
}
_ENTRY_KEYS = ("name", "checkpoint", "benchmark", "data", "options")


@dataclass
class SuiteRun:
    """One checked entry of a suite file."""

    index: int
    name: str
    benchmark: str
    checkpoint: Path
    data: str | None
    options: dict[str, Any]


def _type_problem(name: str, value: Any, param: inspect.Parameter) -> str | None:
    default = param.default
    if default is None or default is inspect.Parameter.empty:  # optional paths
        return None if isinstance(value, str) else f"option {name!r} must be a path string"
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):  # comma lists may be YAML lists; `steps: 100` is read as a number
        ok = isinstance(value, (str, list, int, float)) and not isinstance(value, bool)
    else:
        ok = True
    return None if ok else f"option {name!r} must be of type {type(default).__name__}, got {value!r}"


def _resolve(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _check_entry(index: int, entry: Any, defaults: Mapping[str, Any], base: Path) -> tuple[SuiteRun | None, list[str]]:
    where = f"run {index}"
    if not isinstance(entry, Mapping):
        return None, [f"{where} is not a mapping"]
    problems = [f"{where}: unknown key {k!r} (keys: {', '.join(_ENTRY_KEYS)})" for k in entry if k not in _ENTRY_KEYS]
    default_options, entry_options = defaults.get("options") or {}, entry.get("options") or {}
    if not isinstance(default_options, Mapping) or not isinstance(entry_options, Mapping):
        return None, problems + [f"{where}: options must be a mapping of option names to values"]
    merged = {**defaults, **entry, "options": {**default_options, **entry_options}}
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
    data = merged.get("data")
    if data is not None and not isinstance(data, str):
        problems.append(f"{where}: data must be a string")
        data = None
    if data is None and bench.needs_data():
        problems.append(f"{where}: needs data (a folder)")
    if data is not None and not is_builtin_or_catalog(data):
        data = _resolve(base, data)
        if not Path(data).exists():
            problems.append(f"{where}: data path does not exist: {data}")
    options = merged["options"]
    known = bench.options()
    clean: dict[str, Any] = {}
    for raw_name, value in options.items():
        name = str(raw_name).replace("-", "_")
        if name not in known:
            problems.append(f"{where}: unknown option {raw_name!r} (options: {', '.join(known)})")
            continue
        problem = _type_problem(name, value, known[name])
        if problem:
            problems.append(f"{where}: {problem}")
        elif "Path" in str(known[name].annotation) and isinstance(value, str):
            clean[name] = Path(_resolve(base, value))
        elif isinstance(known[name].default, str) and isinstance(value, (int, float)):
            clean[name] = str(value)
        else:
            clean[name] = value
    if problems:
        return None, problems
    label = str(merged.get("name") or f"{index}-{bench_name}")
    return SuiteRun(index, label, bench_name, Path(_resolve(base, checkpoint)), data, clean), []


def load_suite(path: Path) -> list[SuiteRun]:
    """Read and check a suite file; every problem of every entry is reported in one ValueError."""
    import yaml

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
    unknown = [k for k in doc if k not in ("runs", "defaults")]
    defaults = doc.get("defaults") or {}
    problems = [f"unknown top-level key {k!r} (keys: runs, defaults)" for k in unknown]
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


def headline_metrics(benchmark: str, benchmarks: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a result that the suite table shows: ``{"knn/top1": 81.2, ...}``."""
    from ssl_evaluation.report import flatten_metrics

    flat = flatten_metrics(benchmarks)
    out: dict[str, float] = {}
    for pattern in BENCHMARKS[benchmark].headline:
        for key, value in flat.items():
            if fnmatch.fnmatchcase(key, pattern) and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, float(value))
    return out


def run_suite(runs: list[SuiteRun], suite_path: Path) -> dict[str, Any]:
    """Run every entry in order; returns results.json's content."""
    records = []
    for run in runs:
        where = run.data or "default data"
        print(f"[{run.index}/{len(runs)}] {run.name}: {run.benchmark} of {run.checkpoint.name} on {where}",
              file=sys.stderr, flush=True)
        bench = BENCHMARKS[run.benchmark]
        kwargs = {**bench.fixed, **run.options}
        if run.data is not None:
            kwargs["data"] = run.data
        start = time.perf_counter()
        try:
            result = bench.run(run.checkpoint, **kwargs)
        except EXPECTED_ERRORS as exc:
            raise ValueError(f"suite run {run.index} ({run.name}): {exc}") from exc
        records.append({
            "name": run.name, "benchmark": run.benchmark, "checkpoint": str(run.checkpoint),
            "data": result["data"], "options": run.options, "seconds": round(time.perf_counter() - start, 1),
            "benchmarks": result["benchmarks"], "protocol": result["protocol"],
            "headline": headline_metrics(run.benchmark, result["benchmarks"]),
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


def write_suite_outputs(out: Path, results: Mapping[str, Any]) -> list[Path]:
    """OUT/results.json, OUT/results.md and OUT/results.png, each written atomically."""
    import ssl_evaluation
    from ssl_evaluation.atomic_files import atomic_write_bytes, atomic_write_text

    return [
        ssl_evaluation.write_results(out, results),
        atomic_write_text(out / "results.md", _markdown(results)),
        atomic_write_bytes(out / "results.png", _bar_plot(results)),
    ]
