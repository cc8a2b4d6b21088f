"""The quality benchmark's pure pieces (benchmarks/quality): metric table and the champion
vs best-peer bootstrap, on synthetic predictions. No training, no FLAML."""

import numpy as np
import pytest

from benchmarks.quality import Scored, champion_vs_best_peer, metric_table, peer_threshold


def _data(n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, n)
    good = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    weak = np.clip(0.5 + 0.1 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    return y, good, weak


def test_metric_table_scores_each_model_on_the_same_rows() -> None:
    y, good, weak = _data()
    table = metric_table(y, [Scored("good", good, 0.5), Scored("weak", weak, 0.5)])
    assert list(table["model"]) == ["good", "weak"]
    roc, pr, loss = (list(map(float, table[c])) for c in ("roc_auc", "pr_auc", "log_loss"))
    assert roc[0] > roc[1] > 0.5 and pr[0] > pr[1] and loss[0] < loss[1]
    perfect = metric_table(y, [Scored("perfect", y.astype(float), 0.5)]).iloc[0]
    assert float(perfect["roc_auc"]) == 1.0 and float(perfect["f1"]) == 1.0


def test_champion_against_the_best_peer_on_test() -> None:
    y, good, weak = _data()
    better = champion_vs_best_peer(y, Scored("c", good, 0.5), [Scored("w", weak, 0.5)])
    assert better["best_peer"] == "w" and better["verdict"] == "champion better"
    low, mid, high = (float(str(better[k])) for k in ("ci_low", "difference", "ci_high"))
    assert 0 < low < mid < high
    worse = champion_vs_best_peer(
        y, Scored("c", weak, 0.5), [Scored("w", weak, 0.5), Scored("g", good, 0.5)]
    )
    assert worse["best_peer"] == "g" and worse["verdict"] == "champion worse"
    same = champion_vs_best_peer(y, Scored("c", good, 0.5), [Scored("g", good, 0.5)])
    assert same["difference"] == pytest.approx(0.0)
    assert str(same["verdict"]).startswith("within")


def test_peer_threshold_is_the_platforms_f1_choice() -> None:
    y, good, _ = _data()
    threshold = peer_threshold(y, good)
    assert 0.0 < threshold < 1.0
