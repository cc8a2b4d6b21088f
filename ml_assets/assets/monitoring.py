"""Daily monitoring of the champion: drift of features and predictions, live performance.

Each is one partition per day with partitioned checks (warn and error severities), and
each records the model version it judged, so the retraining sensor counts only days
judged against the current champion.
"""

from dagster import AssetKey, AssetsDefinition, PartitionsDefinition

from ml_assets.assets.drift_monitoring import drift_report_asset
from ml_assets.assets.live_monitoring import live_performance_asset
from ml_assets.keys import features_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE


def build_monitoring_assets(
    config: PipelineConfig,
    partitions: PartitionsDefinition,
    features: AssetKey | None = None,
    partition_column: str = EVENT_DATE,
) -> list[AssetsDefinition]:
    """Drift and live performance of each partition of `features` (the pipeline's daily
    features, or a static table's scoring batches), the partition named in
    `partition_column` of their tables."""
    features = features or features_key(config.name)
    return [
        drift_report_asset(config, partitions, features, partition_column),
        live_performance_asset(config, partitions, partition_column),
    ]
