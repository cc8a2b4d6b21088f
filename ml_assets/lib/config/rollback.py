"""Config of the automatic rollback of a served champion (`serving.rollback`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import StrictModel


class RollbackConfig(StrictModel):
    """When the live service's own evidence says the champion is bad, move `champion` back
    to `previous_champion` (the path of `mlap rollback`, recorded and alerted). Every
    trigger is judged over the latest `window_days` days of the inference log on the
    champion's own traffic; a trigger left unset is not judged."""

    enabled: bool = Field(False, description="Whether the rollback sensor may roll back.")
    max_p99_ms: float | None = Field(
        None,
        gt=0,
        description="Rollback when the 99th percentile of the champion's request latency "
        "(as logged by the service) exceeds this many milliseconds.",
    )
    max_drift_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Rollback when the share of drifted features of a day of the window "
        "judged against the champion exceeds this: the champion arm's in `served_drift` "
        "(the traffic the service answered), else the day's `drift_report`.",
    )
    max_metric_drop: float | None = Field(
        None,
        gt=0,
        description="Rollback when the champion's live metric on labelled served traffic "
        "(`served_performance`, labelled records of the window pooled by weight) falls "
        "below its test-window score by more than this.",
    )
    max_error_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Rollback when the share of the champion's requests in the window that "
        "the service failed to score (answered 5xx, recorded beside the inference log) "
        "exceeds this.",
    )
    min_requests: int = Field(
        200,
        ge=1,
        description="Requests the champion must have answered or failed in the window "
        "before the latency and error-rate triggers are judged (and labelled records "
        "before the metric trigger).",
    )
    window_days: int = Field(
        1, ge=1, le=31, description="Latest days of the inference log the triggers judge."
    )

    @model_validator(mode="after")
    def _some_trigger(self) -> RollbackConfig:
        limits = (self.max_p99_ms, self.max_drift_share, self.max_metric_drop, self.max_error_rate)
        if self.enabled and not any(limits):
            raise ValueError(
                "rollback is enabled but sets no trigger: give max_p99_ms, max_drift_share,"
                " max_metric_drop or max_error_rate"
            )
        return self
