"""What the daily monitoring assets share: their inputs, the champion they judge, the
severity of a verdict."""

import pandas as pd
from dagster import AssetCheckSeverity, AssetIn, Failure

from ml_assets.keys import model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.drift import ColumnKind
from ml_assets.lib.features import feature_kinds
from ml_assets.lib.refs import BentoRef


def day_inputs(config: PipelineConfig) -> dict[str, AssetIn]:
    return {
        "batch_predictions": AssetIn(model_key(config.name, "batch_predictions")),
        "champion_bento": AssetIn(model_key(config.name, "champion_bento")),
    }


def drift_kinds(config: PipelineConfig) -> dict[str, ColumnKind]:
    """The features a drift report compares, each numerical or categorical (history
    features are fitted with the model, not part of a day's features)."""
    return {
        name: "numerical" if kind == "numeric" else "categorical"
        for name, kind in feature_kinds(config, with_history=False).items()
    }


def judged_version(day: str, predictions: pd.DataFrame, champion_bento: BentoRef) -> str:
    """The champion whose predictions are judged; they must come from the bento's model."""
    served = str(champion_bento.model.version)
    made_by = set(predictions["model_version"].dropna().astype(str))
    if made_by - {served}:
        raise Failure(
            f"{day}: predictions were made by v{', v'.join(sorted(made_by))} but the champion "
            f"is v{served}: materialise batch_predictions for {day} again first"
        )
    return served


def severity(verdict: str) -> AssetCheckSeverity:
    return AssetCheckSeverity.ERROR if verdict == "error" else AssetCheckSeverity.WARN
