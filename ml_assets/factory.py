"""One factory: a validated pipeline config in, that pipeline's Dagster definitions out."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from dagster import (
    AssetSelection,
    DailyPartitionsDefinition,
    Definitions,
    define_asset_job,
)

from ml_assets.assets.audit import build_audit_assets
from ml_assets.assets.batches import batch_partitions, build_batch_assets, scoring_batches
from ml_assets.assets.candidates import build_candidate_assets
from ml_assets.assets.champion import (
    build_champion_assets,
    build_promote_job,
    build_rollback_job,
)
from ml_assets.assets.datasets import build_dataset_assets
from ml_assets.assets.deployment import build_deployment_assets
from ml_assets.assets.evaluation import build_evaluation_assets
from ml_assets.assets.experiment_conclusion import build_conclude_job
from ml_assets.assets.experiment_test import AB_TEST
from ml_assets.assets.explanation import build_explanation_assets
from ml_assets.assets.features import build_features_asset
from ml_assets.assets.monitoring import build_monitoring_assets
from ml_assets.assets.reference import build_reference_assets
from ml_assets.assets.served_traffic import build_served_traffic_assets
from ml_assets.assets.text_audit import build_text_audit_assets
from ml_assets.assets.text_candidates import build_text_candidate_assets
from ml_assets.assets.text_champion import build_text_champion_assets
from ml_assets.assets.text_examples import build_text_example_assets
from ml_assets.assets.text_monitoring import TEXT_DAILY, build_text_monitoring_assets
from ml_assets.assets.text_prompts import build_prompt_assets
from ml_assets.assets.text_served import build_text_served_assets
from ml_assets.assets.training import build_training_assets
from ml_assets.jobs import (
    Executors,
    daily_job,
    deploy_job,
    predict_job,
    score_batch_job,
    served_traffic_job,
)
from ml_assets.keys import (
    DATASETS_GROUP,
    EVALUATION_GROUP,
    FEATURES_GROUP,
    MODELS_GROUP,
    ingest_job_name,
    llm_resource_key,
    model_key,
    train_job_name,
)
from ml_assets.lib.config import PipelineConfig
from ml_assets.run_tags import TRAINING_TAG
from sensors.arrival import build_arrival_sensor
from sensors.batches import build_batch_sensor
from sensors.experiment import build_experiment_sensor
from sensors.inference_log import build_inference_log_sensor
from sensors.redeploy import build_redeploy_sensor
from sensors.retrain import TEXT_SIGNALS, build_retrain_sensor
from sensors.rollback import build_rollback_sensor


def daily_partitions(config: PipelineConfig) -> DailyPartitionsDefinition | None:
    """The event source's days; None for a static table."""
    if config.partitioning is None:
        return None
    part = config.partitioning
    end = part.end_date + timedelta(days=1) if part.end_date else None
    return DailyPartitionsDefinition(
        start_date=part.start_date.isoformat(),
        end_date=end.isoformat() if end else None,
        timezone=part.timezone,
    )


def build_pipeline_definitions(
    config: PipelineConfig, step_pods: Collection[str] = frozenset()
) -> Definitions:
    """Assets, checks and jobs of one pipeline, all keyed under the pipeline's name. The
    jobs of the kinds in `step_pods` (`environment.STEP_POD_JOB_KINDS`) run each step in
    its own Kubernetes pod; the others take the code location's executor."""
    partitions = daily_partitions(config)
    assets = [*build_dataset_assets(config, partitions), build_features_asset(config, partitions)]
    pipeline = AssetSelection.key_prefixes([config.name])
    batches = batch_partitions(config) if scoring_batches(config) else None
    batch_assets = build_batch_assets(config, batches) if batches else []
    executors = Executors(step_pods)
    ingest = define_asset_job(
        ingest_job_name(config.name),
        selection=pipeline
        & AssetSelection.groups(DATASETS_GROUP, FEATURES_GROUP)
        - AssetSelection.assets(*batch_assets),
        partitions_def=partitions,
        description=(
            f"Reads, validates and featurises `{config.name}` for the selected days "
            "(a range runs as one run)."
            if partitions
            else f"Reads, validates and featurises the `{config.name}` table."
        ),
        executor_def=executors.of("ingest"),
    )
    jobs: list[Any] = [ingest]
    sensors: list[Any] = []
    resources: dict[str, Any] = {}
    if config.training is not None and config.target.problem_type == "text_classification":
        # Text pipelines train through their own assets (issue 17), then decide, register
        # and retrain through the tabular path (registry, decision log, retrain sensor).
        assets += [
            *build_prompt_assets(config),
            *build_text_example_assets(config),
            *build_text_candidate_assets(config),
            *build_text_champion_assets(config),
            *build_text_audit_assets(config),
        ]
        resources.update(text_resources(config))
        text_train: AssetSelection = AssetSelection.assets(
            model_key(config.name, "text_bento"), model_key(config.name, "text_passport")
        )
        if partitions is not None:
            # The service's inference log, ingested as the tabular one is (no labels join
            # a text request: the daily job does not take it).
            served_assets = build_text_served_assets(config, partitions)
            assets += served_assets
            served_job = served_traffic_job(config, partitions, [a.key for a in served_assets])
            jobs.append(served_job)
            sensors.append(build_inference_log_sensor(config, served_job))
        if config.monitoring is not None and partitions is not None:
            monitored = build_text_monitoring_assets(config, partitions)
            assets += monitored
            text_train |= AssetSelection.assets(model_key(config.name, "text_reference"))
            jobs.append(daily_job(config, partitions, executors.of("daily"), [], TEXT_DAILY))
        text_train_job = define_asset_job(
            train_job_name(config.name),
            selection=pipeline & AssetSelection.groups(MODELS_GROUP, EVALUATION_GROUP) | text_train,
            description=(
                f"Trains `{config.name}`'s text candidates: example store, embeddings, "
                "tuned candidates next to the majority baseline, the champion decision "
                "and the champion's bento."
            ),
            tags={TRAINING_TAG: config.name},
            executor_def=executors.of("train"),
        )
        # Rollback and manual promotion move the registry's aliases as for tabular
        # pipelines; the redeploy sensor then rebuilds the text bento and passport.
        text_decisions = [
            build_rollback_job(config, "text_champion"),
            build_promote_job(config.name, "text_champion"),
        ]
        text_deploy = deploy_job(
            config.name,
            "text_bento",
            "text_passport",
            "text champion",
            "a rollback or manual promotion",
        )
        jobs += [text_train_job, *text_decisions, text_deploy]
        sensors.append(build_redeploy_sensor(config.name, text_decisions, text_deploy))
        if config.monitoring is not None and partitions is not None:
            sensors.append(build_retrain_sensor(config, text_train_job, TEXT_SIGNALS))
    elif config.training is not None:
        assets += [
            *build_training_assets(config),
            *build_candidate_assets(config),
            *build_evaluation_assets(config),
            *build_explanation_assets(config),
            *build_champion_assets(config),
            *build_deployment_assets(config, partitions),
            *build_audit_assets(config),
        ]
        train_selection: AssetSelection = AssetSelection.assets(
            model_key(config.name, "champion_bento"), model_key(config.name, "passport")
        )
        if config.monitoring is not None:
            assets += build_reference_assets(config)
            if partitions is not None:
                assets += build_monitoring_assets(config, partitions)
            train_selection |= AssetSelection.assets(model_key(config.name, "reference_profile"))
        train = define_asset_job(
            train_job_name(config.name),
            selection=pipeline & AssetSelection.groups(MODELS_GROUP, EVALUATION_GROUP)
            | train_selection,
            description=(
                f"Trains `{config.name}`: training set as of the latest day, tuned "
                "candidates, challenger, evaluation, explanation, champion decision and "
                "the champion's bento."
            ),
            tags={TRAINING_TAG: config.name},
            executor_def=executors.of("train"),
        )
        rollback_job = build_rollback_job(config)
        promote_job = build_promote_job(config.name)
        deploy = deploy_job(
            config.name,
            "champion_bento",
            "passport",
            "champion",
            "a rollback, promotion or concluded experiment",
        )
        jobs += [train, rollback_job, promote_job, deploy]
        decisions = [rollback_job, promote_job]
        if config.serving.rollback.enabled:
            sensors.append(build_rollback_sensor(config, rollback_job))
        if partitions is not None:
            jobs.append(predict_job(config, partitions, executors.of("predict")))
            served = build_served_traffic_assets(config, partitions)
            assets += served
            served_job = served_traffic_job(config, partitions, [a.key for a in served])
            jobs.append(served_job)
            sensors.append(build_inference_log_sensor(config, served_job))
            if any(a.key == model_key(config.name, AB_TEST) for a in served):
                conclude = build_conclude_job(config.name)
                jobs.append(conclude)
                decisions.append(conclude)
                sensors.append(build_experiment_sensor(config, conclude))
        sensors.append(build_redeploy_sensor(config.name, decisions, deploy))
        if batches is not None:
            score = score_batch_job(config, batch_assets, batches)
            assets += batch_assets
            jobs.append(score)
            sensors.append(build_batch_sensor(config, score, batches))
        if config.monitoring is not None and partitions is not None:
            served_keys = [a.key for a in served]
            daily = daily_job(config, partitions, executors.of("daily"), served_keys)
            jobs.append(daily)
            sensors.append(build_retrain_sensor(config, train))
            if config.landing_folder is not None:
                sensors.append(build_arrival_sensor(config, daily))
    return Definitions(assets=assets, jobs=jobs, sensors=sensors, resources=resources)


def text_resources(config: PipelineConfig) -> dict[str, Any]:
    """A text pipeline's own resources: its LLM endpoint's key, as an EnvVar of the
    variable `text.llm.api_key_env` names (resolved when a run starts, shown by name)."""
    from dagster import EnvVar

    from resources.llm import LlmEndpointResource

    llm = config.text.llm if config.text else None
    if llm is None:
        return {}
    key = EnvVar(llm.api_key_env) if llm.api_key_env else None
    return {llm_resource_key(config.name): LlmEndpointResource(api_key=key)}
