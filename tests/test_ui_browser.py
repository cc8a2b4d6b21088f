"""The Dagster UI as users see it: Debian's Chromium, driven by Playwright, on `dagster dev`;
and the daemon of that same `dagster dev` turning a landed file into a daily run.

Before the UI starts, `mlap` backfills nine days of flights and trains one small XGBoost on
them, on a fresh instance in a temporary folder (the pipeline is the real flight_delays
config with a tiny `training:` section, through `extends:`). The UI then serves the real
code location from workspace.yaml on 127.0.0.1, and the tests click through it as a user
would. Screenshots of every step go to the project's state folder, `var/screenshots/`
(or `$MLAP_SCREENSHOTS_DIR`), not to the temporary one, so that CI can keep them. Last,
`mlap replay` drops the next day's file into the landing zone: the daemon's arrival sensor
must start a run of the daily job for that day, and that run must succeed with the day's
predictions and drift report in the lake.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect, sync_playwright

from tests.conftest import PROJECT_ROOT
from tests.dagster_dev import (
    dagster_dev,
    graphql,
    run_mlap,
    sensor_runs,
    trained_instance,
    wait_for_finished_run,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
SCREENSHOTS = Path(os.environ.get("MLAP_SCREENSHOTS_DIR", PROJECT_ROOT / "var" / "screenshots"))

UI_DAY = "2013-03-20"
ARRIVED_DAY = "2013-03-06"  # the day after the trained instance's last partition
SENSOR = "flight_delays__arrival_sensor"
GROUPS = ("datasets", "features", "models", "evaluation")
ASSETS = (
    "raw_flights",
    "validated_flights",
    "raw_weather",
    "features",
    "training_set",
    "candidates",
    "challenger_model",
    "champion_model",
    "evaluation",
    "explanation",
)
CHECKS = ("not_empty", "quarantine_rate_below_threshold", "schema_as_declared")
JOBS = ("flight_delays__ingest", "flight_delays__train", "flight_delays__rollback")
expect.set_options(timeout=30_000)


UI_RUNS_QUERY = """{ runsOrError(filter: {tags: [{key: "dagster/from_ui", value: "true"}]}) {
  ... on Runs { results { runId status tags { key value } } } } }"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return trained_instance(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def ui(trained: dict[str, str]) -> Iterator[str]:
    with dagster_dev(trained) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make browser` installs it"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SCREENSHOTS.glob("failed-*.png"):
        stale.unlink()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, ui: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh profile per test; a failing test leaves `failed-<test>.png` behind."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    skip_community_modal(tab, ui)
    failures_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failures_before:
        tab.screenshot(path=SCREENSHOTS / f"failed-{request.node.name}.png")
    context.close()


def skip_community_modal(page: Page, ui: str) -> None:
    """Dagster asks the first visitor of a new instance to join its community, a second
    after the first page loads; skipping it up front keeps it from closing a menu mid-test.
    The locator handler stays as a safety net should it ever come back."""
    community = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    skip = community.get_by_role("button", name="Skip")
    with page.expect_response(lambda response: "op=ShouldShowNux" in response.url) as nux:
        page.goto(ui)
    if nux.value.json()["data"]["shouldShowNux"]:
        skip.click()
        expect(community).to_be_hidden()
    page.add_locator_handler(community, lambda modal: skip.click())


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled")


def show_whole_graph(page: Page) -> None:
    """Folds away the group tree (the second panel toggle, after the main navigation's) and
    the navigation, expands every group (the graph shows collapsed groups until told
    otherwise) and zooms out one step: the whole graph then fits a 1400x900 page."""
    page.locator("button:has([aria-label='panel_show_right'])").nth(1).click()
    page.get_by_text("Hide navigation").click()
    controls = page.locator("#zoom-slider-container")
    controls.get_by_role("button", name="settings").click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    expect(graph_node(page, "features")).to_be_visible()
    controls.get_by_role("button", name="zoom_out").click()


def graph_node(page: Page, asset: str) -> Locator:
    """The box of `asset` in the zoomed-out asset graph: its colours show its status."""
    box = page.locator("[style*='--minimal-border']")
    return box.filter(has=page.get_by_text(asset, exact=True))


def job_link(page: Page, job: str) -> Locator:
    return page.get_by_role("link", name=re.compile(rf"\b{job}\b"))


def metadata_row(page: Page, key: str) -> Locator:
    """The row of the asset's metadata table (Key, Timestamp, Value) whose key is `key`."""
    table = page.get_by_role("table").filter(
        has=page.get_by_role("cell", name="Timestamp", exact=True)
    )
    return table.locator(f"xpath=./tbody/tr[td[1][normalize-space()='{key}']]")


def wait_for_run(base_url: str, partition: str, timeout: float = 180) -> dict[str, Any]:
    """The UI-launched run of `partition`, once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = graphql(base_url, UI_RUNS_QUERY)["runsOrError"]["results"]
        for run in runs:
            tags = {tag["key"]: tag["value"] for tag in run["tags"]}
            finished = run["status"] in ("SUCCESS", "FAILURE", "CANCELED")
            if tags.get("dagster/partition") == partition and finished:
                return dict(run)
        time.sleep(1)
    raise AssertionError(f"no finished UI run of {partition} within {timeout:.0f} s")


def test_asset_graph_shows_the_pipeline_groups_and_assets(ui: str, page: Page) -> None:
    page.goto(f"{ui}/asset-groups")
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    show_whole_graph(page)
    for asset in ASSETS:
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    for materialised in ("training_set", "champion_model", "evaluation"):
        expect(graph_node(page, materialised)).to_have_attribute("style", re.compile("green"))
    screenshot(page, "01-asset-graph")


def test_materialising_a_partition_from_the_asset_page(
    ui: str, page: Page, trained: dict[str, str]
) -> None:
    page.goto(f"{ui}/assets/flight_delays/raw_flights")
    page.get_by_text(re.compile(r"^Materialize…$")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Launch runs to materialize flight_delays / raw_flights")
    partitions = dialog.get_by_placeholder(re.compile(r"^ex: 2013-01-01"))
    partitions.fill(UI_DAY)
    partitions.press("Enter")
    expect(dialog).to_contain_text("1 partition")
    screenshot(page, "02-partition-picked")

    dialog.get_by_role("button", name="Launch 1 run").click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    screenshot(page, "03-run-launched")
    shown_id = re.findall(r"[0-9a-f]{8}", toast.inner_text())[-1]

    run = wait_for_run(ui, UI_DAY)
    assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}"
    assert run["runId"].startswith(shown_id)
    lake = Path(trained["MLAP_STATE_DIR"]) / "lake" / "flight_delays" / "raw_flights"
    assert (lake / f"{UI_DAY}.parquet").exists()

    page.goto(f"{ui}/runs/{run['runId']}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"partition: {UI_DAY}")).to_be_visible()
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()
    screenshot(page, "04-run-succeeded")


def test_evaluation_page_shows_metrics_and_plots(
    ui: str, page: Page, trained: dict[str, str]
) -> None:
    table = pd.read_parquet(
        Path(trained["MLAP_STATE_DIR"]) / "lake" / "flight_delays" / "evaluation.parquet"
    )
    challenger = table[table["model"].str.startswith("challenger")].iloc[0]

    page.goto(f"{ui}/assets/flight_delays/evaluation")
    roc_auc = metadata_row(page, "roc_auc")
    expect(roc_auc).to_contain_text(str(round(float(challenger["roc_auc"]), 4)))
    metrics = metadata_row(page, "metrics")
    expect(metrics).to_contain_text("challenger: xgboost")
    expect(metrics).to_contain_text("majority: always the training window's majority class")
    page.get_by_text("Metadata", exact=True).first.evaluate("title => title.scrollIntoView()")
    screenshot(page, "05-evaluation-metrics")

    metadata_row(page, "plots").get_by_text("[Show Markdown]").click()
    plots = page.get_by_role("dialog").locator("img[src^='data:image/png']")
    expect(plots).to_have_count(4)
    expect(plots.first).to_be_visible()
    assert plots.first.evaluate("img => img.complete && img.naturalWidth") > 0
    screenshot(page, "06-evaluation-plots")


def test_blocking_checks_show_their_results(ui: str, page: Page) -> None:
    page.goto(f"{ui}/assets/flight_delays/validated_flights?view=checks")
    for check in CHECKS:
        expect(page.get_by_title(check, exact=True).first).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(CHECKS))
    expect(page.get_by_text("This is a blocking asset check.")).to_be_visible()
    expect(page.get_by_text("Passed", exact=True)).to_be_visible()
    screenshot(page, "07-asset-checks")


def test_jobs_for_the_main_verbs_open_in_the_launchpad(ui: str, page: Page) -> None:
    page.goto(f"{ui}/jobs")
    for job in JOBS:
        expect(job_link(page, job)).to_be_visible()
    page.goto(f"{ui}/locations/ml_assets/jobs/flight_delays__train/playground")
    expect(page.get_by_role("button", name=re.compile("Launch Run"))).to_be_enabled()
    expect(page.get_by_text("No errors")).to_be_visible()
    screenshot(page, "08-train-launchpad")


def test_the_daemon_turns_a_landed_file_into_a_successful_daily_run(
    ui: str, trained: dict[str, str]
) -> None:
    assert sensor_runs(ui, SENSOR) == []
    run_mlap(
        trained, "replay", "flight_delays", "--start", ARRIVED_DAY, "--end", ARRIVED_DAY,
        "--speed", "0",
    )  # fmt: skip
    run = wait_for_finished_run(ui, SENSOR, timeout=420)
    assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}"
    assert run["jobName"] == "flight_delays__daily"
    assert run["tags"]["dagster/partition"] == ARRIVED_DAY
    assert run["tags"]["dagster/run_key"].startswith(f"{ARRIVED_DAY}.csv:")
    assert len(sensor_runs(ui, SENSOR)) == 1
    lake = Path(trained["MLAP_STATE_DIR"]) / "lake" / "flight_delays"
    assert (lake / "batch_predictions" / f"{ARRIVED_DAY}.parquet").exists()
    assert (lake / "drift_report_html" / f"{ARRIVED_DAY}.html").exists()
