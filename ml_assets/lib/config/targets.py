"""Pydantic models of a pipeline's target, one per problem type; `problem_type` picks the
model (binary classification when the key is omitted, see PipelineConfig)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Name, StrictModel


class BinaryTarget(StrictModel):
    """A yes/no label: `column op value` for each event; null where `column` is null."""

    problem_type: Literal["binary_classification"] = Field(
        "binary_classification", description="Kind of model trained (the default)."
    )
    name: Name = Field(description="Name of the label column in the features.")
    column: str = Field(description="Event column the label is derived from.")
    op: Literal[">=", ">", "<=", "<", "==", "!="] = Field(
        description="Comparison of `column` with `value` that makes the label true."
    )
    value: bool | float | str = Field(description="Value `column` is compared with.")

    @property
    def definition(self) -> str:
        """How the label is made, in words for the UI and the model card."""
        return f"{self.column} {self.op} {self.value}"


class MulticlassTarget(StrictModel):
    """One of several classes: a declared category column, or any column whose values
    `mapping` turns into class names. The classes, in order, are the column's `allowed`
    list (or the mapping's distinct values); a value outside them makes a row unlabelled."""

    problem_type: Literal["multiclass_classification"]
    name: Name = Field(description="Name of the label column in the features.")
    column: str = Field(description="Event column the class comes from.")
    mapping: dict[str, str] | None = Field(
        None, description="Column value (as text) -> class name; classes in first-seen order."
    )

    @property
    def definition(self) -> str:
        """How the label is made, in words for the UI and the model card."""
        mapped = " through `target.mapping`" if self.mapping else ""
        return f"the class of {self.column}{mapped}"


class RegressionTarget(StrictModel):
    """A number: a numeric event column predicted as it is, or through a transform that
    training applies and prediction inverts (`log1p` for counts and amounts)."""

    problem_type: Literal["regression"]
    name: Name = Field(description="Name of the target column in the features.")
    column: str = Field(description="Numeric event column to predict.")
    transform: Literal["none", "log1p"] = Field(
        "none", description="Fit on log1p(target) and invert with expm1 at prediction."
    )
    interval_level: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="Coverage of the prediction interval served with each value (split "
        "conformal: quantile of the absolute validation residuals).",
    )

    @property
    def definition(self) -> str:
        """How the target is made, in words for the UI and the model card."""
        fitted = (
            " (fitted on log1p, predicted back with expm1)" if self.transform == "log1p" else ""
        )
        return f"the value of {self.column}{fitted}"


class TextClassificationTarget(StrictModel):
    """One of several classes, predicted from a text column: the classes are the label
    column's `allowed` values (or the mapping's distinct values), like a multiclass target;
    `text_column` is the text the classifiers read, `metadata_columns` are event columns
    kept with each example (shown with the nearest examples, never a model input)."""

    problem_type: Literal["text_classification"]
    name: Name = Field(description="Name of the label column in the features.")
    column: str = Field(description="Event column the class comes from.")
    text_column: str = Field(description="Event column (type str) holding the text.")
    mapping: dict[str, str] | None = Field(
        None, description="Column value (as text) -> class name; classes in first-seen order."
    )
    metadata_columns: list[str] = Field(
        default_factory=list, description="Event columns kept with every example."
    )

    @property
    def definition(self) -> str:
        """How the label is made, in words for the UI and the model card."""
        mapped = " through `target.mapping`" if self.mapping else ""
        return f"the class of {self.column}{mapped}, from the text of {self.text_column}"


TargetConfig = Annotated[
    BinaryTarget | MulticlassTarget | RegressionTarget | TextClassificationTarget,
    Field(discriminator="problem_type"),
]
