"""``OUT/report.md`` (for people) and ``OUT/loss_curve.png`` from a run's results."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ssl_evaluation.atomic_files import atomic_write_bytes, atomic_write_text
from ssl_evaluation.results import to_json_value

__all__ = ["flatten_metrics", "write_report"]

_PRETRAINED, _RANDOM = "benchmarks", "random_init"


def flatten_metrics(tree: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """``{"knn": {"top1": 80}}`` -> ``{"knn/top1": 80}``; lists longer than 8 and lists of
    records (per-epoch logs) are summarised."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, path))
        elif isinstance(value, list) and (len(value) > 8 or any(isinstance(v, Mapping) for v in value)):
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


def _get(tree: Mapping[str, object], path: str) -> object:
    node: object = tree
    for key in path.split("/"):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _verdict_lines(results: Mapping[str, object]) -> list[str]:
    verdict = results.get("verdict")
    if not isinstance(verdict, Mapping):
        return []
    pretrained = verdict["pretrained"]
    parts = []
    if "minus_random_init" in verdict:
        diff = float(verdict["minus_random_init"])  # type: ignore[arg-type]
        word = "BEATS" if diff > 0 else "LOSES TO" if diff < 0 else "TIES WITH"
        which = " (initial BatchNorm statistics)" if verdict.get("random_init_variant") == "random_init_initial_bn" else ""
        parts.append(f"the pretrained trunk {word} its better random-init trunk{which}: {diff:+.2f} kNN top-1 points "
                     f"({pretrained:.2f} % vs {verdict['random_init']:.2f} %)")
    diff = float(verdict["minus_best_pixels"])  # type: ignore[arg-type]
    word = "beats" if diff > 0 else "LOSES TO" if diff < 0 else "ties with"
    best = str(verdict["best_pixel_baseline"]).replace("standardized", "standardised")
    parts.append(f"it {word} the best pixel baseline ({best} pixels, {verdict['best_pixels']:.2f} %) by {diff:+.2f} points")
    return [f"**Verdict: {'; '.join(parts)}.**", ""]


def _data_lines(results: Mapping[str, object]) -> list[str]:
    lines = ["## Data", ""]
    trained = _get(results, "pretrain/data")
    data = results.get("data")
    if trained:
        lines.append(f"- Pretrained on: {trained}")
    if isinstance(data, Mapping):
        lines.append(f"- Benchmarked on: {data.get('source')} (train, {data.get('train_images')} images) -> "
                     f"{data.get('test_source')} (test, {data.get('test_images')} images), at {data.get('image_size')} px")
        requested = str(data.get("name"))
        if "fallback" in f"{trained} {data.get('source')}" or (trained and "digits" in str(trained) and requested != "digits"):
            lines.append(f"- Requested `{requested}`, which was not found: the run used scikit-learn's digits instead.")
    if "digits" in f"{trained} {_get(results, 'data/source')}":
        lines.append("- digits' train/test split is a seeded 80 %/20 % split of scikit-learn's 1,797 8x8 images made "
                     "by ssl-data, not an official split: compare these numbers only with runs on the same split.")
    return lines + [""]


#: config sections "Recipe actually run" already covers (a row each, or folded into the batch,
#: length and seed rows, or not about the recipe: the monitor); a recipe's other sections (e.g.
#: ClusterFit's ``clusterfit``) get one row each.
_SHOWN_SECTIONS = frozenset({"model", "optim", "schedule", "loss", "views", "data", "train", "monitor"})


def _recipe_lines(results: Mapping[str, object]) -> list[str]:
    config, pretrain = results.get("config"), results.get("pretrain")
    if not isinstance(config, Mapping):
        return []
    pretrain = pretrain if isinstance(pretrain, Mapping) else {}

    def values(section: str) -> str:
        part = config.get(section)
        return ", ".join(f"{k}={_cell(v)}" for k, v in part.items()) if isinstance(part, Mapping) else "-"

    train, data = config.get("train", {}), config.get("data", {})
    assert isinstance(train, Mapping) and isinstance(data, Mapping)
    length = f"{pretrain.get('epochs', '-')} epochs, {pretrain.get('steps', '-')} optimizer steps"
    if train.get("max_steps"):
        length += f" (budgeted by train.max_steps={train['max_steps']})"
    rows = [
        ("recipe", results.get("recipe")), ("model", values("model")), ("optimizer", values("optim")),
        ("schedule", values("schedule")), ("loss", values("loss")),
        ("batch", f"{data.get('batch_size')} images x {data.get('image_size')} px"),
        ("augmentations / views", values("views")),
        *((name, values(name)) for name, part in config.items() if name not in _SHOWN_SECTIONS and isinstance(part, Mapping)),
        ("length", length),
        ("precision", pretrain.get("precision")), ("seed", train.get("seed")),
        *((("probed features", pretrain["probed_features"]),) if pretrain.get("probed_features") else ()),
        ("wall time", f"{_cell(pretrain.get('minutes'))} min pretraining, {_cell(results.get('total_minutes'))} min in all"),
    ]  # fmt: skip
    return ["## Recipe actually run", "", *_table(["what", "value"], rows), ""]


def _comparison_bars(results: Mapping[str, object]) -> list[tuple[str, float]]:
    bars = []
    for label, path in (("pretrained", "benchmarks/knn/top1"), ("random init", "random_init/knn/top1"),
                        ("random init, initial BN statistics", "random_init_initial_bn/knn/top1"),
                        ("raw pixels", "pixel_baselines/raw/knn/top1"),
                        ("standardised pixels", "pixel_baselines/standardized/knn/top1")):  # fmt: skip
        value = _get(results, path)
        if isinstance(value, (int, float)):
            bars.append((label, float(value)))
    return bars


def _benchmark_lines(results: Mapping[str, object]) -> list[str]:
    pretrained, random = results.get(_PRETRAINED), results.get(_RANDOM)
    if not isinstance(pretrained, Mapping):
        return []
    left = flatten_metrics(pretrained)
    if isinstance(random, Mapping):
        right = flatten_metrics(random)
        keys = list(left) + [k for k in right if k not in left]
        lines = ["## Benchmarks: pretrained vs random init", ""]
        lines += _table(["metric", "pretrained", "random init (BatchNorm statistics re-estimated)"],
                        [(k, left.get(k), right.get(k)) for k in keys])  # fmt: skip
        initial = _get(results, "random_init_initial_bn/knn/top1")
        if isinstance(initial, (int, float)):
            lines += ["", f"The same random-init trunk with its initial BatchNorm statistics (mean 0, variance 1): "
                          f"kNN top-1 {initial:.2f} %, top-5 {_cell(_get(results, 'random_init_initial_bn/knn/top5'))} %."]
    else:
        lines = ["## Benchmarks", "", *_table(["metric", "pretrained"], list(left.items()))]
    pixels = results.get("pixel_baselines")
    if isinstance(pixels, Mapping):
        rows = [(f"{name} pixels", _get(pixels, f"{name}/knn/top1"), _get(pixels, f"{name}/knn/top5"))
                for name in ("raw", "standardized")]  # fmt: skip
        lines += ["", f"Pixel baselines (the same kNN on {pixels.get('feature_dim')} pixel values):", ""]
        lines += _table(["input", "knn/top1", "knn/top5"], rows)
    return lines + [""]


#: sections rendered by their own code above, not as generic tables
_SPECIAL = {_PRETRAINED, _RANDOM, "recipe", "verdict", "config", "pixel_baselines", "linear_confusion", "embedding_method"}


def _render(results: Mapping[str, object], figures: Mapping[str, str]) -> str:
    lines = ["# Run report", ""]
    lines += _verdict_lines(results)
    recipe = results.get("recipe")
    if isinstance(recipe, str) and not isinstance(results.get("config"), Mapping):
        lines += [f"Recipe: `{recipe}`", ""]
    lines += _data_lines(results) if "data" in results else []
    lines += _recipe_lines(results)
    lines += _benchmark_lines(results)
    for key, title in _FIGURE_TITLES.items():
        if key in figures:
            lines += [f"## {title}", "", f"![{title}]({figures[key]})", ""]
            note = _figure_note(key, results)
            lines += [note, ""] if note else []
    for section, value in results.items():
        if section in _SPECIAL:
            continue
        title = section.replace("_", " ")
        if isinstance(value, Mapping):
            flat = flatten_metrics(value)
            lines += [f"## {title}", ""]
            lines += _table(["key", "value"], list(flat.items())) if flat else ["(empty)"]
            lines.append("")
        else:
            lines += [f"## {title}", "", _cell(value), ""]
    if "loss_curve" not in figures:
        lines += ["## Training loss", "", "No loss history was recorded.", ""]
    return "\n".join(lines)


#: figure key -> section title, in report order; the PNG is ``<key>.png``
_FIGURE_TITLES = {
    "comparison": "kNN top-1: pretrained vs random init vs pixels",
    "knn_during_training": "kNN accuracy during training (online monitor)",
    "loss_lr_by_epoch": "Loss and learning rate by epoch",
    "loss_curve": "Training loss",
    "embedding": "2-D embedding of test features",
    "linear_confusion": "Linear probe confusion matrix (test set)",
    "augmented_views": "Augmented views (the recipe's crops, epoch 0)",
}


def _monitor_protocol(results: Mapping[str, object]) -> str:
    monitor = _get(results, "config/monitor")
    if isinstance(monitor, Mapping):
        return (f"weighted kNN k={monitor.get('k')}, T={monitor.get('temperature')}, cosine; memory "
                f"up to {monitor.get('train_samples')} labelled training images, up to {monitor.get('test_samples')} held-out images")
    return "weighted kNN on held-out images"


def _figure_note(key: str, results: Mapping[str, object]) -> str:
    if key == "knn_during_training":
        return (f"Protocol: {_monitor_protocol(results)}. A different (smaller, cheaper) protocol than the "
                "benchmark above: compare the curve's shape, not its level, with the benchmark table.")
    if key == "embedding":
        return str(_get(results, "embedding_method") or "")
    if key == "linear_confusion":
        return f"Rows: true class, columns: predicted. Top-1 of these predictions: {_cell(_get(results, 'linear_confusion/top1'))} %."
    return ""


def _figure_pngs(
    results: Mapping[str, object],
    loss_history: Sequence[float] | None,
    embedding: Mapping[str, object] | None,
    views: Mapping[str, object] | None,
) -> dict[str, bytes]:
    """PNG bytes of every figure the inputs have data for."""
    from ssl_evaluation import report_figures as rf

    pngs: dict[str, bytes] = {}
    bars = _comparison_bars(results)
    if any(label == "pretrained" for label, _ in bars) and len(bars) > 1:
        pngs["comparison"] = rf.comparison_png(bars, "pretrained", "kNN top-1 (%) on the test split")
    history = _get(results, "pretrain/monitor_history")
    if isinstance(history, list) and history:
        pngs["knn_during_training"] = rf.monitor_png(history, _monitor_protocol(results))
    epoch_log = _get(results, "pretrain/epoch_log")
    if isinstance(epoch_log, list) and epoch_log:
        pngs["loss_lr_by_epoch"] = rf.epoch_log_png(epoch_log)
    if loss_history:
        pngs["loss_curve"] = rf.loss_png([float(v) for v in loss_history])
    if embedding is not None:
        pngs["embedding"] = rf.embedding_png(embedding["points"], embedding["labels"], embedding["classes"],  # type: ignore[arg-type]
                                             str(embedding["method"]))  # fmt: skip
    confusion = results.get("linear_confusion")
    if isinstance(confusion, Mapping):
        import numpy as np

        pngs["linear_confusion"] = rf.confusion_png(np.asarray(confusion["matrix"]), confusion["classes"],  # type: ignore[arg-type]
                                                    "Linear probe on the pretrained trunk's features")  # fmt: skip
    if views is not None:
        pngs["augmented_views"] = rf.views_png(views["originals"], views["crops"], views["names"])  # type: ignore[arg-type]
    return pngs


def write_report(
    out_dir: str | os.PathLike[str],
    results: Mapping[str, object],
    loss_history: Sequence[float] | None = None,
    embedding: Mapping[str, object] | None = None,
    views: Mapping[str, object] | None = None,
) -> Path:
    """Write ``out_dir/report.md`` and a PNG beside it for every figure there is data for, each
    atomically; returns the report's path.

    The report opens with the verdict (``results["verdict"]``: pretrained minus random init and
    minus the best pixel baseline, kNN top-1, signed), then the data actually used, the recipe
    actually run (``results["config"]``), the benchmark tables and the figures:
    ``comparison.png`` (kNN top-1 bars), ``knn_during_training.png``
    (``results["pretrain"]["monitor_history"]``), ``loss_lr_by_epoch.png``
    (``results["pretrain"]["epoch_log"]``), ``loss_curve.png`` (``loss_history``),
    ``embedding.png`` (``embedding``: ``{"points" [N, 2], "labels" [N], "classes", "method"}``),
    ``linear_confusion.png`` (``results["linear_confusion"]``) and ``augmented_views.png``
    (``views``: ``{"originals" [B, H, W, 3], "crops": [[B, h, w, 3], ...], "names"}``). Every
    other section of ``results`` becomes a two-column table of ``a/b/c`` paths.
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    plain = to_json_value(results)
    assert isinstance(plain, dict)
    if embedding is not None:
        plain["embedding_method"] = str(embedding.get("method", ""))
    out = Path(out_dir)
    names = {}
    for key, png in _figure_pngs(plain, loss_history, embedding, views).items():
        atomic_write_bytes(out / f"{key}.png", png)
        names[key] = f"{key}.png"
    return atomic_write_text(out / "report.md", _render(plain, names))
