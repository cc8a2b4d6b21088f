"""Config of the alerts resource: channels, routing by severity, de-duplication, escalation.

Only the *names* of environment variables that hold secrets and URLs live here (`*_env`
keys); their values are read when an alert is sent, so a config can be loaded and checked
on a machine that has none of the secrets. `${VAR:-default}` substitution works as in the
pipeline configs, for values that are not secret (an SMTP host or port).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from .base import Name, StrictModel
from .loader import ConfigError, describe_validation_error, read_yaml_mapping, substitute_env

EnvName = Annotated[
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable name")
]
Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


class LogChannelConfig(StrictModel):
    """Python logging, logger `mlap.alerts`, level by severity."""

    kind: Literal["log"]


class WebhookChannelConfig(StrictModel):
    """Generic JSON POST of the alert."""

    kind: Literal["webhook"]
    url_env: EnvName = Field(description="Variable holding the URL (it may embed a token).")
    timeout_seconds: float = Field(10, gt=0, description="Connect and read timeout.")


class SlackChannelConfig(StrictModel):
    """Slack-compatible incoming webhook (`{"text": ..., "blocks": [...]}`)."""

    kind: Literal["slack"]
    url_env: EnvName = Field(description="Variable holding the incoming-webhook URL.")
    timeout_seconds: float = Field(10, gt=0, description="Connect and read timeout.")


class SmtpChannelConfig(StrictModel):
    """Plain-text email through an SMTP server."""

    kind: Literal["smtp"]
    host: str = Field(min_length=1, description="SMTP server host name or address.")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    sender: str = Field(min_length=1, description="From: address.")
    recipients_env: EnvName = Field(description="Variable holding comma-separated To: addresses.")
    username_env: EnvName | None = Field(None, description="Variable holding the SMTP user.")
    password_env: EnvName | None = Field(None, description="Variable holding the password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS first.")
    timeout_seconds: float = Field(10, gt=0, description="Connect and send timeout.")

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> SmtpChannelConfig:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("username_env and password_env go together: set both or neither")
        return self


ChannelConfig = Annotated[
    LogChannelConfig | WebhookChannelConfig | SlackChannelConfig | SmtpChannelConfig,
    Field(discriminator="kind"),
]


class RouteConfig(StrictModel):
    """Where alerts of one severity go, and where their repeats escalate."""

    channels: list[Name] = Field(
        min_length=1, description="Channels that get every delivered alert of this severity."
    )
    escalate_to: list[Name] = Field(
        default_factory=list,
        description="Escalation ladder: step k adds the first k of these channels.",
    )


class RoutesConfig(StrictModel):
    """One route per severity."""

    info: RouteConfig = Field(description="Route of info alerts.")
    warning: RouteConfig = Field(description="Route of warnings.")
    error: RouteConfig = Field(description="Route of errors.")

    def for_severity(self, severity: Severity) -> RouteConfig:
        route: RouteConfig = getattr(self, severity)
        return route


class AlertsConfig(StrictModel):
    """The alerts file: channels, and the routes alerts take to them."""

    dedup_window_minutes: float = Field(
        60, gt=0, description="The same alert key within this window is delivered once."
    )
    # 1 would make the first repeat escalate straight to level 2 (repeat 2 = 1 * 2).
    escalate_after: int = Field(
        3, ge=2, description="Every N-th repeat of a key in its window escalates one step."
    )
    channels: dict[Name, ChannelConfig] = Field(
        min_length=1, description="Channels by name; `kind` picks the channel type."
    )
    routes: RoutesConfig = Field(description="Which channels get alerts of each severity.")


def load_alerts_config(path: str | Path, env: Mapping[str, str] | None = None) -> AlertsConfig:
    """Read, substitute and validate an alerts config; problems raise `ConfigError`."""
    path = Path(path).resolve()
    try:
        raw = substitute_env(read_yaml_mapping(path), os.environ if env is None else env, path)
    except ConfigError as exc:  # raised by the shared helpers as a "pipeline" config
        raise ConfigError(exc.path, exc.problems, what="alerts") from None
    try:
        config = AlertsConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [describe_validation_error(err, raw) for err in exc.errors()]
        raise ConfigError(path, problems, what="alerts") from None
    problems = list(_route_problems(config))
    if problems:
        raise ConfigError(path, problems, what="alerts")
    return config


def _route_problems(config: AlertsConfig) -> Iterator[tuple[str, str]]:
    known = ", ".join(sorted(config.channels))
    for severity in SEVERITIES:
        route = config.routes.for_severity(severity)
        for field in ("channels", "escalate_to"):
            names: list[str] = getattr(route, field)
            for i, name in enumerate(names):
                where = f"routes.{severity}.{field}.{i}"
                if name not in config.channels:
                    yield where, f"unknown channel {name!r}; known: {known}"
                elif name in names[:i]:
                    yield where, f"channel {name!r} is listed twice"
        for i, name in enumerate(route.escalate_to):
            if name in route.channels:
                yield (
                    f"routes.{severity}.escalate_to.{i}",
                    f"channel {name!r} already gets every {severity} alert; "
                    "escalating to it adds nothing",
                )
