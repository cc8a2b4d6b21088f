"""The alerts resource against real local receivers: an HTTP server (webhook and Slack
channels) and an aiosmtpd SMTP server, both on 127.0.0.1, started and stopped per test.

Most tests use the shipped `configs/alerts.yaml`, so the file the platform runs with is
the one under test; the environment variables point its channels at the receivers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_assets.lib.config import ConfigError
from ml_assets.lib.config.alerts import load_alerts_config
from resources.alerts import Alert, AlertsResource, Delivery
from tests import receivers
from tests.processes import free_port
from tests.receivers import HttpReceiver, SmtpInbox

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "alerts.yaml"
T0 = datetime(2013, 7, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with receivers.http_receiver() as http:
        yield http


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_receiver(smtp_port: int) -> Iterator[SmtpInbox]:
    with receivers.smtp_receiver(smtp_port) as inbox:
        yield inbox


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, http_receiver: HttpReceiver, smtp_port: int
) -> pytest.MonkeyPatch:
    """Every channel of the shipped config pointed at the local receivers."""
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("MLAP_ALERT_WEBHOOK_URL", http_receiver.url("/webhook"))
    monkeypatch.setenv("MLAP_SLACK_WEBHOOK_URL", http_receiver.url("/slack"))
    monkeypatch.setenv("MLAP_ALERT_EMAILS", "ops@example.com, ml-team@example.com")
    monkeypatch.setenv("MLAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MLAP_SMTP_PORT", str(smtp_port))
    monkeypatch.delenv("MLAP_SMTP_USER", raising=False)
    monkeypatch.delenv("MLAP_SMTP_PASSWORD", raising=False)
    return monkeypatch


@pytest.fixture
def alerts(tmp_path: Path, env: pytest.MonkeyPatch) -> AlertsResource:
    return AlertsResource(config_path=str(CONFIG), state_path=str(tmp_path / "s" / "alerts.db"))


def drift_alert(severity: str = "warning", key: str = "flight_delays/drift_report:share") -> Alert:
    return Alert(
        key=key,
        severity=severity,  # type: ignore[arg-type]
        title="Drift share 0.42 over 0.30",
        body="6 of 14 columns drifted on 2013-07-01.\nTop: dep_hour, distance.",
        pipeline="flight_delays",
        details={"drift_share": 0.42, "partition": "2013-07-01"},
        link="http://127.0.0.1:3000/assets/flight_delays/drift_report",
    )


def send_at(alerts: AlertsResource, minutes: float, alert: Alert | None = None) -> Delivery:
    return alerts.send(alert or drift_alert(), now=T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("severity", "expected", "log_level"),
    [
        ("info", ["log"], logging.INFO),
        ("warning", ["log", "webhook"], logging.WARNING),
        ("error", ["log", "webhook", "slack"], logging.ERROR),
    ],
)
def test_routing_by_severity(
    alerts: AlertsResource,
    http_receiver: HttpReceiver,
    smtp_receiver: SmtpInbox,
    caplog: pytest.LogCaptureFixture,
    severity: str,
    expected: list[str],
    log_level: int,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mlap.alerts")
    delivery = alerts.send(drift_alert(severity), now=T0)

    assert delivery == Delivery(drift_alert().key, expected, False, 1, 0, {})
    assert len(http_receiver.bodies("/webhook")) == ("webhook" in expected)
    assert len(http_receiver.bodies("/slack")) == ("slack" in expected)
    assert smtp_receiver.messages == []
    logged = [r for r in caplog.records if r.name == "mlap.alerts" and "Drift share" in r.message]
    assert [r.levelno for r in logged] == [log_level]


def test_webhook_and_slack_payloads(alerts: AlertsResource, http_receiver: HttpReceiver) -> None:
    alerts.send(drift_alert("error"), now=T0)

    (path, content_type, body), _ = http_receiver.received
    assert (path, content_type) == ("/webhook", "application/json")
    assert body == {
        "key": "flight_delays/drift_report:share",
        "severity": "error",
        "title": "Drift share 0.42 over 0.30",
        "body": "6 of 14 columns drifted on 2013-07-01.\nTop: dep_hour, distance.",
        "pipeline": "flight_delays",
        "details": {"drift_share": 0.42, "partition": "2013-07-01"},
        "link": "http://127.0.0.1:3000/assets/flight_delays/drift_report",
        "sent_at": "2013-07-01T12:00:00+00:00",
        "repeat": 1,
        "escalation_level": 0,
    }
    (slack,) = http_receiver.bodies("/slack")
    assert slack["text"] == "[ERROR] Drift share 0.42 over 0.30"
    section, context = slack["blocks"]
    assert section["type"] == "section"
    assert section["text"]["text"].startswith("*Drift share 0.42 over 0.30*\n6 of 14 columns")
    assert context["type"] == "context"
    assert "flight_delays" in context["elements"][0]["text"]
    assert "flight_delays/drift_report:share" in context["elements"][0]["text"]


def test_duplicate_suppressed_within_window_then_sent_again(
    alerts: AlertsResource, http_receiver: HttpReceiver
) -> None:
    first = send_at(alerts, 0)
    second = send_at(alerts, 59)
    other_key = send_at(alerts, 59, drift_alert(key="flight_delays/live_performance:auc"))
    after_window = send_at(alerts, 60)

    assert (first.suppressed, first.repeat, first.sent_to) == (False, 1, ["log", "webhook"])
    assert (second.suppressed, second.repeat, second.sent_to) == (True, 2, [])
    assert (other_key.suppressed, other_key.repeat) == (False, 1)
    assert (after_window.suppressed, after_window.repeat) == (False, 1)
    assert [b["repeat"] for b in http_receiver.bodies("/webhook")] == [1, 1, 1]
    assert [b["sent_at"][11:16] for b in http_receiver.bodies("/webhook")] == [
        "12:00",
        "12:59",
        "13:00",
    ]


def test_escalation_reaches_slack_then_email(
    alerts: AlertsResource, http_receiver: HttpReceiver, smtp_receiver: SmtpInbox
) -> None:
    deliveries = [send_at(alerts, minute) for minute in range(10)]

    sent = {d.repeat: (d.escalation_level, d.sent_to) for d in deliveries if not d.suppressed}
    assert sent == {
        1: (0, ["log", "webhook"]),
        3: (1, ["log", "webhook", "slack"]),
        6: (2, ["log", "webhook", "slack", "email"]),
    }  # repeat 9 would be step 3: past the end of the two-step ladder
    assert [d.repeat for d in deliveries] == list(range(1, 11))
    slack_contexts = [b["blocks"][1]["elements"][0]["text"] for b in http_receiver.bodies("/slack")]
    assert [c.split(" | ")[-2:] for c in slack_contexts] == [
        ["repeat: 3", "escalation: 1"],
        ["repeat: 6", "escalation: 2"],
    ]
    assert [b["escalation_level"] for b in http_receiver.bodies("/webhook")] == [0, 1, 2]
    (recipients, message), *rest = smtp_receiver.messages
    assert rest == []
    assert recipients == ["ops@example.com", "ml-team@example.com"]
    assert message["Subject"] == "[mlap warning] Drift share 0.42 over 0.30"
    assert message["From"] == "mlap@localhost"
    text = message.get_content()
    assert "6 of 14 columns drifted" in text
    assert "repeat: 6" in text
    assert '"drift_share": 0.42' in text


def test_escalation_restarts_with_a_new_window(
    alerts: AlertsResource, smtp_receiver: SmtpInbox
) -> None:
    for minute in range(3):
        send_at(alerts, minute, drift_alert("error"))
    fresh = send_at(alerts, 61, drift_alert("error"))
    again = [send_at(alerts, 61 + m, drift_alert("error")) for m in (1, 2)]

    assert len(smtp_receiver.messages) == 2  # escalated at repeat 3 of each window
    assert (fresh.repeat, fresh.escalation_level, fresh.sent_to) == (
        1,
        0,
        ["log", "webhook", "slack"],
    )
    assert again[-1].escalation_level == 1
    assert again[-1].sent_to == ["log", "webhook", "slack", "email"]


@pytest.mark.parametrize(
    ("webhook_url", "expected"),
    [
        pytest.param("RECEIVER/fail", "HTTP 500 from 127.0.0.1:", id="http-500"),
        pytest.param("CLOSED", "cannot reach 127.0.0.1:", id="closed-port"),
    ],
)
def test_failing_channel_does_not_stop_the_others(
    alerts: AlertsResource,
    env: pytest.MonkeyPatch,
    http_receiver: HttpReceiver,
    webhook_url: str,
    expected: str,
) -> None:
    url = (
        http_receiver.url("/fail")
        if webhook_url.startswith("RECEIVER")
        else f"http://127.0.0.1:{free_port()}/hook"
    )
    env.setenv("MLAP_ALERT_WEBHOOK_URL", url)

    delivery = alerts.send(drift_alert("error"), now=T0)

    assert delivery.sent_to == ["log", "slack"]
    assert list(delivery.failures) == ["webhook"]
    assert expected in delivery.failures["webhook"]
    assert "/fail" not in delivery.failures["webhook"]  # the URL's path may be a secret
    assert len(http_receiver.bodies("/slack")) == 1


def test_failing_smtp_server_is_reported(
    tmp_path: Path, env: pytest.MonkeyPatch, http_receiver: HttpReceiver
) -> None:
    env.setenv("MLAP_SMTP_PORT", str(free_port()))  # nothing listens there
    config = yaml.safe_load(CONFIG.read_text())
    config["routes"]["info"] = {"channels": ["email", "webhook"]}
    path = write_config(tmp_path, config)
    alerts = AlertsResource(config_path=str(path), state_path=str(tmp_path / "a.db"))

    delivery = alerts.send(drift_alert("info"), now=T0)

    assert delivery.sent_to == ["webhook"]
    assert delivery.failures["email"].startswith("SMTP 127.0.0.1:")
    assert len(http_receiver.bodies("/webhook")) == 1


def test_unset_variable_means_not_configured_read_at_send_time(
    alerts: AlertsResource,
    env: pytest.MonkeyPatch,
    http_receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env.delenv("MLAP_SLACK_WEBHOOK_URL")
    caplog.set_level(logging.WARNING, logger="mlap.alerts")

    unconfigured = alerts.send(drift_alert("error", key="a"), now=T0)
    env.setenv("MLAP_SLACK_WEBHOOK_URL", http_receiver.url("/slack"))
    configured = alerts.send(drift_alert("error", key="b"), now=T0)

    assert unconfigured.sent_to == ["log", "webhook"]
    assert unconfigured.failures == {"slack": "not configured: MLAP_SLACK_WEBHOOK_URL is unset"}
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "not configured" in w] == [
        "alert channels not configured: slack (MLAP_SLACK_WEBHOOK_URL is unset)"
    ]
    assert configured.sent_to == ["log", "webhook", "slack"]
    assert configured.failures == {}
    assert [b["blocks"][1]["elements"][0]["text"] for b in http_receiver.bodies("/slack")] == [
        "pipeline: flight_delays | key: b | repeat: 1"
    ]


def test_unset_recipients_mean_email_not_configured(
    alerts: AlertsResource, env: pytest.MonkeyPatch, smtp_receiver: SmtpInbox
) -> None:
    env.setenv("MLAP_ALERT_EMAILS", " , ")
    deliveries = [send_at(alerts, m, drift_alert("error")) for m in range(3)]

    assert deliveries[-1].escalation_level == 1
    assert deliveries[-1].failures == {"email": "not configured: MLAP_ALERT_EMAILS is unset"}
    assert smtp_receiver.messages == []


def test_state_persists_across_instances(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    state = tmp_path / "deep" / "er" / "alerts.db"
    first = AlertsResource(config_path=str(CONFIG), state_path=str(state))
    second = AlertsResource(config_path=str(CONFIG), state_path=str(state))

    a = send_at(first, 0)
    b = send_at(second, 1)
    c = send_at(first, 2)

    assert state.is_file()
    assert [(d.suppressed, d.repeat, d.escalation_level) for d in (a, b, c)] == [
        (False, 1, 0),
        (True, 2, 0),
        (False, 3, 1),
    ]


def test_concurrent_senders_deliver_once(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    state = str(tmp_path / "alerts.db")
    results: list[Delivery] = []
    barrier = threading.Barrier(8)

    def fire() -> None:
        resource = AlertsResource(config_path=str(CONFIG), state_path=state)
        barrier.wait()
        results.append(resource.send(drift_alert("info"), now=T0))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(d.repeat for d in results) == list(range(1, 9))
    assert [d.repeat for d in results if not d.suppressed] == [1]


def test_a_firing_waits_for_a_concurrent_writer(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    """Another process holding the write lock delays a firing; it never reads stale state."""
    state = tmp_path / "alerts.db"
    alerts = AlertsResource(config_path=str(CONFIG), state_path=str(state))
    send_at(alerts, 0)
    results: list[Delivery] = []
    other = sqlite3.connect(state, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE alert_state SET repeats = 2")
    thread = threading.Thread(target=lambda: results.append(send_at(alerts, 1)))
    thread.start()
    thread.join(timeout=0.5)
    blocked = thread.is_alive()
    other.execute("COMMIT")
    other.close()
    thread.join(timeout=30)

    assert blocked
    assert [(d.repeat, d.escalation_level, d.suppressed) for d in results] == [(3, 1, False)]


def test_naive_now_and_bad_alerts_are_refused(alerts: AlertsResource) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        alerts.send(drift_alert(), now=datetime(2013, 7, 1, 12))
    with pytest.raises(ValueError, match="severity must be one of"):
        drift_alert("critical")
    with pytest.raises(ValueError, match="non-empty key"):
        drift_alert(key=" ")


def write_config(folder: Path, data: Any) -> Path:
    path = folder / "alerts.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_config_substitutes_defaults_and_env() -> None:
    default = load_alerts_config(CONFIG, env={}).channels["email"]
    overridden = load_alerts_config(CONFIG, env={"MLAP_SMTP_PORT": "2525"}).channels["email"]

    assert (default.host, default.port) == ("127.0.0.1", 25)  # type: ignore[union-attr]
    assert overridden.port == 2525  # type: ignore[union-attr]


def _edited(path: str, value: Any) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return config


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        pytest.param(
            ("routes.warning.channels", ["log", "pager"]),
            "routes.warning.channels.1",
            "unknown channel 'pager'; known: email, log, slack, webhook",
            id="unknown-channel-in-route",
        ),
        pytest.param(
            ("routes.error.escalate_to", ["email", "sms"]),
            "routes.error.escalate_to.1",
            "unknown channel 'sms'",
            id="unknown-escalation-channel",
        ),
        pytest.param(
            ("channels.webhook", {"kind": "pagerduty", "url_env": "X"}),
            "channels.webhook",
            "Input tag 'pagerduty' found using 'kind' does not match any of the expected "
            "tags: 'log', 'webhook', 'slack', 'smtp'",
            id="bad-kind",
        ),
        pytest.param(
            ("channels.email.recipients_env", None),
            "channels.email.recipients_env",
            "required key is missing",
            id="smtp-without-recipients",
        ),
        pytest.param(
            ("channels.email.password_env", None),
            "channels.email",
            "username_env and password_env go together",
            id="smtp-user-without-password",
        ),
        pytest.param(
            ("channels.slack.url_evn", "X"),
            "channels.slack.url_evn",
            "unknown key (check the spelling)",
            id="misspelt-key",
        ),
        pytest.param(
            ("routes.info", None),
            "routes.info",
            "required key is missing",
            id="missing-route",
        ),
        pytest.param(
            ("escalate_after", 1),
            "escalate_after",
            "greater than or equal to 2",
            id="escalate-after-one",
        ),
        pytest.param(
            ("channels.email.host", "${MLAP_NO_SUCH_HOST}"),
            "channels.email.host",
            "environment variable MLAP_NO_SUCH_HOST is not set and has no default",
            id="unset-variable-without-default",
        ),
    ],
)
def test_config_errors_name_the_key_path(
    tmp_path: Path, edit: tuple[str, Any], key: str, expected: str
) -> None:
    path = write_config(tmp_path, _edited(*edit))
    with pytest.raises(ConfigError) as info:
        load_alerts_config(path, env={})
    err = info.value

    assert err.path == path.resolve()
    assert any(k == key and expected in message for k, message in err.problems), err.problems
    assert str(err).startswith("invalid alerts config\n")
    assert f"{path.resolve()}: {key}: " in str(err)


def test_send_with_a_broken_config_raises(tmp_path: Path) -> None:
    path = write_config(tmp_path, "channels: [log\n")
    alerts = AlertsResource(config_path=str(path), state_path=str(tmp_path / "a.db"))

    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        alerts.send(drift_alert(), now=T0)
