"""Config of monitoring and automation: drift, live performance, retraining, arrival."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel

# Evidently stat tests offered in configs. Distances drift when the score reaches the
# threshold; p-value tests drift when the p-value falls below it.
DistanceMethod = Literal["wasserstein", "psi", "jensenshannon", "kl_div", "hellinger"]
PValueMethod = Literal["ks", "chisquare", "z"]
DriftMethod = DistanceMethod | PValueMethod
Trigger = Literal["drift", "decay"]
# What a text pipeline's drift judges (ml_assets.lib.text.monitoring): the signals with a
# stat test, which `drift.columns` and `drift.ignore_columns` may name, and the embeddings.
TEXT_COLUMN_SIGNALS = ("text_length", "unknown_word_share", "predicted_label")
TEXT_SIGNALS = ("embeddings", *TEXT_COLUMN_SIGNALS)
DISTANCE_METHODS: frozenset[str] = frozenset(
    {"wasserstein", "psi", "jensenshannon", "kl_div", "hellinger"}
)


class StatTest(StrictModel):
    """One Evidently stat test and the score at which a column counts as drifted.

    Without a threshold, each column's threshold is calibrated from the model's own
    training window when its reference profile is built (see `CalibrationConfig`).
    """

    method: DriftMethod = Field(
        description="A distance (wasserstein, psi, jensenshannon, kl_div, hellinger) or a "
        "p-value test (ks, chisquare, z)."
    )
    threshold: float | None = Field(
        None,
        gt=0,
        description="Distance at or above / p-value below: drift. Unset: calibrated.",
    )


class CalibrationConfig(StrictModel):
    """How thresholds left unset are calibrated: `resamples` days drawn from the training
    window (each cut to the window's median rows per day) are scored against the
    reference, and the `quantile` of those scores is a column's threshold. The same drawn
    days, judged with those thresholds, give the drifted shares a training day reaches:
    their `quantile` is the error share and their `warn_quantile` the warning share."""

    quantile: float = Field(
        0.99,
        ge=0.5,
        lt=1,
        description="Share of training-window days that must stay under the threshold.",
    )
    warn_quantile: float = Field(
        0.95,
        ge=0.5,
        lt=1,
        description="Quantile of the training days' drifted share that warns, when "
        "`share_warn` is unset (`quantile` sets the error share).",
    )
    resamples: int = Field(200, ge=20, le=5000, description="Days drawn from the window.")
    min_days: int = Field(
        7, ge=2, description="Fewer usable days in the training window: not calibrated."
    )

    @model_validator(mode="after")
    def _warn_below_error(self) -> CalibrationConfig:
        if self.warn_quantile > self.quantile:
            raise ValueError(f"warn_quantile {self.warn_quantile} exceeds quantile {self.quantile}")
        return self


class DriftConfig(StrictModel):
    """Each day's features and predictions against the champion's reference sample."""

    numerical: StatTest = Field(
        StatTest(method="wasserstein"), description="Test of numerical features."
    )
    categorical: StatTest = Field(
        StatTest(method="jensenshannon"), description="Test of categorical features."
    )
    columns: dict[str, StatTest] = Field(
        default_factory=dict,
        description="Per-feature overrides of the test and threshold (unset: calibrated).",
    )
    prediction: StatTest = Field(
        StatTest(method="wasserstein"), description="Test of the predicted probabilities."
    )
    calibration: CalibrationConfig = Field(
        CalibrationConfig(), description="How unset thresholds are calibrated."
    )
    ignore_columns: list[str] = Field(
        default_factory=list,
        description="Features left out of drift (calendar features drift by construction).",
    )
    share_warn: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Drifted share that warns (unset: calibrated, see `calibration`; 0.3 "
        "when the reference has no calibration).",
    )
    share_error: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Drifted share that is an error (unset: calibrated, see `calibration`; "
        "0.5 when the reference has no calibration).",
    )
    min_rows: int = Field(30, ge=1, description="Fewer rows in a day: no drift verdict.")
    save_html: bool = Field(True, description="Keep the Evidently HTML report in the lake.")

    @model_validator(mode="after")
    def _warn_below_error(self) -> DriftConfig:
        if (
            self.share_warn is not None
            and self.share_error is not None
            and self.share_warn > self.share_error
        ):
            raise ValueError(f"share_warn {self.share_warn} exceeds share_error {self.share_error}")
        return self


LiveMetric = Literal[
    "roc_auc", "pr_auc", "roc_auc_ovr", "accuracy", "macro_f1", "rmse", "mae", "r2"
]
# The live metrics each problem type computes.
LIVE_METRICS = {
    "binary_classification": ("roc_auc", "pr_auc"),
    "multiclass_classification": ("roc_auc_ovr", "accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}


class PerformanceConfig(StrictModel):
    """The champion's score on each day's labelled predictions, against its test score."""

    metric: LiveMetric | None = Field(
        None,
        description="Score compared; unset: the problem type's primary metric (ROC AUC, "
        "one-vs-rest ROC AUC, RMSE). Binary: roc_auc or pr_auc; multiclass: roc_auc_ovr, "
        "accuracy or macro_f1; regression: rmse, mae or r2.",
    )
    drop_warn: float = Field(
        0.03,
        ge=0,
        description="How much worse than the test score warns (in the metric's units: for "
        "RMSE and MAE an increase in the target's units).",
    )
    drop_error: float = Field(0.06, ge=0, description="How much worse is an error.")
    min_rows: int = Field(100, ge=1, description="Fewer labelled rows: no verdict.")

    @model_validator(mode="after")
    def _warn_below_error(self) -> PerformanceConfig:
        if self.drop_warn > self.drop_error:
            raise ValueError(f"drop_warn {self.drop_warn} is above drop_error {self.drop_error}")
        return self


class RetrainConfig(StrictModel):
    """When the retrain sensor asks for a training: on N of the latest M days an error, and
    not within the cool-down after the last training."""

    enabled: bool = Field(True, description="Whether the retrain sensor asks for trainings.")
    triggers: list[Trigger] = Field(
        default_factory=lambda: list[Trigger](["drift", "decay"]),
        min_length=1,
        description="Which error-severity results count towards a retraining.",
    )
    window_days: int = Field(7, ge=1, description="M: the latest days looked at.")
    min_days: int = Field(3, ge=1, description="N: days in the window over threshold.")
    cooldown_days: int = Field(
        7, ge=0, description="Days of data after the last training's as-of day before another."
    )

    @model_validator(mode="after")
    def _n_of_m(self) -> RetrainConfig:
        if self.min_days > self.window_days:
            raise ValueError(f"min_days {self.min_days} exceeds window_days {self.window_days}")
        return self


class MonitoringConfig(StrictModel):
    """Drift, live performance and retraining of the champion."""

    reference_rows: int = Field(
        5000, ge=100, description="Rows of the champion's training window kept as reference."
    )
    drift: DriftConfig = DriftConfig()
    performance: PerformanceConfig = PerformanceConfig()
    retrain: RetrainConfig = RetrainConfig()
    arrival_interval_seconds: int = Field(
        30, ge=1, description="How often the arrival sensor looks at the landing zone."
    )
