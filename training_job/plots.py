"""The pictures a person checks after training: learning curves, confusion matrix, reliability.

The tutorial plotted loss against accuracy, which hides over-fitting; these plot each metric per
epoch with training and the stop split side by side, where the gap is what matters, and mark the
epoch early stopping kept. The reliability diagram shows whether `confidence` means what it says
(validation, before and after temperature scaling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:  # matplotlib.pyplot is a module, not a type
    # Imported here, not above: the backend must be chosen before pyplot loads, and matplotlib's
    # ~160 ms would otherwise be paid by `catdog evaluate`/`predict` too (they import train.py).
    import matplotlib

    matplotlib.use("Agg")  # no display in containers, CI or over SSH
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: Mapping[str, Sequence[float]], path: Path, best_epoch: int | None = None,
                         title: str = "") -> Path:
    plt = _pyplot()
    fig = learning_curves_figure(history, best_epoch, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def learning_curves_figure(history: Mapping[str, Sequence[float]], best_epoch: int | None = None,
                           title: str = "") -> Any:
    """Loss and accuracy per epoch, the epoch early stopping kept marked (it is the model shipped, not
    the last one drawn), the model version in the title so a PNG found on its own says whose it is."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), (f"stop_{metric}", "--")):
            values = history.get(key)
            if values:
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    marker="o",
                    markersize=3,
                    label="stop split (held out of train/)" if key.startswith("stop_") else "training",
                )
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"kept: epoch {best_epoch}")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Path:
    plt = _pyplot()
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.2 * n + 3, 1.2 * n + 2.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels=list(labels))
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = max(max(row) for row in matrix) or 1
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(matrix[i][j]),
                ha="center",
                va="center",
                color="white" if matrix[i][j] > top / 2 else "black",
            )
    ax.set_title("validation confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_reliability(report: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Accuracy against mean confidence per bin, before and after temperature scaling (the diagonal
    is a perfectly calibrated model)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    for key, style, name in (("reliability_before", "o--", "before"), ("reliability_after", "s-", "after")):
        rows = report.get(key) or []
        ece = report.get(f"ece_{name}")
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], style, markersize=4,
                label=f"{name} (ECE {ece:.4f})" if isinstance(ece, float) else name)
    ax.set_xlabel("confidence (mean per bin)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    heading = f"validation reliability, T = {report.get('temperature', 1.0):.3f}"
    ax.set_title(heading + (f"\n{title}" if title else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
