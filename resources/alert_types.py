"""The plain values of alerting: what is sent (`Alert`) and what sending did (`Delivery`).

Their own module so that the alerts resource and its channel backends both import them
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_assets.lib.config.alerts import SEVERITIES, Severity


@dataclass(frozen=True)
class Alert:
    """Something people should know. `key` is its identity for de-duplication, e.g.
    "flight_delays/drift_report:drift_share"; `details` must be JSON-serialisable."""

    key: str
    severity: Severity
    title: str
    body: str
    pipeline: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    link: str | None = None

    def __post_init__(self) -> None:
        if not self.key.strip():
            raise ValueError("an alert needs a non-empty key")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")


@dataclass(frozen=True)
class Delivery:
    """What `send` did. `escalation_level` is this delivery's level (0 when suppressed);
    `failures` maps channel name to error, including channels that are not configured."""

    alert_key: str
    sent_to: list[str]
    suppressed: bool
    repeat: int
    escalation_level: int
    failures: dict[str, str]
