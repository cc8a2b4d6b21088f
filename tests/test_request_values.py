"""Tier 1: the request models refuse a value for what it is, naming the field: a NaN or an
infinite number is not a finite number (not "over 3.4e38"), and an empty text in a required
text field is refused (the platform reads an empty text as missing everywhere)."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from ml_assets.lib.config import load_pipeline_config
from ml_assets.lib.request_model import columns_model, record_model

YAML = """
name: tiny
sources:
  events:
    connector: {kind: csv, path: events.csv}
    columns:
      "Seen At": {type: datetime}
      outcome: {type: bool}
      "col.rate": {type: float, min: 0}
      level: {type: float, nullable: true}
      "Clinic Name": {type: str}
      note: {type: str, nullable: true}
partitioning: {source: events, time_column: "Seen At", start_date: 2020-01-01}
target: {name: label, column: outcome, op: "==", value: true}
features:
  definitions:
    rate: {op: passthrough, column: "col.rate"}
    level: {op: passthrough, column: level}
    clinic: {op: passthrough, column: "Clinic Name"}
    note: {op: passthrough, column: note}
"""
RECORD = {
    "Seen At": "2020-01-02T10:00:00Z",
    "col.rate": 1.5,
    "level": None,
    "Clinic Name": "ward a",
    "note": None,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[type[BaseModel], type[BaseModel]]:
    folder: Path = tmp_path_factory.mktemp("tiny")
    (folder / "tiny.yaml").write_text(YAML)
    config = load_pipeline_config(folder / "tiny.yaml")
    return record_model(config), columns_model(config)


def _errors(
    models: tuple[type[BaseModel], type[BaseModel]], field: str, value: Any
) -> list[tuple[str, tuple[Any, ...]]]:
    record, columns = models
    found = []
    with pytest.raises(ValidationError) as one:
        record.model_validate({**RECORD, field: value})
    found += [(e["type"], e["loc"]) for e in one.value.errors()]
    with pytest.raises(ValidationError) as many:
        columns.model_validate({name: [v] for name, v in {**RECORD, field: value}.items()})
    found += [(e["type"], e["loc"]) for e in many.value.errors()]
    return found


@pytest.mark.parametrize("field", ["col.rate", "level"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_nan_or_infinite_number_is_refused_as_not_finite(
    models: tuple[type[BaseModel], type[BaseModel]], field: str, value: float
) -> None:
    assert _errors(models, field, value) == [
        ("finite_number", (field,)),
        ("finite_number", (field, 0)),
    ]


def test_an_empty_text_is_refused_in_a_required_field_and_missing_in_a_nullable_one(
    models: tuple[type[BaseModel], type[BaseModel]],
) -> None:
    assert _errors(models, "Clinic Name", "") == [
        ("string_too_short", ("Clinic Name",)),
        ("string_too_short", ("Clinic Name", 0)),
    ]
    record, columns = models
    assert record.model_validate({**RECORD, "note": ""}).model_dump(by_alias=True)["note"] == ""
    assert columns.model_validate({k: [v] for k, v in {**RECORD, "note": ""}.items()})
