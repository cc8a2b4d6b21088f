"""The feature spec keeps column order and category levels through JSON."""

import pandas as pd
import pytest

from ml_assets.lib.feature_spec import FeatureSpec

FRAME = pd.DataFrame(
    {
        "distance": [100, 200, None],
        "origin": ["JFK", "LGA", "EWR"],
        "dest": ["BOS", None, "ATL"],
        "delayed": [True, False, None],
    }
)
KINDS = {"distance": "numeric", "origin": "categorical", "dest": "categorical"}


def test_json_round_trip_keeps_column_order() -> None:
    spec = FeatureSpec.fit(FRAME, KINDS, "delayed")  # type: ignore[arg-type]
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert again.columns == ["distance", "origin", "dest"]  # not alphabetical
    assert list(again.matrix(FRAME).columns) == spec.columns


def test_unseen_category_becomes_missing_and_absent_column_is_named() -> None:
    spec = FeatureSpec.fit(FRAME, KINDS, "delayed")  # type: ignore[arg-type]
    new = FRAME.assign(origin=["XXX", "JFK", "EWR"])
    matrix = spec.matrix(new)
    assert pd.isna(matrix["origin"][0]) and matrix["origin"][1] == "JFK"
    assert list(matrix["dest"].cat.categories) == ["ATL", "BOS"]
    with pytest.raises(KeyError, match="dest"):
        spec.matrix(FRAME.drop(columns=["dest"]))


def test_labels_refuse_missing_values() -> None:
    spec = FeatureSpec.fit(FRAME, KINDS, "delayed")  # type: ignore[arg-type]
    assert spec.labels(FRAME.head(2)).tolist() == [1, 0]
    with pytest.raises(ValueError, match="1 rows have no label"):
        spec.labels(FRAME)
