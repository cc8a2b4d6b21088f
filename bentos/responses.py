"""The service's response bodies: predictions by record or by column, explanations."""

from __future__ import annotations

from typing import Annotated, Any

from bentoml.validators import ContentType
from pydantic import BaseModel, Field, TypeAdapter


class Prediction(BaseModel):
    probability: float = Field(description="Probability that the label is true.")
    label: bool = Field(
        description="Probability at or above the model's decision threshold (see /metadata)."
    )
    model_version: str = Field(description="Registered version of the model that scored it.")


PREDICTION_LIST = TypeAdapter(list[Prediction])
# A declared content type: otherwise BentoML derives it from the output's JSON schema,
# which it generates again for every response (a fifth of the event loop's time).
Predictions = Annotated[list[Prediction], ContentType("application/json")]


class ColumnPredictions(BaseModel):
    """The predictions of `/predict_columns`: one list per output, in the rows' order.

    Returned as a model, not wrapped in `Annotated[..., ContentType(...)]` as `Predictions`
    is: BentoML gives a model output the fixed media type application/json without any
    schema work and writes it with `model_dump_json` (0.1 ms for 1000 rows). The annotation
    would make it a root model, written with `json.dumps(model_dump())` (0.8 ms).
    """

    probability: list[float] = Field(description="Per row, probability that the label is true.")
    label: list[bool] = Field(description="Per row, probability at or above the threshold.")
    model_version: str = Field(description="Registered version of the model that scored them.")


class Contribution(BaseModel):
    feature: str
    value: Any = Field(description="The feature's value for this record.")
    contribution: float = Field(description="Contribution to the log-odds of the label.")


class Explanation(Prediction):
    contributions: list[Contribution]


Explanations = Annotated[list[Explanation], ContentType("application/json")]
