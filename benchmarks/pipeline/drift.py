"""One day's drift judgement: the platform's `compare` (Evidently 0.7) against the same
tests written by hand with SciPy, on the same day, reference and thresholds.

The hand-written peer computes what Evidently computes for each column (numerical:
Wasserstein distance normed by the reference's standard deviation; categorical:
Jensen-Shannon distance of the category frequencies) and the drifted share; the run checks
that both find the same drifted columns before it reports any time. Ours is timed twice:
without the HTML report (the verdicts only) and with it (what the `drift_report` asset
writes). Aim (issue 16): at most 2x the hand-written tests. Run:

    python -m benchmarks.pipeline.drift [--day 2013-05-15] [--repeats 5]

It backfills Jan 1 - the day into a temporary state folder first (about half a minute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def scipy_share(
    day: pd.DataFrame,
    reference: pd.DataFrame,
    tests: Mapping[str, tuple[str, float]],
) -> list[str]:
    """The drifted columns by hand: `tests` maps a column to its kind and threshold."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    drifted = []
    for column, (kind, threshold) in tests.items():
        cur, ref = day[column].dropna(), reference[column].dropna()
        if kind == "numerical":
            cur_values = cur.to_numpy(dtype="float64")
            ref_values = ref.to_numpy(dtype="float64")
            spread = np.std(ref_values) or 1e-3  # Evidently's floor for a constant reference
            score = wasserstein_distance(ref_values, cur_values) / spread
        else:
            keys = sorted(set(ref.astype(str)) | set(cur.astype(str)))
            p = ref.astype(str).value_counts(normalize=True).reindex(keys, fill_value=0)
            q = cur.astype(str).value_counts(normalize=True).reindex(keys, fill_value=0)
            score = float(jensenshannon(p.to_numpy(), q.to_numpy()))
        if score >= threshold:
            drifted.append(column)
    return drifted


def timed(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    function()
    samples = []
    for _ in range(repeats):
        begun = time.perf_counter()
        function()
        samples.append(time.perf_counter() - begun)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", default="2013-05-15")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlap-drift-speed-") as state:
        os.environ["MLAP_STATE_DIR"] = state
        os.environ.pop("DAGSTER_HOME", None)
        from ml_assets import environment

        environment.quiet_telemetry()
        environment.dagster_home()
        run(args.day, args.repeats)


def run(day: str, repeats: int) -> None:
    from dagster import DagsterInstance

    from benchmarks.drift_calibration import days_between
    from ml_assets import environment
    from ml_assets.definitions import build_definitions
    from ml_assets.keys import features_key
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.lib.drift import compare, resolve_test
    from ml_assets.lib.features import feature_kinds
    from ml_assets.runs.backfill import run_backfill

    pipeline = "flight_delays"
    config = load_pipeline_config(environment.pipelines_dir() / f"{pipeline}.yaml")
    assert config.monitoring is not None
    policy = config.monitoring.drift
    defs = build_definitions()
    with DagsterInstance.get() as instance:
        assert run_backfill(defs, pipeline, "2013-01-01", day, instance, "WARNING").success
    lake = (defs.resources or {})["lake"]
    path = features_key(pipeline).path
    window = pd.concat(
        [lake.read(path, d) for d in days_between("2013-01-01", "2013-04-30")], ignore_index=True
    )
    reference = window.sample(config.monitoring.reference_rows, random_state=0)
    current = lake.read(path, day)
    kinds = {
        name: "numerical" if kind == "numeric" else "categorical"
        for name, kind in feature_kinds(config).items()
        if name not in policy.ignore_columns
    }
    tests = {c: (k, resolve_test(c, k, policy, None).threshold) for c, k in kinds.items()}

    def ours(with_html: bool) -> Callable[[], object]:
        return lambda: compare(current, reference, kinds, policy, with_html=with_html)  # type: ignore[arg-type]

    ours_drifted = compare(current, reference, kinds, policy, with_html=False).drifted_columns  # type: ignore[arg-type]
    by_hand = scipy_share(current, reference, tests)
    if sorted(ours_drifted) != sorted(by_hand):
        sys.exit(f"the two disagree: ours {ours_drifted}, by hand {by_hand}")
    peer = timed(lambda: scipy_share(current, reference, tests), repeats)
    verdicts = timed(ours(False), repeats)
    report = timed(ours(True), repeats)
    print(f"\n{day}: {len(current)} rows, {len(kinds)} features, reference {len(reference)} rows;")
    print(f"both find {len(by_hand)} drifted: {', '.join(by_hand) or 'none'}\n")
    print("| way | median s | ratio to SciPy by hand |")
    print("|---|---|---|")
    for name, seconds in (
        ("SciPy by hand", peer),
        ("compare, verdicts only", verdicts),
        ("compare with the HTML report (the asset)", report),
    ):
        print(f"| {name} | {seconds:.4f} | {seconds / peer:.2f}x |")


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    main()
