"""A Markdown model card for each new champion."""

import pandas as pd

from .config.models import PipelineConfig
from .refs import Decision, ModelRef

# The test metrics a card shows, of whichever problem type the evaluation has.
HEADLINE = (
    *("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "precision", "recall", "f1"),
    *("roc_auc_ovr", "macro_f1", "weighted_f1"),
    *("rmse", "mae", "r2", "mape"),
)


def render_model_card(
    config: PipelineConfig,
    training_set: pd.DataFrame,
    challenger: ModelRef,
    evaluation: pd.DataFrame,
    record: Decision,
) -> str:
    """Intended use, data windows, metrics, how it was chosen, and limitations."""
    window_lines = _window_lines(training_set, config)
    shown = evaluation.set_index("model")[[c for c in HEADLINE if c in evaluation.columns]]
    target = config.target
    forbidden = ", ".join(config.features.forbidden_columns) or "none declared"
    return f"""# Model card: {config.name} v{record.champion_version_after}

**Intended use.** {config.description.strip()} It scores one event at a time from what is
known before the event. It predicts `{target.name}` ({target.definition}, a
{target.problem_type.replace("_", " ")} problem){_served_with(challenger)}.

**Model.** {challenger.family}, tuned by Optuna; parameters: `{challenger.params}`.
MLflow run `{challenger.mlflow_run_id}`; artifact manifest sha256
`{challenger.manifest_sha256}`.

## Data windows

{window_lines}

## Test-window metrics

{shown.to_markdown(floatfmt=".4f")}

## Decision

{record.action} at {record.decided_at}: {record.reason}

## Limitations

- Trained on {len(config.features.definitions)} features of one window of days; behaviour
  outside the seasons it saw is measured only by the monitoring, not guaranteed.
- Excluded as leakage (known only after the event): {forbidden}.
- Rows without a label were not used for training or testing.
- Categories not seen in training are treated as missing.
"""


def _served_with(model: ModelRef) -> str:
    if model.threshold is not None and model.metric == "roc_auc":
        return (
            f" as a probability; the label threshold is {model.threshold:.4f} "
            f"({model.threshold_reason})"
        )
    if model.interval_halfwidth is not None:
        return f" with a {model.interval_level:.0%} prediction interval ({model.threshold_reason})"
    return ""


def _window_lines(training_set: pd.DataFrame, config: PipelineConfig) -> str:
    """The windows as a table: their days, or for a static table how its rows were split."""
    order = ["train", "validation", "test"]
    if "event_date" not in training_set.columns:
        sizes = training_set["window"].value_counts().reindex(order, fill_value=0)
        table = config.table
        how = (
            f"by column `{table.split_column}`"
            if table and table.split_column
            else "seeded, stratified by class"
            if config.target.problem_type != "regression"
            else "seeded"
        )
        rows = "\n".join(f"| {name} | {size:,} |" for name, size in sizes.items())
        header = "| window | labelled rows |\n| --- | --- |"
        return f"Rows of the table, split once ({how}).\n\n{header}\n{rows}"
    windows = training_set.groupby("window")["event_date"].agg(["min", "max", "size"])
    rows = "\n".join(
        f"| {name} | {row['min']} | {row['max']} | {row['size']:,} |"
        for name, row in windows.reindex(order).iterrows()
    )
    header = "| window | first day | last day | labelled rows |\n| --- | --- | --- | --- |"
    return f"{header}\n{rows}"
