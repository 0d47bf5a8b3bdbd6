"""The two pictures a person checks after training: learning curves and the confusion matrix.

The tutorial plotted loss against accuracy, which hides over-fitting; these plot each metric per
epoch with training and validation side by side, where the gap is what matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:  # matplotlib.pyplot is a module, not a type
    import matplotlib

    matplotlib.use("Agg")  # no display in containers, CI or over SSH
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: Mapping[str, Sequence[float]], path: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = history.get(key)
            if values:
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    style,
                    marker="o",
                    markersize=3,
                    label="validation" if key.startswith("val_") else "training",
                )
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
