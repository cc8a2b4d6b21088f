"""Backends of the alerts resource: one small `Channel` interface, one class per backend.

A channel reads its secrets (URLs, recipients, credentials) from the environment when it
delivers, never at import. Errors never include a webhook URL: its path is the secret.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from ml_assets.lib.config.alerts import (
    ChannelConfig,
    LogChannelConfig,
    SlackChannelConfig,
    SmtpChannelConfig,
    WebhookChannelConfig,
)
from resources.alert_types import Alert

logger = logging.getLogger("mlap.alerts")
_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_SLACK_TEXT_LIMIT = 2900  # Slack rejects section text over 3000 characters


class ChannelError(RuntimeError):
    """A delivery that failed; the message is safe to show (no secrets)."""


@dataclass(frozen=True)
class OutgoingAlert:
    """An alert as it leaves: with its send time, repeat count and escalation level."""

    alert: Alert
    sent_at: datetime
    repeat: int
    escalation_level: int

    def payload(self) -> dict[str, Any]:
        a = self.alert
        return {
            "key": a.key,
            "severity": a.severity,
            "title": a.title,
            "body": a.body,
            "pipeline": a.pipeline,
            "details": a.details,
            "link": a.link,
            "sent_at": self.sent_at.isoformat(),
            "repeat": self.repeat,
            "escalation_level": self.escalation_level,
        }


class Channel(ABC):
    """Where alerts go. `missing_setting` says why it cannot deliver here (None = ready)."""

    def __init__(self, name: str):
        self.name = name

    def missing_setting(self) -> str | None:
        return None

    @abstractmethod
    def deliver(self, outgoing: OutgoingAlert) -> None:
        """Send one alert; raise `ChannelError` (or any error) when it did not arrive."""


def _env(name: str) -> str | None:
    """The value of the variable a channel's config names (`url_env`, `password_env`...).

    Not `dagster.EnvVar`: the names live in configs/alerts.yaml, one set per channel, not
    in resource fields Dagster resolves at launch; read at send time, a rotated secret
    takes effect without reloading the code location. Values never enter the config,
    the logs or the UI."""
    return os.environ.get(name) or None


def _one_line(text: str) -> str:
    return " ".join(text.split())


class LogChannel(Channel):
    def deliver(self, outgoing: OutgoingAlert) -> None:
        a = outgoing.alert
        logger.log(
            _LOG_LEVELS[a.severity],
            "[%s] %s (key=%s, pipeline=%s, repeat=%d, escalation=%d)\n%s",
            a.severity,
            _one_line(a.title),
            a.key,
            a.pipeline,
            outgoing.repeat,
            outgoing.escalation_level,
            a.body,
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body: that is a lost alert
    # reported as sent. Without a redirect the 3xx surfaces as an HTTPError instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class WebhookChannel(Channel):
    def __init__(self, name: str, config: WebhookChannelConfig | SlackChannelConfig):
        super().__init__(name)
        self.config = config

    def missing_setting(self) -> str | None:
        return None if _env(self.config.url_env) else f"{self.config.url_env} is unset"

    def body(self, outgoing: OutgoingAlert) -> dict[str, Any]:
        return outgoing.payload()

    def deliver(self, outgoing: OutgoingAlert) -> None:
        url = os.environ[self.config.url_env]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ChannelError(f"{self.config.url_env} must hold an http(s) URL")
        where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        data = json.dumps(self.body(outgoing), default=str).encode()
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=self.config.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"HTTP {exc.code} from {where}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChannelError(f"cannot reach {where}: {reason}") from None
        if not 200 <= status < 300:
            raise ChannelError(f"HTTP {status} from {where}")


class SlackChannel(WebhookChannel):
    def body(self, outgoing: OutgoingAlert) -> dict[str, Any]:
        a = outgoing.alert
        title = _one_line(a.title)
        text = f"*{_escape(title)}*\n{_escape(a.body)}"
        if a.link:
            text += f"\n<{a.link}|Open in Dagster>"
        context = f"pipeline: {a.pipeline or '-'} | key: {a.key} | repeat: {outgoing.repeat}"
        if outgoing.escalation_level:
            context += f" | escalation: {outgoing.escalation_level}"
        return {
            "text": f"[{a.severity.upper()}] {title}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SLACK_TEXT_LIMIT]}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(context)}]},
            ],
        }


def _escape(text: str) -> str:
    """Slack mrkdwn's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SmtpChannel(Channel):
    def __init__(self, name: str, config: SmtpChannelConfig):
        super().__init__(name)
        self.config = config

    def missing_setting(self) -> str | None:
        c = self.config
        if not self.recipients():
            return f"{c.recipients_env} is unset"
        user_env, password_env = c.username_env, c.password_env
        if user_env and password_env and _env(user_env) and not _env(password_env):
            return f"{password_env} is unset (while {user_env} is set)"
        return None

    def recipients(self) -> list[str]:
        value = _env(self.config.recipients_env) or ""
        return [address.strip() for address in value.split(",") if address.strip()]

    def deliver(self, outgoing: OutgoingAlert) -> None:
        c, a = self.config, outgoing.alert
        message = EmailMessage()
        message["Subject"] = f"[mlap {a.severity}] {_one_line(a.title)}"
        message["From"] = c.sender
        message["To"] = ", ".join(self.recipients())
        lines = [a.body, "", f"pipeline: {a.pipeline or '-'}", f"key: {a.key}"]
        lines += [f"repeat: {outgoing.repeat}", f"escalation: {outgoing.escalation_level}"]
        lines += [f"sent at: {outgoing.sent_at.isoformat()}"]
        if a.link:
            lines.append(f"link: {a.link}")
        if a.details:
            lines += ["", json.dumps(a.details, indent=2, default=str)]
        message.set_content("\n".join(lines))
        user = _env(c.username_env) if c.username_env else None
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds) as server:
                if c.starttls:
                    server.starttls(context=ssl.create_default_context())
                if user and c.password_env:
                    server.login(user, os.environ[c.password_env])
                server.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP {c.host}:{c.port}: {type(exc).__name__}: {exc}") from None


def build_channel(name: str, config: ChannelConfig) -> Channel:
    match config:
        case LogChannelConfig():
            return LogChannel(name)
        case SlackChannelConfig():
            return SlackChannel(name, config)
        case WebhookChannelConfig():
            return WebhookChannel(name, config)
        case SmtpChannelConfig():
            return SmtpChannel(name, config)
    raise TypeError(f"no channel backend for {type(config).__name__}")
