"""The learning curves mark the epoch the model was kept at and say which model they belong to."""

from __future__ import annotations

from pathlib import Path

from training_job.plots import learning_curves_figure, plot_learning_curves

HISTORY = {"loss": [0.9, 0.5, 0.4, 0.38, 0.37], "stop_loss": [0.8, 0.45, 0.41, 0.44, 0.5],
           "accuracy": [0.6, 0.8, 0.85, 0.86, 0.87], "stop_accuracy": [0.62, 0.83, 0.86, 0.85, 0.84]}


def test_the_kept_epoch_is_marked_on_both_panels_and_the_version_is_the_title() -> None:
    fig = learning_curves_figure(HISTORY, best_epoch=3, title="model 20261127-185611-mobilenetv2-ab")
    assert fig._suptitle.get_text() == "model 20261127-185611-mobilenetv2-ab"
    for ax in fig.axes:
        marks = [line for line in ax.get_lines() if list(line.get_xdata()) == [3, 3]]
        assert len(marks) == 1, "one vertical line at the kept epoch"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "kept: epoch 3" in legend and "stop split (held out of train/)" in legend


def test_without_a_kept_epoch_nothing_is_marked(tmp_path: Path) -> None:
    fig = learning_curves_figure(HISTORY, best_epoch=None)
    assert all("kept" not in t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts())
    png = plot_learning_curves(HISTORY, tmp_path / "curves.png", best_epoch=2, title="model v1")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
