"""When to retrain: sustained drift or decay (N of the last M days), a cooldown, new data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ml_assets.lib.config.monitoring import RetrainConfig


@dataclass(frozen=True)
class DayVerdicts:
    """What monitoring said about one day, and which champion version it judged."""

    day: str
    model_version: str
    drift: str | None = None  # "ok", "warn", "error", "no_verdict" or None (not judged)
    decay: str | None = None

    def over_threshold(self, triggers: list[str]) -> list[str]:
        found = {"drift": self.drift, "decay": self.decay}
        return [t for t in triggers if found[t] == "error"]


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    evidence: dict[str, list[str]]  # day -> triggers over threshold

    @property
    def summary(self) -> str:
        days = ", ".join(f"{d} ({'+'.join(t)})" for d, t in self.evidence.items())
        return f"{self.reason}" + (f": {days}" if days else "")


def decide(
    verdicts: list[DayVerdicts],
    champion_version: str,
    policy: RetrainConfig,
    last_training_as_of: date | None,
    training_data_unchanged: bool,
) -> RetrainDecision:
    """Retrain when at least `min_days` of the latest `window_days` days judged against the
    current champion are errors for a configured trigger, the cooldown (in days of data
    since the last training's as-of day) has passed, and the data a training would read
    differs from what the last training read."""
    judged = sorted(
        (v for v in verdicts if v.model_version == champion_version), key=lambda v: v.day
    )[-policy.window_days :]
    evidence = {v.day: hits for v in judged if (hits := v.over_threshold(list(policy.triggers)))}
    window = f"{len(evidence)} of the latest {len(judged)} days judged against v{champion_version}"
    if not policy.enabled:
        return RetrainDecision(False, "retraining is disabled in the config", evidence)
    if len(evidence) < policy.min_days:
        return RetrainDecision(
            False, f"{window} over threshold; {policy.min_days} needed", evidence
        )
    latest = date.fromisoformat(judged[-1].day)
    if last_training_as_of is not None:
        waited = (latest - last_training_as_of).days
        if waited < policy.cooldown_days:
            return RetrainDecision(
                False,
                f"cooldown: {waited} day(s) of data since the last training "
                f"(as of {last_training_as_of}); {policy.cooldown_days} needed",
                evidence,
            )
    if training_data_unchanged:
        return RetrainDecision(
            False, "the training data is unchanged since the last training", evidence
        )
    return RetrainDecision(True, f"{window} over threshold", evidence)
