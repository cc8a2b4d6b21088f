"""Pipeline configuration: models, loading and cross-reference checks (no Dagster here)."""

from .loader import (
    ConfigError,
    PipelineFolder,
    config_hash,
    load_pipeline_config,
    load_pipeline_folder,
    pipeline_files,
)
from .models import ColumnSpec, ColumnType, PipelineConfig, SourceConfig
from .references import available_columns

__all__ = [
    "ColumnSpec",
    "ColumnType",
    "ConfigError",
    "PipelineConfig",
    "PipelineFolder",
    "SourceConfig",
    "available_columns",
    "config_hash",
    "load_pipeline_config",
    "load_pipeline_folder",
    "pipeline_files",
]
