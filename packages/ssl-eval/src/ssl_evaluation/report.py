"""``OUT/report.md`` (for people) and ``OUT/loss_curve.png`` from a run's results."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ssl_evaluation.atomic_files import atomic_write_bytes, atomic_write_text
from ssl_evaluation.results import to_json_value

__all__ = ["flatten_metrics", "write_report"]

_PRETRAINED, _RANDOM = "benchmarks", "random_init"


def flatten_metrics(tree: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """``{"knn": {"top1": 80}}`` -> ``{"knn/top1": 80}``; lists longer than 8 are summarised."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, path))
        elif isinstance(value, list) and len(value) > 8:
            flat[path] = f"[{len(value)} values]"
        else:
            flat[path] = value
    return flat


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if math.isfinite(value) and abs(value) >= 0.01 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _render(results: Mapping[str, object], curve_name: str | None) -> str:
    lines = ["# Run report", ""]
    recipe = results.get("recipe")
    if isinstance(recipe, str):
        lines += [f"Recipe: `{recipe}`", ""]
    pretrained, random = results.get(_PRETRAINED), results.get(_RANDOM)
    if isinstance(pretrained, Mapping) and isinstance(random, Mapping):
        left, right = flatten_metrics(pretrained), flatten_metrics(random)
        keys = list(left) + [k for k in right if k not in left]
        lines += ["## Benchmarks: pretrained vs random init", ""]
        lines += _table(
            ["metric", "pretrained", "random init"],
            [(k, left.get(k), right.get(k)) for k in keys],
        )
        lines.append("")
        shown = {_PRETRAINED, _RANDOM}
    else:
        shown = set()
    for section, value in results.items():
        if section in shown or section == "recipe" and isinstance(value, str):
            continue
        title = section.replace("_", " ")
        if isinstance(value, Mapping):
            flat = flatten_metrics(value)
            lines += [f"## {title}", ""]
            lines += _table(["key", "value"], list(flat.items())) if flat else ["(empty)"]
            lines.append("")
        else:
            lines += [f"## {title}", "", _cell(value), ""]
    lines += ["## Training loss", ""]
    if curve_name is not None:
        lines += [f"![training loss]({curve_name})", ""]
    else:
        lines += ["No loss history was recorded.", ""]
    return "\n".join(lines)


def _loss_png(loss_history: Sequence[float]) -> bytes:
    try:
        from matplotlib.figure import Figure  # no pyplot: no global backend state, Agg for PNG
    except ImportError:
        raise ImportError("the loss-curve plot needs matplotlib: pip install 'ssl-evaluation[report]'") from None

    figure = Figure(figsize=(6, 3.5), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(range(1, len(loss_history) + 1), list(loss_history), color="tab:blue")
    axes.set_xlabel("logged step")
    axes.set_ylabel("loss")
    axes.set_title("Training loss")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_report(
    out_dir: str | os.PathLike[str],
    results: Mapping[str, object],
    loss_history: Sequence[float] | None = None,
) -> Path:
    """Write ``out_dir/report.md`` (and ``out_dir/loss_curve.png`` when ``loss_history`` has
    values), each atomically; returns the report's path.

    Every nested section of ``results`` becomes a two-column table of ``a/b/c`` metric paths;
    when both ``results["benchmarks"]`` and ``results["random_init"]`` exist they are shown side
    by side in one table.
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    plain = to_json_value(results)
    assert isinstance(plain, dict)
    out = Path(out_dir)
    curve_name = None
    if loss_history is not None and len(loss_history) > 0:
        values = [float(v) for v in loss_history]
        atomic_write_bytes(out / "loss_curve.png", _loss_png(values))
        curve_name = "loss_curve.png"
    return atomic_write_text(out / "report.md", _render(plain, curve_name))
