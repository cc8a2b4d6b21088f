"""The benchmark's own platform state: a small XGBoost champion and its bento, made once.

The platform runs with its own CLI (`mlap backfill`, `mlap train`) on a small training
config, in a state folder of its own, so the benchmark never touches the main state and a
second run reuses the first one's champion.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ml_assets.environment import PROJECT_ROOT, TELEMETRY_OFF
from ml_assets.lib.refs import BentoRef
from resources.bento_store import BentoStoreResource
from resources.refs import read_ref

logger = logging.getLogger(__name__)

PIPELINE = "flight_delays"
BACKFILL = ("2013-05-01", "2013-07-31")
MLAP = str(PROJECT_ROOT / ".venv" / "bin" / "mlap")
# A champion trained in a few minutes on two cores: XGBoost only, few trials.
TRAINING_OVERRIDE = f"""\
extends: {PROJECT_ROOT / "configs" / "pipelines" / "flight_delays.yaml"}
training:
  train_days: 60
  validation_days: 14
  test_days: 14
  max_train_rows: 40000
  tuning:
    n_trials: 4
  candidates:
    logistic_regression: {{enabled: false}}
    hist_gradient_boosting: {{enabled: false}}
    xgboost:
      enabled: true
      params: {{n_estimators: 300}}
"""


@dataclass(frozen=True)
class Champion:
    state: Path
    bento: BentoRef
    store: BentoStoreResource

    @property
    def bento_tag(self) -> str:
        return self.bento.tag

    @property
    def bundle(self) -> Path:
        """The serving bundle: the BentoML model the bento serves, in the state's store."""
        return self.store.bundle_path(self.bento.model_tag)

    @property
    def validated_flights(self) -> Path:
        return self.state / "lake" / PIPELINE / "validated_flights"

    @property
    def bento_source(self) -> Path:
        stored = self.store.find_bento(self.bento.tag)
        if stored is None:
            raise FileNotFoundError(f"bento {self.bento.tag} is not in {self.store.home}")
        return stored.path / "src"


def prepare(state: Path) -> Champion:
    """The champion of `state`, training one first when the folder has none."""
    state = state.resolve()
    if not _bento_ref_file(state).exists():
        _run_platform(state)
    bento: BentoRef = read_ref(str(_refs_base(state)), [PIPELINE, "champion_bento"])
    champion = Champion(state, bento, BentoStoreResource(home=str(state / "bentoml")))
    if not champion.bundle.is_dir():
        raise FileNotFoundError(f"model {bento.model_tag} has no folder at {champion.bundle}")
    stale = stale_sources(champion)
    if stale:
        changed = ", ".join(stale)
        logger.info("bento %s was built from older code (%s): rebuilding", bento.tag, changed)
        _rebuild_bento(champion)
    return champion


def stale_sources(champion: Champion) -> list[str]:
    """Files the bento copied at build time that differ from the working tree now.

    A bento serves its own copy of the code; the other peers import the working tree. The
    comparison is of serving stacks only if both run the same scoring code.
    """
    stale = []
    for copied in sorted(champion.bento_source.rglob("*.py")):
        relative = copied.relative_to(champion.bento_source)
        current = PROJECT_ROOT / relative
        if not current.exists() or current.read_bytes() != copied.read_bytes():
            stale.append(str(relative))
    return stale


def platform_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {
        **env,
        **TELEMETRY_OFF,
        "MLAP_STATE_DIR": str(state),
        "MLAP_PIPELINES_DIR": str(state / "pipelines"),
        "BENTOML_HOME": str(state / "bentoml"),
    }


def _refs_base(state: Path) -> Path:
    """The platform's ref store for this state (`<lake>/_refs`, see resources.build_resources)."""
    return state / "lake" / "_refs"


def _bento_ref_file(state: Path) -> Path:
    return _refs_base(state) / PIPELINE / "champion_bento.json"


def _rebuild_bento(champion: Champion) -> None:
    """Build the bento again from the working tree, exactly as the platform builds it
    (`ml_assets.lifecycle.packaging.package_champion`), under the same tag."""
    bento, store = champion.bento, champion.store
    # The store offers no delete verb; BentoML's CLI gets the store's home in its own env.
    subprocess.run(
        [sys.executable, "-m", "bentoml", "delete", "--yes", bento.tag],
        env={**os.environ, **TELEMETRY_OFF, "BENTOML_HOME": store.home},
        check=True,
        capture_output=True,
    )
    version = str(bento.model.version)
    store.build(
        model_tag=bento.model_tag,
        bento_version=bento.tag.split(":", 1)[1],
        labels={"pipeline": PIPELINE, "model_version": version},
        description=f"Champion v{version} of pipeline `{PIPELINE}`.",
    )


def _run_platform(state: Path) -> None:
    pipelines = state / "pipelines"
    pipelines.mkdir(parents=True, exist_ok=True)
    (pipelines / f"{PIPELINE}.yaml").write_text(TRAINING_OVERRIDE)
    env = platform_env(state)
    start, end = BACKFILL
    for command in (
        [MLAP, "backfill", PIPELINE, "--start", start, "--end", end],
        [MLAP, "train", PIPELINE],
    ):
        logger.info("running %s", " ".join(command[1:]))
        log = state / f"{command[1]}.log"
        with log.open("w") as out:
            done = subprocess.run(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
            )
        if done.returncode != 0:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"`mlap {command[1]}` failed (log {log}):\n{tail}")
