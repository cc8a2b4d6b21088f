"""What a running experiment has shown on labelled served traffic (binary problems).

`evidence` picks, from a day of the inference log joined to its labels, the labelled
records each model of the experiment scored: in A/B mode the champion's and the
challenger's own entities (`arm` champion / challenger), in shadow mode the pairs of the
same record (the champion's answer and the shadow score under the same request id and
position). `judge` runs the experiment's test (ml_assets.lib.experiment_stats) on
evidence, a day's or the experiment's so far, and says per arm what it saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .experiment import CHALLENGER_ARM, CHAMPION_ARM, SHADOW_ARM
from .experiment_record import ExperimentRecord
from .experiment_stats import ExperimentResult, ab_test, shadow_test
from .features import EVENT_DATE

EVIDENCE_COLUMNS = [EVENT_DATE, "experiment", "arm", "model_version", "actual", "probability"]
PAIR = ["request_id", "record"]


def experiment_id(record: ExperimentRecord) -> str:
    """One experiment's identity: its challenger and when it started."""
    return f"v{record.challenger_version}@{record.started_at}"


def evidence(joined: pd.DataFrame, record: ExperimentRecord) -> pd.DataFrame:
    """The labelled records of `joined` (a log day with `actual`) that the experiment's two
    models scored since it started, as EVIDENCE_COLUMNS (`probability`: of the positive
    label). In shadow mode only records both models scored count, in pairs."""
    if joined.empty or "output_probability" not in joined:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    served = pd.to_datetime(joined["served_at"], utc=True)
    since = pd.Timestamp(record.started_at)
    since = since.tz_localize("UTC") if since.tzinfo is None else since
    challenger_arm = SHADOW_ARM if record.mode == "shadow" else CHALLENGER_ARM
    version = joined["model_version"].astype(str)
    ours = (joined["arm"] == CHAMPION_ARM) & (version == record.champion_version)
    theirs = (joined["arm"] == challenger_arm) & (version == record.challenger_version)
    rows = joined[(served >= since) & (ours | theirs) & joined["actual"].notna()]
    if record.mode == "shadow":
        arms = rows.groupby(PAIR)["arm"].transform("nunique")
        rows = rows[arms == 2]
    out = pd.DataFrame(
        {
            EVENT_DATE: rows[EVENT_DATE].astype(str),
            "experiment": experiment_id(record),
            "arm": np.where(rows["arm"] == CHAMPION_ARM, CHAMPION_ARM, CHALLENGER_ARM),
            "model_version": rows["model_version"].astype(str),
            "actual": rows["actual"].astype(bool),
            "probability": rows["output_probability"].astype("float64"),
            "request_id": rows["request_id"],
            "record": rows["record"],
        }
    )
    return out.sort_values(["arm", *PAIR], kind="stable").reset_index(drop=True)


def judge(
    rows: pd.DataFrame, record: ExperimentRecord
) -> tuple[pd.DataFrame, ExperimentResult | None, str]:
    """Per arm (labelled records, positives) and the experiment's test on `rows`
    at its confidence and min_samples; the result is None, with the reason, when the test
    cannot run yet (an arm without two labelled records of each class)."""
    per_arm = pd.DataFrame(
        [
            {
                "arm": arm,
                "model_version": version,
                "labelled": int((rows["arm"] == arm).sum()),
                "positives": int(rows.loc[rows["arm"] == arm, "actual"].sum()),
            }
            for arm, version in (
                (CHAMPION_ARM, record.champion_version),
                (CHALLENGER_ARM, record.challenger_version),
            )
        ]
    )
    champion, challenger = (rows[rows["arm"] == arm] for arm in (CHAMPION_ARM, CHALLENGER_ARM))
    for name, part in (("champion", champion), ("challenger", challenger)):
        positives = int(part["actual"].sum())
        if positives < 2 or len(part) - positives < 2:
            return (
                per_arm,
                None,
                (
                    f"no test yet: the {name} arm has {len(part)} labelled record(s),"
                    f" {positives} positive; the test needs two of each class per arm"
                ),
            )
    settings: dict[str, Any] = {"confidence": record.confidence, "min_samples": record.min_samples}
    if record.mode == "shadow":
        paired = champion[[*PAIR, "actual", "probability"]].merge(
            challenger[[*PAIR, "probability"]], on=PAIR, suffixes=("", "_challenger")
        )
        result = shadow_test(
            paired["actual"].to_numpy(),
            paired["probability"].to_numpy(),
            paired["probability_challenger"].to_numpy(),
            **settings,
        )
    else:
        result = ab_test(
            champion["actual"].to_numpy(),
            champion["probability"].to_numpy(),
            challenger["actual"].to_numpy(),
            challenger["probability"].to_numpy(),
            **settings,
        )
    return per_arm, result, explain(result)


def explain(result: ExperimentResult) -> str:
    """One sentence for the UI, the decision log and the alert."""
    figures = (
        f"challenger AUC {result.auc_challenger:.4f} vs champion {result.auc_champion:.4f}"
        f" ({result.difference:+.4f}, {result.test}, z={result.z:.2f}, p={result.p_value:.4g},"
        f" {result.samples_champion} + {result.samples_challenger} labelled records)"
    )
    if result.verdict == "waiting":
        more = (
            "no difference observed yet"
            if result.samples_needed is None
            else f"about {result.samples_needed} more labelled record(s) per arm needed"
        )
        return f"not concluded at {result.confidence:.0%}: {figures}; {more}"
    better = "challenger" if result.verdict == "challenger_better" else "champion"
    return f"concluded at {result.confidence:.0%}: the {better} is better: {figures}"
