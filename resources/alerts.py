"""Alerts: routing by severity, de-duplication and escalation, over pluggable channels.

The rule, per alert key (state in a SQLite table, so it holds across processes):

- The first firing of a key, or the first once `dedup_window_minutes` have passed since
  its window started, is delivered to the route's `channels` and opens a new window with
  repeat = 1 and escalation level 0.
- Every later firing inside the window increments the repeat counter and is suppressed
  (nothing sent), except when repeat = escalate_after * k (k = 1, 2, ...) and the route's
  `escalate_to` ladder has a k-th entry: then it goes to the route's channels plus
  `escalate_to[0..k-1]` at escalation level k. An alert that keeps firing thus reaches one
  more channel every `escalate_after` repeats; past the end of the ladder it stays quiet
  until its window ends.

The firing is recorded (in one `BEGIN IMMEDIATE` transaction) before any channel is
called, so two processes firing the same key at once never both deliver it, and a slow
channel never holds the database lock.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from ml_assets.lib.config.alerts import AlertsConfig, Severity, load_alerts_config
from resources.alert_channels import Channel, ChannelError, OutgoingAlert, build_channel
from resources.alert_types import Alert, Delivery

__all__ = ["Alert", "AlertsResource", "Delivery", "Severity"]

logger = logging.getLogger("mlap.alerts")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    key TEXT PRIMARY KEY,
    window_started_at TEXT NOT NULL,
    last_sent_at TEXT NOT NULL,
    repeats INTEGER NOT NULL,
    level INTEGER NOT NULL
)"""
_UPSERT = """
INSERT INTO alert_state (key, window_started_at, last_sent_at, repeats, level)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET window_started_at = excluded.window_started_at,
    last_sent_at = excluded.last_sent_at, repeats = excluded.repeats, level = excluded.level"""
_BUSY_TIMEOUT_SECONDS = 30


class AlertsResource(ConfigurableResource):
    """Sends alerts to log, webhook, Slack-compatible webhook and SMTP channels, routed by
    severity as `configs/alerts.yaml` says. The same key is delivered once per
    de-duplication window; a key that keeps firing escalates to one more channel every
    `escalate_after` repeats. Secrets come from environment variables read at send time;
    a channel whose variable is unset is skipped and reported, and a failing channel never
    stops the others."""

    config_path: str = Field(description="Alerts YAML: channels, routes, window, escalation.")
    state_path: str = Field(
        description="SQLite file of the de-duplication and escalation state (created on demand)."
    )

    def load_config(self) -> AlertsConfig:
        return load_alerts_config(self.config_path)

    def channels(self) -> dict[str, Channel]:
        """The configured channels by name (whether their secrets are set or not)."""
        config = self.load_config()
        return {name: build_channel(name, c) for name, c in config.channels.items()}

    def send(self, alert: Alert, now: datetime | None = None) -> Delivery:
        """Deliver `alert` unless it is a duplicate; never raises for a channel's failure."""
        now = datetime.now(UTC) if now is None else now
        if now.tzinfo is None:
            raise ValueError("`now` must be timezone-aware")
        config = self.load_config()
        route = config.routes.for_severity(alert.severity)
        repeat, level = self._record_firing(
            alert.key, now, config.dedup_window_minutes, config.escalate_after, route.escalate_to
        )
        if level is None:
            logger.debug("alert %s suppressed (repeat %d in its window)", alert.key, repeat)
            return Delivery(alert.key, [], True, repeat, 0, {})
        channels = {name: build_channel(name, c) for name, c in config.channels.items()}
        outgoing = OutgoingAlert(alert, now, repeat, level)
        sent_to: list[str] = []
        failures: dict[str, str] = {}
        unconfigured: list[str] = []
        for name in [*route.channels, *route.escalate_to[:level]]:
            channel = channels[name]
            missing = channel.missing_setting()
            if missing:
                failures[name] = f"not configured: {missing}"
                unconfigured.append(f"{name} ({missing})")
                continue
            try:
                channel.deliver(outgoing)
            except Exception as exc:
                failures[name] = str(exc) if isinstance(exc, ChannelError) else repr(exc)
                logger.warning("alert %s not delivered to %s: %s", alert.key, name, exc)
            else:
                sent_to.append(name)
        if unconfigured:  # one line per alert, not one per channel
            logger.warning("alert channels not configured: %s", "; ".join(unconfigured))
        return Delivery(alert.key, sent_to, False, repeat, level, failures)

    def _record_firing(
        self, key: str, now: datetime, window_minutes: float, every: int, ladder: list[str]
    ) -> tuple[int, int | None]:
        """(repeat, escalation level to deliver at, or None when suppressed), recorded."""
        path = Path(self.state_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_SECONDS * 1000}")
            db.execute(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT window_started_at, last_sent_at, repeats, level FROM alert_state"
                " WHERE key = ?",
                (key,),
            ).fetchone()
            started = datetime.fromisoformat(row[0]) if row else None
            level: int | None
            if started is None or now - started >= timedelta(minutes=window_minutes):
                started, last_sent, repeat, level, reached = now, now, 1, 0, 0
            else:
                repeat = row[2] + 1
                step, rest = divmod(repeat, every)
                escalates = rest == 0 and step <= len(ladder)
                level = step if escalates else None
                last_sent = now if escalates else datetime.fromisoformat(row[1])
                reached = max(row[3], step if escalates else 0)
            db.execute(_UPSERT, (key, started.isoformat(), last_sent.isoformat(), repeat, reached))
            db.execute("COMMIT")
            return repeat, level
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()
