"""One process of the promotion race (tests/test_model_lifecycle.py): decide one version
of flight_delays against whatever the champion is when it gets the lock.

    python -m tests.race_decide <state folder> <version> [<MLflow backend URL>]

Prints the decision as JSON.
"""

import json
import sys
from pathlib import Path

import pandas as pd


def main(state: Path, version: str, mlflow_uri: str | None) -> None:
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.lib.problems import problem_for
    from ml_assets.lifecycle.promotion import decide_and_promote
    from tests.conftest import FLIGHT_DELAYS_YAML
    from tests.helpers import pipeline_defs

    config = load_pipeline_config(FLIGHT_DELAYS_YAML)
    resources = pipeline_defs(config, state, mlflow_uri=mlflow_uri).resources or {}
    registry, audit = resources["model_registry"], resources["audit_store"]
    days = [f"2013-03-{d}" for d in range(15, 19)]
    lake = state / "lake" / "flight_delays" / "features"
    test = pd.concat([pd.read_parquet(lake / f"{d}.parquet") for d in days], ignore_index=True)
    test = test[test["delayed"].notna()].reset_index(drop=True)
    decision = decide_and_promote(
        registry,
        audit,
        registry.version("flight_delays", version),
        test,
        test["delayed"].astype(int).to_numpy(),
        config.promotion,
        problem_for(config),
    )
    print(json.dumps({"action": decision.action, "version": version}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
