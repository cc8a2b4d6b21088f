"""Tier 1: every chart is a real PNG, no figure is left open, and Markdown embeds the bytes."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.metrics import calibration_table, confusion, pr_points, roc_points
from ml_assets.lib.plots import (
    markdown_image,
    plot_calibration,
    plot_confusion,
    plot_pr,
    plot_roc,
    plot_series,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

rng = np.random.default_rng(0)
PROBA = rng.uniform(size=2000)
Y = (rng.uniform(size=2000) < PROBA).astype(int)
NOISY = np.clip(PROBA + rng.normal(0, 0.3, size=2000), 0, 1)
SINGLE_CLASS = pd.DataFrame({"fpr": [], "tpr": [], "threshold": []})

PLOTS: dict[str, Callable[[Path], Path]] = {
    "roc": lambda path: plot_roc(
        {"champion": roc_points(Y, PROBA), "challenger": roc_points(Y, NOISY)}, path
    ),
    "roc_with_single_class_model": lambda path: plot_roc(
        {"champion": roc_points(Y, PROBA), "one day": SINGLE_CLASS}, path
    ),
    "pr": lambda path: plot_pr(
        {"champion": pr_points(Y, PROBA), "challenger": pr_points(Y, NOISY)}, path
    ),
    "calibration": lambda path: plot_calibration(
        {"champion": calibration_table(Y, PROBA), "challenger": calibration_table(Y, NOISY)}, path
    ),
    "confusion": lambda path: plot_confusion(
        confusion(Y, (PROBA >= 0.5).astype(int)), path, "Champion on the test days"
    ),
    "series_by_day": lambda path: plot_series(
        pd.Series(rng.uniform(size=90), index=pd.date_range("2013-01-01", periods=90)),
        path,
        "Share of drifted features",
        "drift share",
        threshold=0.5,
    ),
    "series_by_partition_key": lambda path: plot_series(
        pd.Series([0.81, 0.84, 0.79], index=["2013-01-01", "2013-01-02", "2013-01-03"]),
        path,
        "Daily ROC AUC",
        "roc_auc",
    ),
}


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_writes_a_png_and_closes_its_figure(name: str, tmp_path: Path) -> None:
    path = tmp_path / "charts" / f"{name}.png"  # the folder does not exist yet
    returned = PLOTS[name](path)
    assert returned == path
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5_000  # a chart, not an empty canvas
    assert plt.get_fignums() == []
    assert matplotlib.get_backend().lower() == "agg"


def test_figure_is_closed_when_plotting_fails(tmp_path: Path) -> None:
    path = tmp_path / "roc.png"
    with pytest.raises(KeyError):
        plot_roc({"broken": pd.DataFrame({"fpr": [0.0, 1.0]})}, path)
    assert plt.get_fignums() == []
    assert not path.exists()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: plot_confusion({"tn": 1, "fp": 2}, p, "t"), r"lack \['fn', 'tp'\]"),
        (lambda p: plot_series(pd.Series([], dtype=float), p, "Drift", "share"), "no values"),
    ],
)
def test_bad_input_raises_before_drawing(
    call: Callable[[Path], Path], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        call(tmp_path / "chart.png")
    assert plt.get_fignums() == []


def test_markdown_image_embeds_the_png_bytes(tmp_path: Path) -> None:
    path = plot_confusion({"tn": 5, "fp": 1, "fn": 2, "tp": 3}, tmp_path / "c.png", "Confusion")
    markdown = markdown_image(path, "confusion matrix")
    prefix = "![confusion matrix](data:image/png;base64,"
    assert markdown.startswith(prefix)
    assert markdown.endswith(")")
    assert base64.b64decode(markdown[len(prefix) : -1], validate=True) == path.read_bytes()


def test_markdown_image_alt_text_cannot_break_the_link(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(PNG_MAGIC)
    assert markdown_image(path, "AUC [test]").startswith("![AUC (test)](data:image/png;base64,")


def test_lib_modules_import_neither_matplotlib_nor_dagster() -> None:
    code = (
        "import sys, ml_assets.lib.metrics, ml_assets.lib.plots;"
        "print(sorted(m for m in ('matplotlib', 'dagster') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
