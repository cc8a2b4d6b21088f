"""The service's response bodies, by problem type: predictions by record or by column,
explanations. The pipeline's problem type picks the shape when the service loads, so the
OpenAPI page documents the fields a client really gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pandas as pd
from bentoml.validators import ContentType
from pydantic import BaseModel, Field, TypeAdapter, create_model

from ml_assets.lib.problems import Problem, ProblemKind

VERSION_FIELD = (str, Field(description="Registered version of the model that scored it."))
Arm = Literal["champion", "challenger"]
ARM_FIELD: tuple[Any, Any] = (
    Arm,
    Field(
        description="Which model answered: the champion, or in an A/B experiment the "
        "challenger (model_version says which version).",
    ),
)
ARMS_FIELD: tuple[Any, Any] = (
    list[Arm],
    Field(description="Per row, which model answered: champion or challenger (A/B)."),
)
CHALLENGER_VERSION_FIELD: tuple[Any, Any] = (
    str | None,
    Field(
        None,
        description="Registered version of the challenger that answered the rows whose arm "
        "is `challenger`; null when none did (model_version answered the others).",
        # BentoML's OpenAPI keeps the first branch of `anyOf` (string) and drops the null:
        # OpenAPI 3.0's own flag keeps null valid.
        json_schema_extra={"nullable": True},
    ),
)


class Prediction(BaseModel):
    probability: float = Field(description="Probability that the label is true.")
    label: bool = Field(
        description="Probability at or above the model's decision threshold (see /metadata)."
    )
    model_version: str = Field(description="Registered version of the model that scored it.")
    arm: Arm = ARM_FIELD[1]


class RegressionPrediction(BaseModel):
    prediction: float = Field(description="Predicted value, in the target's own units.")
    lower: float | None = Field(
        description="Lower end of the prediction interval (level in /metadata)."
    )
    upper: float | None = Field(description="Upper end of the prediction interval.")
    model_version: str = Field(description="Registered version of the model that scored it.")
    arm: Arm = ARM_FIELD[1]


class ColumnPredictions(BaseModel):
    """The predictions of `/predict_columns`: one list per output, in the rows' order.

    Returned as a model, not wrapped in `Annotated[..., ContentType(...)]` as the record
    predictions are: BentoML gives a model output the fixed media type application/json
    without any schema work and writes it with `model_dump_json` (0.1 ms for 1000 rows).
    The annotation would make it a root model, written with `json.dumps(model_dump())`.
    """

    probability: list[float] = Field(description="Per row, probability that the label is true.")
    label: list[bool] = Field(description="Per row, probability at or above the threshold.")
    model_version: str = Field(description="Registered version of the model that scored them.")
    arm: list[Arm] = ARMS_FIELD[1]
    challenger_version: str | None = CHALLENGER_VERSION_FIELD[1]


class RegressionColumns(BaseModel):
    """The predictions of `/predict_columns` for a regression: one list per output."""

    prediction: list[float] = Field(description="Per row, the predicted value.")
    lower: list[float | None] = Field(description="Per row, the interval's lower end.")
    upper: list[float | None] = Field(description="Per row, the interval's upper end.")
    model_version: str = Field(description="Registered version of the model that scored them.")
    arm: list[Arm] = ARMS_FIELD[1]
    challenger_version: str | None = CHALLENGER_VERSION_FIELD[1]


class Contribution(BaseModel):
    feature: str
    value: Any = Field(description="The feature's value for this record.")
    contribution: float = Field(
        description="Contribution to what the model explains: the log-odds of the label "
        "(binary), the margin of the predicted class (multiclass), the value on the fitted "
        "scale (regression)."
    )


@dataclass(frozen=True)
class ResponseShape:
    """The response models of one problem type, and how a scored frame fills them."""

    problem: Problem
    prediction: type[BaseModel]
    columns: type[BaseModel]
    explanation: type[BaseModel]

    def records(
        self, scored: pd.DataFrame, version: str, arm: str = "champion"
    ) -> list[dict[str, Any]]:
        """One plain dict per scored row (a prediction body without validation)."""
        kind = self.problem.kind
        if kind == ProblemKind.BINARY:
            pairs = zip(scored["probability"].tolist(), scored["label"].tolist(), strict=True)
            return [
                {"probability": p, "label": y, "model_version": version, "arm": arm}
                for p, y in pairs
            ]
        if kind == ProblemKind.REGRESSION:
            return [
                {"prediction": p, "lower": lo, "upper": hi, "model_version": version, "arm": arm}
                for p, lo, hi in zip(*(_values(scored, c) for c in _REGRESSION), strict=True)
            ]
        named = {c: scored[f"probability[{c}]"].tolist() for c in self.problem.classes}
        return [
            {
                "label": label,
                "probability": p,
                "probabilities": {c: values[i] for c, values in named.items()},
                "model_version": version,
                "arm": arm,
            }
            for i, (label, p) in enumerate(
                zip(scored["label"].tolist(), scored["probability"].tolist(), strict=True)
            )
        ]

    def column_values(
        self,
        scored: pd.DataFrame,
        version: str,
        arms: list[str] | None = None,
        challenger_version: str | None = None,
    ) -> dict[str, Any]:
        """The body of `/predict_columns`: one list per output (`arms`: per row, the arm
        that answered; all the champion's when not given)."""
        kind = self.problem.kind
        answered = {
            "model_version": version,
            "arm": arms if arms is not None else ["champion"] * len(scored),
            "challenger_version": challenger_version,
        }
        if kind == ProblemKind.REGRESSION:
            return {c: _values(scored, c) for c in _REGRESSION} | answered
        values: dict[str, Any] = {
            "probability": scored["probability"].tolist(),
            "label": scored["label"].tolist(),
        }
        if kind == ProblemKind.MULTICLASS:
            values["probabilities"] = {
                c: scored[f"probability[{c}]"].tolist() for c in self.problem.classes
            }
        return values | answered


_REGRESSION = ("prediction", "lower", "upper")


def _values(scored: pd.DataFrame, column: str) -> list[Any]:
    if column not in scored:
        return [None] * len(scored)
    return [None if pd.isna(v) else float(v) for v in scored[column].tolist()]


def response_shape(problem: Problem) -> ResponseShape:
    """The response models of `problem`'s type (multiclass ones name its classes)."""
    prediction: type[BaseModel]
    columns: type[BaseModel]
    if problem.kind == ProblemKind.BINARY:
        prediction, columns = Prediction, ColumnPredictions
    elif problem.kind == ProblemKind.REGRESSION:
        prediction, columns = RegressionPrediction, RegressionColumns
    else:
        prediction, columns = _multiclass_models(problem.classes)
    explanation = create_model(
        f"{prediction.__name__}Explanation",
        __base__=prediction,
        contributions=(list[Contribution], ...),
    )
    return ResponseShape(problem, prediction, columns, explanation)


def _multiclass_models(classes: tuple[str, ...]) -> tuple[type[BaseModel], type[BaseModel]]:
    label_type: Any = Literal[classes]
    prediction = create_model(
        "MulticlassPrediction",
        label=(label_type, Field(description="The most probable class.")),
        probability=(float, Field(description="Probability of that class.")),
        probabilities=(dict[str, float], Field(description="Probability of every class.")),
        model_version=VERSION_FIELD,
        arm=ARM_FIELD,
    )
    columns = create_model(
        "MulticlassColumns",
        __doc__="The predictions of `/predict_columns` for a multiclass model.",
        label=(list[label_type], Field(description="Per row, the most probable class.")),
        probability=(list[float], Field(description="Per row, that class's probability.")),
        probabilities=(
            dict[str, list[float]],
            Field(description="Per class, its probability for every row."),
        ),
        model_version=VERSION_FIELD,
        arm=ARMS_FIELD,
        challenger_version=CHALLENGER_VERSION_FIELD,
    )
    return prediction, columns


def listed(model: type[BaseModel]) -> tuple[TypeAdapter[Any], Any]:
    """A validator of a list of `model`, and the route annotation that declares it."""
    return TypeAdapter(list[model]), Annotated[list[model], ContentType("application/json")]  # type: ignore[valid-type]


# What /metadata tells of the served model, from the bundle's metadata.
_METADATA_KEYS = (
    "pipeline",
    "version",
    "family",
    "windows",
    "test_metrics",
    "decision",
    "schema",
    "manifest_sha256",
    "mlflow_run_id",
    "problem_type",
    "classes",
    "threshold",
    "threshold_reason",
    "interval_halfwidth",
    "interval_level",
    "passport_id",
)


def served_metadata(
    bundle: Mapping[str, Any], explain_limit: int, experiment: Mapping[str, Any] | None
) -> dict[str, Any]:
    """/metadata's answer: the served model's record, the explain batch limit and the
    experiment the bento runs (None when it runs none)."""
    return {"explain_max_batch_size": explain_limit, "experiment": experiment} | {
        key: bundle.get(key) for key in _METADATA_KEYS
    }
