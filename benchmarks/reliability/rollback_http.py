"""An injected bad champion rolled back automatically, on traffic served over HTTP (issue 15).

    .venv/bin/python -m benchmarks.reliability.rollback_http [--state var/benchmarks/serving]

1. The benchmark champion (`benchmarks/serving/state.py`, trained on 2013-05-01..07-31) in
   `--state`; a second version trained (`mlap train`, kept as challenger) when the
   registry has only one, then made the champion by `mlap promote` (the old one becomes
   `previous_champion`).
2. The new champion's BentoML model injected broken: its feature spec names a feature the
   pipeline never makes, its hashes made again (the service loads it; every score raises).
3. A real `bentoml serve` of that model with the inference log on (the state's lake);
   `--requests` requests of `--day`'s validated flights sent; every one fails (500) and
   is written, on the clean shutdown, beside the log as a failed request.
4. The rollback sensor (`serving.rollback`: `max_error_rate` 0.2, `min_requests` 50)
   ticked by `SensorLoop` as the daemon would, and the rollback run it starts, in process:
   the aliases, the decision log (verified against the head anchored in the registry),
   the day's folder kept aside, then a second tick (nothing more to do).

The figures are printed as Markdown (copied into RESULTS.md). The state is left with the
first version champion again and the injected one `previous_champion`, but its
`champion_bento` pointer on the bento `mlap promote` built for the injected version (the
redeploy sensor, a run-status sensor not ticked here, would build the first one's again;
trained on the same data with the same seed, the two models score alike).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from benchmarks.serving.peers import BIN, bentoml_peer, serving
from benchmarks.serving.state import MLAP, PIPELINE, Champion, platform_env, prepare
from ml_assets.environment import PROJECT_ROOT

logger = logging.getLogger("rollback_http")
FIELDS = [
    *["year", "month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight"],
    *["tailnum", "origin", "dest", "distance", "hour", "minute", "time_hour"],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=PROJECT_ROOT / "var/benchmarks/serving")
    parser.add_argument("--day", default="2013-07-31")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--records-per-request", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    figures: dict[str, Any] = {}
    clock = time.perf_counter()
    champion = prepare(args.state)
    config, defs = _definitions(champion.state)
    registry = (defs.resources or {})["model_registry"]
    good = _champion_version(registry)
    bad = _second_version(champion, registry, good)
    _mlap(champion.state, "promote", PIPELINE, "--version", bad, "--reason", "rollback drill")
    figures["aliases before"] = _aliases(registry)
    figures["prepare s"] = time.perf_counter() - clock

    broken = _broken_model(defs, config, bad)
    lake = (defs.resources or {})["lake"].base_path
    sent = _records(Path(lake), args.day)
    size = args.records_per_request
    bodies = [sent[i * size : (i + 1) * size] for i in range(args.requests)]
    peer = bentoml_peer(champion, {**bentoml_peer(champion).env, "MLAP_INFERENCE_LOG_URL": lake})
    peer = dataclasses.replace(
        peer,
        command=lambda port: [
            *[str(BIN / "bentoml"), "serve", "bentos.service:ChampionService"],
            *["--arg", f"model={broken}", "--host", "127.0.0.1", "--port", str(port)],
        ],
    )
    clock = time.perf_counter()
    with serving(peer, champion.state / "rollback-serve.log") as server:
        figures["serve start s"] = time.perf_counter() - clock
        clock = time.perf_counter()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            statuses = [client.post("/predict", json={"records": b}).status_code for b in bodies]
        figures["traffic s"] = time.perf_counter() - clock
    figures["answers (status: requests)"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    figures.update(_rollback(defs, registry, lake, args.day, bad, good))
    print(_report(args, bad, good, broken, figures))


def _definitions(state: Path) -> tuple[Any, Any]:
    """The state's pipeline with the rollback policy, and its definitions built like the
    code location's."""
    from dagster import Definitions, in_process_executor

    from ml_assets.factory import build_pipeline_definitions
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.lib.config.rollback import RollbackConfig
    from resources import build_resources
    from sensors.alerting import build_alert_sensors

    config = load_pipeline_config(state / "pipelines" / f"{PIPELINE}.yaml")
    policy = RollbackConfig(enabled=True, max_error_rate=0.2, min_requests=50)
    serving = config.serving.model_copy(update={"rollback": policy})
    config = config.model_copy(update={"serving": serving})
    resources = build_resources(
        state,
        alerts_config=PROJECT_ROOT / "configs" / "alerts.yaml",
        bentoml_home=state / "bentoml",
    )
    return config, Definitions.merge(
        build_pipeline_definitions(config),
        Definitions(
            sensors=build_alert_sensors([PIPELINE]),
            resources=resources,
            executor=in_process_executor,
        ),
    )


def _champion_version(registry: Any) -> str:
    return str(registry.by_alias(PIPELINE, "champion").version)


def _aliases(registry: Any) -> str:
    found = {a: registry.by_alias(PIPELINE, a) for a in ("champion", "previous_champion")}
    return ", ".join(f"{a} v{v.version if v else '-'}" for a, v in found.items())


def _second_version(champion: Champion, registry: Any, good: str) -> str:
    """A registered version other than the champion, trained first if there is none."""
    others = [str(v.version) for v in registry.versions(PIPELINE) if str(v.version) != good]
    if not others:
        _mlap(champion.state, "train", PIPELINE)
        others = [str(v.version) for v in registry.versions(PIPELINE) if str(v.version) != good]
    return max(others, key=int)


def _mlap(state: Path, *argv: str) -> None:
    logger.info("mlap %s", " ".join(argv))
    done = subprocess.run(
        [MLAP, *argv], env=platform_env(state), cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlap {argv[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _broken_model(defs: Any, config: Any, version: str) -> str:
    """`version` packaged, then copied with a feature spec naming a feature the pipeline
    never makes (files saved again, so the hashes verify); the copy's model tag."""
    from ml_assets.lib.artifacts import load_model, save_model
    from ml_assets.lib.scoring import METADATA_FILE, MODEL_DIR
    from ml_assets.lifecycle.packaging import package_model

    resources = defs.resources or {}
    store, registry, lake = resources["bento_store"], resources["model_registry"], resources["lake"]
    tag = package_model(registry, store, lake, config, registry.version(PIPELINE, version))
    bundle = Path(lake.base_path).parent / "rollback-bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(store.bundle_path(tag), bundle)
    loaded = load_model(bundle / MODEL_DIR)
    shutil.rmtree(bundle / MODEL_DIR)
    spec = dataclasses.replace(loaded.spec, numeric=[*loaded.spec.numeric, "no_such_feature"])
    manifest = save_model(loaded.model, spec, bundle / MODEL_DIR, extra=loaded.manifest.extra)
    metadata = json.loads((bundle / METADATA_FILE).read_text())
    metadata["manifest_sha256"] = manifest.manifest_sha256
    (bundle / METADATA_FILE).write_text(json.dumps(metadata))
    broken = f"{PIPELINE}:v{version}-broken{int(time.time())}"
    store.import_bundle(broken, bundle, {"pipeline": PIPELINE})
    return broken


def _records(lake: Path, day: str) -> list[dict[str, Any]]:
    rows = pd.read_parquet(lake / PIPELINE / "validated_flights" / f"{day}.parquet")
    return json.loads(rows[FIELDS].to_json(orient="records", date_format="iso"))


def _rollback(defs: Any, registry: Any, lake: str, day: str, bad: str, good: str) -> dict[str, Any]:
    """The rollback sensor ticked twice and its run; what they did."""
    from dagster import DagsterInstance

    from ml_assets.lib.decision_log import read, verify
    from ml_assets.lib.inference_errors import read_errors
    from ml_assets.runs.loop import SensorLoop
    from sensors.rollback import rollback_sensor_name

    audit = (defs.resources or {})["audit_store"]
    errors = read_errors(lake, PIPELINE, [day])
    out: dict[str, Any] = {"failed requests logged for the day": len(errors)}
    entries = len(read(audit.decision_log(PIPELINE)))
    clock = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        loop = SensorLoop(defs, instance)
        tick = loop.tick(rollback_sensor_name(PIPELINE))
        out["sensor + rollback run s"] = time.perf_counter() - clock
        (run,) = tick.runs
        out["rollback run"] = "success" if run.success else "FAILED"
        again = loop.tick(rollback_sensor_name(PIPELINE))
        out["second tick"] = again.skipped
        kept = [
            str(e.event_specific_data.asset_observation.metadata["kept_log"].value)  # type: ignore[union-attr]
            for e in run.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        ]
    log = audit.decision_log(PIPELINE)
    decisions = read(log)
    out["decision entries added"] = len(decisions) - entries
    out["decision"] = f"{decisions[-1].action}: {decisions[-1].record['reason']}"
    out["decision log verifies"] = verify(log, expected_head=registry.anchored_head(PIPELINE)).ok
    out["aliases after"] = _aliases(registry)
    out["rolled back to the previous champion"] = _champion_version(registry) == good
    folder = Path(kept[0]) / day if kept else None
    out["kept"] = sorted(p.name for p in folder.iterdir()) if folder and folder.is_dir() else []
    return out


def _report(args: argparse.Namespace, bad: str, good: str, broken: str, f: dict[str, Any]) -> str:
    lines = [
        f"Injected bad champion v{bad} (model {broken}), previous champion v{good}; "
        f"{args.requests} requests of {args.records_per_request} flights of {args.day}.",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for name, value in f.items():
        shown = f"{value:.1f}" if isinstance(value, float) else str(value)
        lines.append(f"| {name} | {shown.replace('|', '/')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
