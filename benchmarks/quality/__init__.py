"""Quality benchmark: the platform's champion against its peers on the same test rows.

Backfills all of 2013's flight_delays into a temporary state folder once (the platform's
own backfill), then, per temporal split (the test window ending on each `--as-of`), runs
the platform's own training job with the YAML's windows and trial budget and compares,
on exactly the test rows of that training:

- the champion of the training (its best candidate, the registered challenger) at its
  stored decision threshold;
- the platform's own logistic regression candidate;
- a fixed XGBoost (400 trees, depth 6, otherwise defaults, seeded) on the same features;
- FLAML AutoML given the train rows, the validation window as X_val / y_val, metric
  roc_auc, seeded, with a time budget equal to the platform's whole tuning time.

Peers' thresholds are chosen for F1 on validation with the platform's own threshold
code. Run (FLAML is in the `bench` dependency group, not installed by `make install`):

    make bench-quality
    uv run --frozen --group bench python -m benchmarks.quality [--as-of 2013-12-31 ...]

Writes benchmarks/quality/RESULTS.md. A split takes 10-20 minutes on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class Scored:
    """One model's test-window probabilities and the threshold it labels them with."""

    name: str
    test_proba: npt.NDArray[np.float64]
    threshold: float
    note: str = ""


def metric_row(y: npt.ArrayLike, scored: Scored) -> dict[str, object]:
    """ROC AUC, PR AUC, log loss and F1 at the model's threshold on the test rows."""
    from sklearn.metrics import average_precision_score, f1_score, log_loss, roc_auc_score

    truth = np.asarray(y).astype(int)
    proba = np.clip(np.asarray(scored.test_proba, dtype="float64"), 1e-7, 1 - 1e-7)
    return {
        "model": scored.name,
        "roc_auc": float(roc_auc_score(truth, proba)),
        "pr_auc": float(average_precision_score(truth, proba)),
        "log_loss": float(log_loss(truth, proba, labels=[0, 1])),
        "threshold": scored.threshold,
        "f1": float(f1_score(truth, (proba >= scored.threshold).astype(int), zero_division=0)),
        "note": scored.note,
    }


def metric_table(y: npt.ArrayLike, models: list[Scored]) -> pd.DataFrame:
    return pd.DataFrame([metric_row(y, m) for m in models])


def champion_vs_best_peer(
    y: npt.ArrayLike,
    champion: Scored,
    peers: list[Scored],
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, object]:
    """Paired bootstrap 95% CI of ROC AUC(champion) - ROC AUC(best peer on test), with the
    platform's own bootstrap (ml_assets.lib.significance)."""
    from ml_assets.lib.significance import paired_bootstrap_auc

    table = metric_table(y, peers)
    best = peers[int(table["roc_auc"].to_numpy().argmax())]
    result = paired_bootstrap_auc(
        y, champion.test_proba, best.test_proba, resamples=resamples, seed=seed
    )
    return {
        "best_peer": best.name,
        "difference": result.difference,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "verdict": _verdict(result.ci_low, result.ci_high),
    }


def _verdict(low: float, high: float) -> str:
    if low > 0:
        return "champion better"
    if high < 0:
        return "champion worse"
    return "within the CI (no difference shown)"


def peer_threshold(y_validation: npt.ArrayLike, validation_proba: npt.ArrayLike) -> float:
    """A peer's F1 threshold on validation, with the platform's own threshold code."""
    from ml_assets.lib.thresholds import choose_threshold

    return float(choose_threshold(y_validation, validation_proba, "f1").threshold)
