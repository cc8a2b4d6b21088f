"""Pipeline configuration: models, loading and cross-reference checks (no Dagster here)."""

from .loader import ConfigError, config_hash, load_pipeline_config
from .models import ColumnSpec, ColumnType, PipelineConfig, SourceConfig
from .references import available_columns

__all__ = [
    "ColumnSpec",
    "ColumnType",
    "ConfigError",
    "PipelineConfig",
    "SourceConfig",
    "available_columns",
    "config_hash",
    "load_pipeline_config",
]
