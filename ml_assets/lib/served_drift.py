"""The rows of served traffic as a drift report compares them: the features of the
records the service answered, computed from their logged inputs by the answering model's
own scorer, with the prediction it returned.

The log keeps each record's validated inputs (typed as training types them) and the
outputs the client received; features are not logged (they would double the log's size
and its write cost on the response path), so they are computed again here, by the same
code the service ran (`Scorer.features`: the bundle's reference tables, the same ops).
"""

from __future__ import annotations

import pandas as pd

from .inference_log import INPUT, outputs_of
from .scoring import Scorer, serving_columns


def logged_events(log: pd.DataFrame, scorer: Scorer) -> pd.DataFrame:
    """The logged records' inputs under their request field names, in the log's order."""
    fields = serving_columns(scorer.config)
    missing = [name for name in fields if f"{INPUT}{name}" not in log.columns]
    if missing:
        raise ValueError(
            f"the inference log has no input column for field(s) {', '.join(missing)} of "
            f"model {scorer.model_version}: it was written for another schema"
        )
    return pd.DataFrame(
        {name: log[f"{INPUT}{name}"].to_numpy() for name in fields},
        index=pd.RangeIndex(len(log)),
    ).astype({name: log[f"{INPUT}{name}"].dtype for name in fields})


def served_rows(log: pd.DataFrame, scorer: Scorer, prediction: str) -> pd.DataFrame:
    """One row per logged record: its features as `scorer`'s model saw them and the
    `prediction` column (the problem type's drift column) it answered."""
    current = scorer.features(logged_events(log, scorer)).reset_index(drop=True)
    outputs = outputs_of(log)
    if prediction not in outputs.columns:
        raise ValueError(f"the inference log has no output {prediction!r} to judge drift on")
    current[prediction] = outputs[prediction].to_numpy()
    return current
