"""The text service's inference log: one row per scored text, in the tabular log's layout
and files (`ml_assets.lib.inference_log`: the same meta columns, the same daily folders
under `<lake>/<pipeline>/inference_log_files/`, written by the same buffer).

Besides the meta columns (`request_id`, `record`, `served_at`, `pipeline`,
`model_version`, `model_tag`, `arm`, `route`, `latency_ms` of the whole request,
`event_date`), a row holds `input_text`, `output_label`, `output_probability` (the
score: an LLM champion's is 1.0 for the label it named), `output_nearest_examples` (the
ids, most similar first) and `output_prompt_examples` (the ids an LLM champion's prompt
showed; empty for other models). A request carries no event time, so the day is the day
it was served, in the pipeline's zone. A request the champion could not answer (its LLM
endpoint failed: 502, 503) goes to the errors files beside the log
(`ml_assets.lib.inference_errors`) with `text_request_rows`' meta columns and day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.config.models import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.inference_log import INPUT, OUTPUT, ScoredBatch, event_days, meta_columns


def text_log_frame(batches: Sequence[ScoredBatch], config: PipelineConfig) -> pd.DataFrame:
    """The log's rows for `batches`, whose records are the texts and whose outputs are the
    answers (response models or mappings), one per text."""
    answers = [_mapping(a) for b in batches for a in b.outputs]
    frame = text_request_rows(batches, config)
    if len(answers) != len(frame):
        raise ValueError(f"{len(answers)} answers for {len(frame)} texts")
    frame[f"{OUTPUT}label"] = pd.array([str(a["label"]) for a in answers], "string")
    frame[f"{OUTPUT}probability"] = np.array(
        [float(a["probability"]) for a in answers], dtype="float64"
    )
    frame[f"{OUTPUT}nearest_examples"] = [
        [str(_mapping(n)["example_id"]) for n in a.get("nearest_examples") or ()] for a in answers
    ]
    frame[f"{OUTPUT}prompt_examples"] = [
        [str(i) for i in a.get("prompt_examples") or ()] for a in answers
    ]
    return frame


def text_request_rows(batches: Sequence[ScoredBatch], config: PipelineConfig) -> pd.DataFrame:
    """The meta columns, the day and `input_text` of each text of `batches` (what a row of
    the log holds besides the answer; the errors files of failed requests take these)."""
    counts = [b.rows for b in batches]
    texts = [str(t) for b in batches for t in (b.records or ())]
    if len(texts) != sum(counts):
        raise ValueError(f"{len(texts)} texts for {sum(counts)} rows")
    frame = meta_columns(batches, config)
    frame[EVENT_DATE] = event_days(pd.DataFrame(index=frame.index), frame["served_at"], config)
    frame[f"{INPUT}text"] = pd.array(texts, "string")
    return frame


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else vars(value)
