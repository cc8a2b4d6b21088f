"""Live experiments without a server (tier 1): arms by a stable hash of the entity key,
the config that sets them up, and the log rows of a split request. The served shadow and
A/B runs are in tests/test_experiment_served.py."""

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bentos.experiment_setup import BentoArguments, experiment_mode
from ml_assets.lib.config import ConfigError, PipelineConfig, load_pipeline_config
from ml_assets.lib.config.experiment import ExperimentConfig
from ml_assets.lib.config.references import find_reference_problems
from ml_assets.lib.experiment import (
    bucket,
    canonical,
    challenger_columns,
    challenger_rows,
    interleave,
    positions,
)
from ml_assets.lib.inference_log import ScoredBatch, log_frame
from tests.conftest import FLIGHT_DELAYS_YAML

KEY = ["time_hour", "carrier", "flight"]
WHEN = datetime(2013, 7, 4, 21, tzinfo=UTC)


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {"time_hour": WHEN + timedelta(hours=i % 24), "carrier": "UA", "flight": i}
        for i in range(n)
    ]


def test_an_entity_keeps_its_arm_in_another_process() -> None:
    # hashlib, not hash(): a new interpreter (another worker, a restart) agrees.
    here = bucket(["UA", 1545], "salt")
    code = "from ml_assets.lib.experiment import bucket; print(repr(bucket(['UA', 1545], 'salt')))"
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert float(there) == here
    assert 0 <= here < 1
    assert bucket(["UA", 1545], "other salt") != here


@pytest.mark.parametrize("share", [0.05, 0.3, 0.5, 0.9])
def test_the_share_holds_over_many_entities(share: float) -> None:
    chosen = challenger_rows(_rows(20_000), KEY, share, "exp")
    observed = sum(chosen) / len(chosen)
    # Four standard errors of a binomial share over 20,000 entities.
    assert abs(observed - share) < 4 * (share * (1 - share) / 20_000) ** 0.5


def test_the_same_instant_is_the_same_entity_whatever_its_offset() -> None:
    east = WHEN.astimezone(timezone(timedelta(hours=-5)))
    assert canonical(east) == canonical(WHEN) == "2013-07-04T21:00:00Z"
    assert canonical(1) != canonical(1.0) and canonical(None) != canonical("None")
    rows = [{"time_hour": WHEN, "carrier": "UA", "flight": f} for f in range(200)]
    shifted = [{**r, "time_hour": east} for r in rows]
    assert challenger_rows(rows, KEY, 0.5, "s") == challenger_rows(shifted, KEY, 0.5, "s")


def test_columns_get_the_arms_of_the_same_rows() -> None:
    rows = _rows(500)
    columns = {name: [r[name] for r in rows] for name in KEY} | {"distance": None}
    assert challenger_columns(columns, 500, KEY, 0.2, "s") == challenger_rows(rows, KEY, 0.2, "s")


def test_answers_go_back_in_the_request_order() -> None:
    chosen = [False, True, True, False, True]
    assert positions(chosen, True) == [1, 2, 4] and positions(chosen, False) == [0, 3]
    assert interleave(chosen, ["a", "b"], ["X", "Y", "Z"]) == ["a", "X", "Y", "b", "Z"]
    with pytest.raises(ValueError, match="answers for 5 rows"):
        interleave(chosen, ["a"], ["X", "Y", "Z"])
    with pytest.raises(ValueError, match="share"):
        challenger_rows(_rows(2), KEY, 1.0, "s")


def test_the_config_refuses_what_cannot_run() -> None:
    with pytest.raises(ValidationError, match="share"):
        ExperimentConfig(mode="ab", share=1.5)
    with pytest.raises(ValidationError, match="confidence"):
        ExperimentConfig(confidence=0.3)
    with pytest.raises(ValidationError, match="names a column twice"):
        ExperimentConfig(entity_key=["flight", "flight"])
    with pytest.raises(ValidationError, match="mode"):
        ExperimentConfig(mode="canary")


def test_an_ab_experiment_needs_an_entity_key_requests_carry(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    source = flight_config.event_source.model_copy(update={"primary_key": []})
    keyless = flight_config.model_copy(
        update={
            "sources": {**flight_config.sources, flight_config.event_source_name: source},
            "serving": flight_config.serving.model_copy(
                update={"experiment": ExperimentConfig(mode="ab")}
            ),
        }
    )
    assert (
        "serving.experiment.entity_key",
        "an A/B experiment assigns arms by entity: give `serving.experiment.entity_key` or"
        " `serving.entity_key` (the event source has no primary key that requests carry)",
    ) in find_reference_problems(keyless)
    broken = tmp_path / "flight_delays.yaml"
    broken.write_text(
        FLIGHT_DELAYS_YAML.read_text().replace(
            "  workers: 1\n",
            "  workers: 1\n  experiment: {mode: ab, entity_key: [flight, arr_delay]}\n",
        )
    )
    shutil.copy(FLIGHT_DELAYS_YAML.parent / "_defaults.yaml", tmp_path)
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(broken)
    assert "serving.experiment.entity_key.1: 'arr_delay' is a forbidden column" in str(
        refused.value
    )


def test_a_bento_runs_an_experiment_only_with_a_challenger(flight_config: PipelineConfig) -> None:
    shadow = flight_config.model_copy(
        update={
            "serving": flight_config.serving.model_copy(
                update={"experiment": ExperimentConfig(mode="shadow")}
            )
        }
    )
    # A champion's own bento (no challenger) serves alone whatever the config says ...
    assert experiment_mode(BentoArguments(model="m:1"), shadow) == "off"
    assert experiment_mode(BentoArguments(model="m:1", challenger="m:2"), shadow) == "shadow"
    both = BentoArguments(model="m:1", challenger="m:2", experiment="ab")
    assert experiment_mode(both, shadow) == "ab"
    # ... but asking for an experiment without one is refused.
    with pytest.raises(ValueError, match="needs a challenger"):
        experiment_mode(BentoArguments(model="m:1", experiment="ab"), flight_config)


def test_a_split_request_logs_each_row_at_its_place(flight_config: PipelineConfig) -> None:
    from tests.test_inference_log import _record

    records = [_record(f) for f in range(5)]
    chosen = [False, True, False, False, True]

    def part(arm: str, version: str, where: list[int]) -> ScoredBatch:
        return ScoredBatch(
            request_id="r1",
            served_at=WHEN,
            route="/predict",
            latency_ms=3.0,
            model_version=version,
            model_tag=f"flight_delays:v{version}-x",
            arm=arm,
            rows=len(where),
            records=[records[i] for i in where],
            columns=None,
            outputs=[
                {"probability": i / 10, "label": False, "model_version": version, "arm": arm}
                for i in where
            ],
            positions=where,
        )

    frame = log_frame(
        [
            part("champion", "1", positions(chosen, False)),
            part("challenger", "2", positions(chosen, True)),
        ],
        flight_config,
    )
    assert list(frame["record"]) == [0, 2, 3, 1, 4]
    assert list(frame["arm"]) == ["champion"] * 3 + ["challenger"] * 2
    assert list(frame["input_flight"]) == [0, 2, 3, 1, 4]
    assert list(frame["output_probability"]) == [0.0, 0.2, 0.3, 0.1, 0.4]
    # Who answered is the log's own columns, not an output.
    assert not {"output_arm", "output_model_version"} & set(frame.columns)


def _traffic(n: int, noise: float, seed: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    return y, y * 1.0 + rng.normal(0, noise, n)


def test_an_ab_experiment_concludes_only_with_enough_evidence() -> None:
    from sklearn.metrics import roc_auc_score

    from ml_assets.lib.experiment_stats import ab_test, auc_variance

    y_a, p_a = _traffic(3000, 1.2, 1)  # the champion: noisier
    y_b, p_b = _traffic(3000, 0.6, 2)  # a clearly better challenger
    auc, variance = auc_variance(y_a, p_a)
    assert abs(auc - roc_auc_score(y_a, p_a)) < 1e-9 and 0 < variance < 1e-3
    result = ab_test(y_a, p_a, y_b, p_b, confidence=0.95, min_samples=1000)
    assert result.verdict == "challenger_better" and result.p_value < 0.05
    assert result.difference > 0 and result.samples_needed is None
    # The same traffic short of min_samples waits, and says how many records are missing.
    waiting = ab_test(y_a, p_a, y_b, p_b, confidence=0.95, min_samples=5000)
    assert waiting.verdict == "waiting" and waiting.samples_needed == 2000
    reversed_ = ab_test(y_b, p_b, y_a, p_a, confidence=0.95, min_samples=1000)
    assert reversed_.verdict == "champion_better"


def test_a_shadow_experiment_is_paired_on_the_same_records() -> None:
    import numpy as np

    from ml_assets.lib.experiment_stats import shadow_test
    from ml_assets.lib.significance import delong_test

    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.3
    champion = y + rng.normal(0, 1.0, 2000)
    challenger = y + rng.normal(0, 0.7, 2000)
    result = shadow_test(y, champion, challenger, confidence=0.95, min_samples=500)
    assert result.test == "paired DeLong" and result.verdict == "challenger_better"
    assert result.p_value == delong_test(y, challenger, champion).p_value
    same = shadow_test(y, champion, champion, confidence=0.95, min_samples=500)
    assert same.verdict == "waiting" and same.samples_needed is None  # no effect to wait for
