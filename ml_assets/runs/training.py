"""Run a pipeline's training job and summarise it: candidates, test metrics, decision."""

import time
from dataclasses import dataclass, field

import pandas as pd
from dagster import DagsterInstance, Definitions

from ml_assets.dagster_private import execute_uncaptured
from ml_assets.keys import train_job_name
from ml_assets.runs.results import failure_message

# Test metrics the summary shows, of whichever problem type the evaluation has.
SHOWN_TEST_METRICS = (
    *("roc_auc", "pr_auc", "log_loss", "brier", "f1", "accuracy"),
    *("roc_auc_ovr", "macro_f1"),
    *("rmse", "mae", "r2"),
)


@dataclass
class TrainingSummary:
    pipeline: str
    run_id: str
    success: bool
    seconds: float
    metadata: dict[str, dict[str, object]] = field(default_factory=dict)
    evaluation: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    error: str | None = None

    def render(self) -> str:
        status = "succeeded" if self.success else "FAILED"
        lines = [f"{self.pipeline} training {status} in {self.seconds:.0f} s (run {self.run_id})"]
        if self.candidates is not None:
            lines.append("candidates (ranked on validation; test shown, never ranked by):")
            scores = [
                c
                for c in self.candidates
                if str(c).startswith(("validation_", "test_")) or c in ("folds", "timed_out")
            ]
            # A text pipeline's table names each model in `model`, its test metrics bare.
            columns = ["family", "model", *scores, "trials", "trials_pruned", "tuning_seconds"]
            columns += SHOWN_TEST_METRICS
            shown = self.candidates[[c for c in dict.fromkeys(columns) if c in self.candidates]]
            lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if self.evaluation is not None:
            lines.append("test window:")
            metrics = [c for c in SHOWN_TEST_METRICS if c in self.evaluation.columns]
            lines.append(
                self.evaluation[["model", *metrics]].to_string(
                    index=False, float_format=lambda v: f"{v:.4f}"
                )
            )
        decision = self.metadata.get("champion_model") or self.metadata.get("text_champion", {})
        if decision:
            lines.append(f"decision: {decision.get('action')}: {decision.get('reason')}")
            lines.append(f"champion: version {decision.get('champion_version')}")
        bento = self.metadata.get("champion_bento") or self.metadata.get("text_bento", {})
        if bento:
            verb = "built" if bento.get("rebuilt") or bento.get("built") else "kept"
            lines.append(
                f"bento: {verb} {bento.get('bento_tag')} (serve it: mlap serve {self.pipeline})"
            )
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def run_training(
    defs: Definitions, pipeline: str, instance: DagsterInstance, log_level: str = "INFO"
) -> TrainingSummary:
    from resources.lake import LakeResource

    job = defs.resolve_job_def(train_job_name(pipeline))
    begun = time.perf_counter()
    result = execute_uncaptured(
        job,
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
    summary = TrainingSummary(pipeline, result.run_id, result.success, time.perf_counter() - begun)
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = materialization.asset_key.path[-1]
        summary.metadata[name] = {k: v.value for k, v in materialization.metadata.items()}
    lake = (defs.resources or {})["lake"]
    assert isinstance(lake, LakeResource)
    if "evaluation" in summary.metadata:
        summary.evaluation = lake.read([pipeline, "evaluation"])
    if "candidates" in summary.metadata:
        refs = (defs.resources or {})["refs_io_manager"]
        summary.candidates = pd.DataFrame(refs.read([pipeline, "candidates"]).rows())
    elif "text_candidates" in summary.metadata:
        summary.candidates = lake.read([pipeline, "text_candidates"])
    if not result.success:
        summary.error = failure_message(result)
    return summary
