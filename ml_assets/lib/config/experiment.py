"""Config of a live experiment between the champion and a challenger (`serving.experiment`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel

ExperimentMode = Literal["off", "shadow", "ab"]


class ExperimentConfig(StrictModel):
    """How the service runs the champion against a challenger. `shadow`: every request is
    also scored by the challenger after the champion has answered; its output goes to the
    inference log (arm `shadow`), never to the caller. `ab`: a share of the traffic is
    answered by the challenger, chosen by a stable hash of the entity key (the same entity
    always gets the same arm); every answer says which arm and model version answered."""

    mode: ExperimentMode = Field(
        "off",
        description="off: the champion alone; shadow: the challenger scores every request "
        "off the response path; ab: a share of the traffic is answered by the challenger.",
    )
    challenger_version: str | None = Field(
        None,
        min_length=1,
        description="Registered version the experiment runs against the champion. Unset: "
        "the registry's `challenger` alias when the experiment starts.",
    )
    share: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="In `ab` mode, the share of entities answered by the challenger.",
    )
    entity_key: list[str] | None = Field(
        None,
        min_length=1,
        description="Request fields whose values pick an entity's arm in `ab` mode (a "
        "stable hash). Unset: `serving.entity_key`, else the event source's primary key "
        "when every column of it is a request field.",
    )
    min_samples: int = Field(
        1000,
        ge=1,
        description="Labelled served records each arm needs before the experiment may conclude.",
    )
    confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="Confidence the experiment's test must reach to conclude that the "
        "challenger is better (or not better) than the champion.",
    )
    shadow_queue: int = Field(
        64,
        ge=1,
        description="Requests waiting to be shadow-scored; past it a request is not "
        "shadow-scored (counted in /metrics as "
        '`mlap_shadow_requests_total{outcome="skipped"}`), so the challenger never holds '
        "up the champion's answers.",
    )

    @model_validator(mode="after")
    def _unique_key(self) -> ExperimentConfig:
        if self.entity_key is not None and len(set(self.entity_key)) != len(self.entity_key):
            raise ValueError(f"entity_key names a column twice: {self.entity_key}")
        return self
