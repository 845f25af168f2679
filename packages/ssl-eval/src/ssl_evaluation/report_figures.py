"""The run report's plots, each rendered to PNG bytes with matplotlib's Agg canvas (no pyplot, so
no global backend state). matplotlib is the ``report`` extra, imported on first use."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "comparison_png",
    "confusion_png",
    "embedding_png",
    "epoch_log_png",
    "loss_png",
    "monitor_png",
    "views_png",
]


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("the report's plots need matplotlib: pip install 'ssl-evaluation[report]'") from None
    return Figure(figsize=(width, height), dpi=100)


def _png(figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def loss_png(loss_history: Sequence[float]) -> bytes:
    """Training loss at every logged step."""
    figure = _figure(6, 3.5)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(range(1, len(loss_history) + 1), list(loss_history), color="tab:blue")
    axes.set_xlabel("logged step")
    axes.set_ylabel("loss")
    axes.set_title("Training loss")
    axes.grid(True, alpha=0.3)
    return _png(figure)


def monitor_png(history: Sequence[Mapping[str, float]], protocol: str) -> bytes:
    """Online kNN top-1 (%) against the optimizer step; ``protocol`` is the subtitle."""
    steps = [float(h["step"]) for h in history]
    top1 = [float(h["knn_top1"]) for h in history]
    figure = _figure(7, 4.2)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(steps, top1, marker="o", color="tab:green")
    for step, value, entry in zip(steps, top1, history):
        axes.annotate(f"ep {int(entry['epoch'])}", (step, value), textcoords="offset points", xytext=(0, 6),
                      ha="center", fontsize=7, color="dimgray")  # fmt: skip
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("kNN top-1 (%)")
    import textwrap

    axes.set_title("Online kNN monitor during training\n" + textwrap.fill(protocol, 80), fontsize=9)
    axes.grid(True, alpha=0.3)
    return _png(figure)


def comparison_png(bars: Sequence[tuple[str, float]], reference: str, metric: str) -> bytes:
    """Horizontal bars ``(label, value %)``; every bar but ``reference`` carries its difference to
    the reference (``reference - bar``, signed) so a loss reads as a negative number."""
    values = dict(bars)
    ref = values[reference]
    figure = _figure(7.5, 0.7 * len(bars) + 1.4)
    axes = figure.add_subplot(1, 1, 1)
    labels = [label for label, _ in bars][::-1]
    heights = [value for _, value in bars][::-1]
    colors = ["tab:green" if label == reference else "tab:gray" for label in labels]
    axes.barh(labels, heights, color=colors)
    for y, (label, value) in enumerate(zip(labels, heights)):
        text = f"{value:.2f} %" if label == reference else f"{value:.2f} %   (pretrained {ref - value:+.2f})"
        axes.text(value + 1, y, text, va="center", fontsize=9)
    axes.set_xlim(0, 135)
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel(metric)
    axes.set_title("Pretrained trunk against its baselines (same run, same protocol)", fontsize=10)
    axes.grid(True, axis="x", alpha=0.3)
    return _png(figure)


def epoch_log_png(epoch_log: Sequence[Mapping[str, float]]) -> bytes:
    """Mean training loss and the learning rate (at the epoch's end) by epoch, two panels."""
    epochs = [int(e["epoch"]) for e in epoch_log]
    figure = _figure(9, 3.5)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    left.plot(epochs, [float(e["loss"]) for e in epoch_log], marker="o", color="tab:blue")
    left.set_title("Mean training loss by epoch")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    right.plot(epochs, [float(e["lr"]) for e in epoch_log], marker="o", color="tab:orange")
    right.set_title("Learning rate at the end of each epoch")
    right.set_xlabel("epoch")
    right.set_ylabel("lr")
    for axes in (left, right):
        axes.grid(True, alpha=0.3)
        axes.set_xticks(epochs if len(epochs) <= 20 else epochs[:: max(1, len(epochs) // 10)])
    return _png(figure)


def embedding_png(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str) -> bytes:
    """2-D points ``[N, 2]`` coloured by class id ``[N]``, with a legend of ``class_names``."""
    figure = _figure(7, 6)
    axes = figure.add_subplot(1, 1, 1)
    colors = _class_colors(len(class_names))
    for c, name in enumerate(class_names):
        mask = labels == c
        if mask.any():
            axes.scatter(points[mask, 0], points[mask, 1], s=6, color=colors[c], label=name, alpha=0.8)
    axes.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=10)
    return _png(figure)


def _class_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def confusion_png(matrix: np.ndarray, class_names: Sequence[str], title: str) -> bytes:
    """Confusion matrix ``[C, C]`` (rows: true class, columns: predicted), shaded by the row's
    share and annotated with counts."""
    counts = np.asarray(matrix, dtype=np.int64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    size = min(10.0, 3.0 + 0.55 * n)
    figure = _figure(size + 1.2, size)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    axes.set_xticks(range(n))
    axes.set_yticks(range(n))
    axes.set_xticklabels(class_names, rotation=45, ha="right", fontsize=8)
    axes.set_yticklabels(class_names, fontsize=8)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="% of the true class")
    return _png(figure)


def views_png(originals: np.ndarray, views: Sequence[np.ndarray], view_names: Sequence[str]) -> bytes:
    """One row per image: the image, then each augmented crop. ``originals`` ``[B, H, W, 3]`` and
    every ``views[i]`` ``[B, h, w, 3]``, floats in [0, 1]."""
    rows, cols = originals.shape[0], 1 + len(views)
    figure = _figure(1.3 * cols + 0.4, 1.3 * rows + 0.6)
    names = ["image", *view_names]
    for r in range(rows):
        for c in range(cols):
            axes = figure.add_subplot(rows, cols, r * cols + c + 1)
            picture = originals[r] if c == 0 else views[c - 1][r]
            axes.imshow(np.clip(picture, 0.0, 1.0), interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if r == 0:
                axes.set_title(names[c], fontsize=8)
    return _png(figure)
