"""Score raw events with a champion: the same feature code as training, then the model.

A serving bundle is a folder with everything a scorer needs and nothing else:
`model/` (the verified artifacts), `references/<source>.parquet` (validated reference
tables the features join), `pipeline_config.json` and `metadata.json`. The BentoML
service, batch predictions and the benchmark's peers all score through `Scorer`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .artifacts import LoadedModel, load_model
from .config.models import PipelineConfig
from .features import Columns, feature_columns, features_frame
from .problems import Calibration, Problem, ProblemKind, problem_for
from .reference_lookup import ReferenceLookup
from .typed_events import typed_columns, typed_events

MODEL_DIR = "model"
REFERENCES_DIR = "references"
CONFIG_FILE = "pipeline_config.json"
METADATA_FILE = "metadata.json"
BACKGROUND_FILE = "background.parquet"
# A model's reference profile: an MLflow artifact folder of the version's run, and the same
# folder inside its serving bundle (so monitoring reads it from the champion's bento).
REFERENCE_DIR = "reference"
REFERENCE_FILE = "reference.parquet"


def serving_columns(config: PipelineConfig) -> dict[str, Any]:
    """Event columns a caller sends: the schema minus leaky columns, the label's source and
    a static table's split column."""
    split = config.table.split_column if config.table else None
    hidden = {*config.features.forbidden_columns, config.target.column} | ({split} - {None})
    return {n: s for n, s in config.event_source.columns.items() if n not in hidden}


def write_bundle(
    folder: Path,
    model_folder: Path,
    config: PipelineConfig,
    references: Mapping[str, pd.DataFrame],
    metadata: Mapping[str, Any],
    background: pd.DataFrame | None = None,
) -> None:
    """Lay out a serving bundle; the model files are copied as they are (hashes intact).

    `background` is a sample of feature rows from training time, which model-agnostic
    explanations compare each request with.
    """
    shutil.copytree(model_folder, folder / MODEL_DIR)
    (folder / REFERENCES_DIR).mkdir(parents=True)
    for name, frame in references.items():
        frame.to_parquet(folder / REFERENCES_DIR / f"{name}.parquet", index=False)
    (folder / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    (folder / METADATA_FILE).write_text(json.dumps(dict(metadata), indent=2, default=str))
    if background is not None:
        background.to_parquet(folder / BACKGROUND_FILE, index=False)


def decision_threshold(metadata: Mapping[str, Any], config: PipelineConfig) -> float:
    """The threshold a bundle's model serves at: its metadata's, else the config's, else 0.5."""
    stored = metadata.get("threshold")
    if stored is not None:
        return float(stored)
    return config.promotion.threshold if config.promotion.threshold is not None else 0.5


def read_bundle_config(folder: Path) -> PipelineConfig:
    return PipelineConfig.model_validate_json((folder / CONFIG_FILE).read_text())


@dataclass
class Scorer:
    config: PipelineConfig
    loaded: LoadedModel
    references: dict[str, pd.DataFrame]
    metadata: dict[str, Any]
    background: pd.DataFrame | None = None
    _lookup_cache: list[ReferenceLookup] | None = field(default=None, repr=False)
    _array_input: bool = field(default=False, repr=False)

    @classmethod
    def from_bundle(cls, folder: Path) -> Scorer:
        metadata = json.loads((folder / METADATA_FILE).read_text())
        loaded = load_model(folder / MODEL_DIR, metadata.get("manifest_sha256"))
        if loaded.manifest.flavor == "xgboost":
            # One OpenMP thread: on a small request, waking a second thread costs more than
            # it saves, several times more when the cores are busy (one row under load: 16 ms
            # CPU with two threads, 2 ms with one). Predictions do not change.
            loaded.model.set_params(n_jobs=1)
        config = read_bundle_config(folder)
        references = {
            path.stem: pd.read_parquet(path) for path in (folder / REFERENCES_DIR).glob("*.parquet")
        }
        _check_unique_keys(references, config)
        background_file = folder / BACKGROUND_FILE
        background = pd.read_parquet(background_file) if background_file.exists() else None
        scorer = cls(config, loaded, references, metadata, background)
        scorer._lookups()  # index the reference tables once, at load, not on a request
        scorer._array_input = _takes_codes_array(loaded)
        return scorer

    @property
    def model_version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def threshold(self) -> float:
        """The model's decision threshold, as stored with it (chosen on validation or
        configured); a configured one, then 0.5, for bundles made before thresholds."""
        return decision_threshold(self.metadata, self.config)

    @cached_property
    def problem(self) -> Problem:
        return problem_for(self.config)

    @cached_property
    def calibration(self) -> Calibration:
        """What the model is served with: its threshold (binary) or interval (regression)."""
        served = Calibration.from_metadata(self.metadata)
        if self.problem.kind == ProblemKind.BINARY:
            return Calibration(threshold=self.threshold)
        return served

    def events_frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Records (already validated against the request model) typed as in training."""
        return typed_events(records, serving_columns(self.config))

    def events_from_columns(self, columns: Mapping[str, Sequence[Any] | None]) -> pd.DataFrame:
        """Columns (already validated against the columnar request model), typed as in
        training: the frame `events_frame` gives for the same rows; None is all missing."""
        return typed_columns(columns, serving_columns(self.config))

    def features(self, events: pd.DataFrame) -> pd.DataFrame:
        """The same features `build_features` gives, with the joins done by index lookup.

        Serving joins a handful of records against whole reference tables; a pandas merge
        per table per request was most of a record's scoring time. Each table's key is
        indexed once (`_lookups`), a join is a positional take of the matched rows, and the
        feature ops run on the joined columns without a joined DataFrame.
        """
        return features_frame(self._feature_columns(events))

    def _feature_columns(self, events: pd.DataFrame) -> dict[Any, pd.Series]:
        rows = pd.RangeIndex(len(events))
        if not events.index.equals(rows):
            events = events.reset_index(drop=True)
        columns = dict(events.items())
        for lookup in self._lookups():
            positions = lookup.positions([columns[key] for key in lookup.keys])
            for name, source in lookup.columns:
                taken = pd.api.extensions.take(source, positions, allow_fill=True)
                columns[name] = pd.Series(taken, index=rows, name=name, copy=False)
        return feature_columns(columns, self._joined_config, with_target=False)

    @cached_property
    def _joined_config(self) -> PipelineConfig:
        return self.config.model_copy(update={"joins": []})

    def _lookups(self) -> list[ReferenceLookup]:
        if self._lookup_cache is None:
            self._lookup_cache = [
                ReferenceLookup.of(self.references[join.source], join) for join in self.config.joins
            ]
        return self._lookup_cache

    def predictions(self, features: pd.DataFrame | Columns) -> np.ndarray:
        """The model's predictions in the problem type's shape (P(positive) for binary)."""
        model = self.loaded.model
        if self._array_input:
            # inplace_predict skips building a DMatrix, and an array skips XGBoost's own
            # conversion of a DataFrame: together most of a small request's model time.
            codes = self.loaded.spec.codes_array(features)
            raw = model.get_booster().inplace_predict(codes)
            return self.problem.from_booster(np.asarray(raw, dtype="float64"))
        if not isinstance(features, pd.DataFrame):
            features = features_frame(features)
        matrix = self.loaded.spec.matrix(features)
        if self.loaded.manifest.flavor == "xgboost":
            raw = model.get_booster().inplace_predict(matrix)
            return self.problem.from_booster(np.asarray(raw, dtype="float64"))
        return self.problem.predict(model, matrix)

    # The binary name of `predictions`, which benchmarks and peers call.
    probabilities = predictions

    def score(self, events: pd.DataFrame) -> pd.DataFrame:
        # The features' columns go to the model as they are: no features frame to build.
        predictions = self.predictions(self._feature_columns(events))
        return self._scored(predictions, pd.RangeIndex(len(predictions)))

    def score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """The served outputs (binary: probability and label) and the model version, for
        rows that already have features."""
        return self._scored(self.predictions(features), features.index)

    def _scored(self, predictions: np.ndarray, index: pd.Index) -> pd.DataFrame:
        outputs = self.problem.outputs(predictions, self.calibration)
        return pd.DataFrame({**outputs, "model_version": self.model_version}, index=index)

    def prepare_contributions(self) -> None:
        """Import what `contributions` needs now: shap (for a model that is not XGBoost)
        takes seconds to import, which a first /explain request should not pay."""
        if self.loaded.manifest.flavor != "xgboost":
            import shap  # noqa: F401

    def contributions(self, events: pd.DataFrame, top_k: int) -> list[list[dict[str, Any]]]:
        """Each record's `top_k` features by |contribution| to what the model explains:
        its log-odds (binary), its most probable class's margin (multiclass), its value on
        the fitted scale (regression). History features are shown with their values."""
        features = self.loaded.spec.with_history(self.features(events))
        if self.loaded.manifest.flavor == "xgboost":
            import xgboost

            matrix = xgboost.DMatrix(self.loaded.spec.matrix(features), enable_categorical=True)
            booster = self.loaded.model.get_booster()
            contributions = booster.predict(matrix, pred_contribs=True)
            if contributions.ndim == 3:  # multiclass: rows x classes x features+1
                chosen = self.predictions(features).argmax(axis=1)
                contributions = contributions[np.arange(len(chosen)), chosen]
            values = contributions[:, :-1]
        else:
            from .explain import shap_values

            explained = shap_values(
                self.loaded, None, features, sample=len(features), background=self.background
            )
            values = explained.values.to_numpy()
        names = self.loaded.spec.columns
        result = []
        for row, raw in zip(values, features[names].itertuples(index=False), strict=True):
            order = np.argsort(-np.abs(row))[:top_k]
            result.append(
                [
                    {"feature": names[i], "value": _plain(raw[i]), "contribution": float(row[i])}
                    for i in order
                ]
            )
        return result


def _takes_codes_array(loaded: LoadedModel) -> bool:
    """Whether the booster reads `FeatureSpec.codes_array` exactly as it reads `matrix`.

    XGBoost 3 stores the levels of each categorical feature and re-codes a DataFrame's
    categories to them; an array is taken as codes. Same names, same kinds and the same
    stored levels as the spec make the two inputs the same.
    """
    if loaded.manifest.flavor != "xgboost":
        return False
    spec = loaded.spec
    booster = loaded.model.get_booster()
    kinds = ["c" if name in spec.categorical else "float" for name in spec.columns]
    if booster.feature_names != spec.columns or booster.feature_types != kinds:
        return False
    try:
        stored = dict(booster.get_categories(export_to_arrow=True).to_arrow())
    except (ValueError, AttributeError):  # an older model without stored levels
        return False
    for name in spec.columns:
        levels = stored.get(name)
        expected = spec.categorical.get(name)
        if (None if levels is None else levels.to_pylist()) != expected:
            return False
    return True


def _check_unique_keys(references: Mapping[str, pd.DataFrame], config: PipelineConfig) -> None:
    """Duplicate join keys fail at load: requests only see the rows of their own keys."""
    for join in config.joins:
        table = references.get(join.source)
        if table is None:
            raise ValueError(f"the bundle has no reference table {join.source!r}")
        keys = list(join.keys.values())
        if table.duplicated(keys).any():
            raise ValueError(f"reference {join.source!r} has duplicate keys {keys}")


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
