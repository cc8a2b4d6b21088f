"""Issue 14: a real Prometheus (Debian's package) scrapes the session's served champion with
deploy/monitoring's scrape job, and every query of the Grafana dashboard returns series.

Kubernetes service discovery cannot run here, so the job's `kubernetes_sd_configs` and
relabelling give way to one static target carrying the labels the relabelling would have
set (`service`, `namespace`, `pod`); the job's path, scheme and timeout are the file's own.
"""

import shutil
import time
from typing import Any

import httpx
import pytest
import yaml

from tests.processes import free_port, running, wait_ready
from tests.test_deploy import DEPLOY, dashboard_queries

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SERVICE = "mlap-champion"
# The dashboard's variables: its service selector, and Grafana's rate window (at least four
# scrapes of the one-second interval below).
VARIABLES = {"$service": SERVICE, "$__rate_interval": "20s"}


def scrape_config(target: str) -> dict[str, Any]:
    """deploy/monitoring's scrape job, pointed at `target` (host:port) instead of the
    cluster's endpoints, scraped every second."""
    shipped = yaml.safe_load((DEPLOY / "monitoring" / "prometheus-scrape.yaml").read_text())
    (job,) = shipped["scrape_configs"]
    job = {k: v for k, v in job.items() if k not in ("kubernetes_sd_configs", "relabel_configs")}
    job |= {"scrape_interval": "1s", "scrape_timeout": "1s"}
    labels = {"service": SERVICE, "namespace": "tests", "pod": "local"}
    job["static_configs"] = [{"targets": [target], "labels": labels}]
    return {"global": {"evaluation_interval": "1s"}, "scrape_configs": [job]}


@pytest.fixture(scope="module")
def prometheus(server: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(server.removeprefix("http://"))))
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
    ]
    log = folder / "prometheus.log"
    with running(argv, {"PATH": "/usr/bin:/bin"}, folder, log) as process:
        wait_ready(url, log, time.monotonic() + 30, path="/-/ready", process=process)
        yield url


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def test_every_dashboard_query_returns_series_from_the_scraped_champion(
    prometheus: str, server: str, sample: list[dict[str, Any]]
) -> None:
    """Traffic for every panel (scored records, a refused one), then each classifier query
    as the dashboard writes it. The 5xx share has no series when nothing failed (its
    numerator is empty), so it is checked to parse and the 4xx share to have data."""
    expressions = []
    for expr, _names, _labels in dashboard_queries():
        if "mlap_predicted_value" in expr:  # regression only; tests/test_deploy.py has it
            continue
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        expressions.append(expr)
    empty = [e for e in expressions if "5.." in e]
    deadline = time.monotonic() + 60
    while True:
        assert httpx.post(f"{server}/predict", json={"records": sample[:5]}).is_success
        refused = httpx.post(f"{server}/predict", json={"records": [{"carrier": "ZZ"}]})
        assert refused.status_code == 400
        missing = [e for e in expressions if e not in empty and not query(prometheus, e)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert missing == [], missing
    for expr in empty:
        query(prometheus, expr)
    (target,) = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
    assert target["health"] == "up" and target["labels"]["job"] == "mlap-champion"


@pytest.fixture(scope="module")
def sample(served: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.served_champion import DAYS, records

    return records(served["state"], DAYS[0])[0]


def test_the_scrape_job_is_the_shipped_one_but_for_discovery() -> None:
    """What the test changed in deploy/monitoring's job, and nothing else."""
    shipped = yaml.safe_load((DEPLOY / "monitoring" / "prometheus-scrape.yaml").read_text())
    (job,) = scrape_config("127.0.0.1:1")["scrape_configs"]
    (original,) = shipped["scrape_configs"]
    changed = {k for k in original.keys() | job.keys() if original.get(k) != job.get(k)}
    assert changed == {
        "kubernetes_sd_configs",
        "relabel_configs",
        "static_configs",
        "scrape_interval",
        "scrape_timeout",
    }
