"""The experiment sensor: a running experiment whose `ab_test` reached a verdict is
concluded by a run of `<pipeline>__conclude_experiment`."""

from dagster import (
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ml_assets.assets.experiment_conclusion import conclude_op_name
from ml_assets.keys import model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.experiment_evidence import experiment_id
from ml_assets.lib.experiment_record import read_current
from ml_assets.lifecycle.experiment_decision import CONCLUSIVE
from resources.lake import LakeResource


def experiment_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__conclude_experiment_sensor"


def build_experiment_sensor(config: PipelineConfig, job: JobDefinition) -> SensorDefinition:
    key = model_key(config.name, "ab_test")
    interval = config.monitoring.arrival_interval_seconds if config.monitoring else 30

    @sensor(
        name=experiment_sensor_name(config.name),
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def conclude_experiment_sensor(
        context: SensorEvaluationContext, lake: LakeResource
    ) -> SensorResult:
        """Watches the latest `ab_test` materialisation of the running experiment. When its
        cumulative verdict is conclusive (the experiment's `min_samples` labelled records
        per arm and a p-value under 1 - `confidence`), starts one run that promotes the
        challenger (`challenger_better`) or records a keep and stops the experiment
        (`champion_better`), through the decision path of training. The run key is the
        experiment and verdict, and the cursor the last experiment concluded, so an
        experiment is concluded once."""
        record = read_current(lake.base_path, config.name)
        if record is None:
            return SensorResult(skip_reason=SkipReason("no experiment runs"))
        current = experiment_id(record)
        if context.cursor == current:
            return SensorResult(skip_reason=SkipReason(f"{current} already concluded"))
        event = context.instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event else None
        stored = materialization.metadata if materialization else {}
        metadata = {name: value.value for name, value in stored.items()}
        if metadata.get("experiment") != current:
            return SensorResult(skip_reason=SkipReason(f"no ab_test of {current} yet"))
        verdict = metadata.get("verdict")
        if verdict not in CONCLUSIVE:
            day = materialization.partition if materialization else None
            return SensorResult(
                skip_reason=SkipReason(f"{current} as of {day}: {metadata.get('reason')}")
            )
        run_config = {
            "ops": {
                conclude_op_name(config.name): {
                    "config": {
                        "experiment": current,
                        "result": _json(metadata.get("result")),
                        "reason": str(metadata.get("reason")),
                    }
                }
            }
        }
        context.log.info(f"{config.name}: {current}: {verdict}: {metadata.get('reason')}")
        request = RunRequest(
            run_key=f"{current}:{verdict}",
            run_config=run_config,
            tags={"user": "experiment sensor", "mlap/experiment": current},
        )
        return SensorResult(run_requests=[request], cursor=current)

    return conclude_experiment_sensor


def _json(value: object) -> str:
    import json

    return json.dumps(value)
