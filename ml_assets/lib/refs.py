"""Typed pointers that flow between the model assets: small, frozen, stored as JSON.

A model asset hands its reader one of these instead of a one-row DataFrame: the reader gets
fields with names and types, and the JSON store keeps them readable outside Python.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelRef:
    """A model's files in the registry: the MLflow run that logged them under `model/` and
    the sha256 of their manifest; `version` once registered in the pipeline's MLflow model."""

    pipeline: str
    family: str
    mlflow_run_id: str
    manifest_sha256: str
    version: str | None = None
    # The problem type's primary metric on the validation window (e.g. roc_auc, rmse).
    validation_score: float | None = None
    metric: str = "roc_auc"
    params: dict[str, Any] = field(default_factory=dict)
    # Chosen on validation (or configured) and served with the model: the probability at
    # which a binary label is true; a regression interval's half-width (fitted scale).
    threshold: float | None = 0.5
    threshold_reason: str = ""
    interval_halfwidth: float | None = None
    interval_level: float | None = None
    # The windows the saved model was fitted on: "train", or "train+validation" (refit
    # after tuning; its threshold and interval still come from the train-only fit).
    fitted_on: str = "train"

    def registered_as(self, version: str) -> ModelRef:
        return dataclasses.replace(self, version=str(version))

    @property
    def label(self) -> str:
        return f"{self.pipeline} v{self.version} ({self.family})" if self.version else self.family

    def calibration_metadata(self) -> dict[str, float]:
        """What is served with the model besides its files (threshold, interval)."""
        values = {
            "threshold": self.threshold,
            "interval_halfwidth": self.interval_halfwidth,
            "interval_level": self.interval_level,
        }
        return {k: float(v) for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Candidate:
    """One tuned model family: its model and how the tuning went."""

    model: ModelRef
    trials: int
    trials_pruned: int
    tuning_seconds: float
    # The tuning's safety-net timeout stopped it before its trial budget.
    timed_out: bool = False
    # Primary metric on each rolling-origin fold, oldest first, the validation window
    # last; the score candidates are ranked by (their mean or worst fold).
    fold_scores: list[float] = field(default_factory=list)
    selection_score: float | None = None
    # Primary metric on the test window of the model as saved (reported, never ranked by).
    test_score: float | None = None


@dataclass(frozen=True)
class CandidateSet:
    """The tuned candidates of one training, best validation score first."""

    mlflow_run_id: str
    candidates: tuple[Candidate, ...]
    # Validation score (the primary metric) of the untuned baselines to beat.
    baselines: dict[str, float] = field(default_factory=dict)

    def best(self) -> Candidate:
        return self.candidates[0]

    def family(self, name: str) -> Candidate | None:
        return next((c for c in self.candidates if c.model.family == name), None)

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per candidate, for tables in the UI and the CLI."""
        return [
            {
                "family": c.model.family,
                f"validation_{c.model.metric}": c.model.validation_score,
                "folds": ", ".join(f"{s:.4f}" for s in c.fold_scores),
                "selection_score": c.selection_score,
                f"test_{c.model.metric}": c.test_score,
                "trials": c.trials,
                "trials_pruned": c.trials_pruned,
                "tuning_seconds": c.tuning_seconds,
                "timed_out": c.timed_out,
            }
            for c in self.candidates
        ]


@dataclass(frozen=True)
class Decision:
    """A champion decision (promote, keep) or a rollback, with both versions and the reason."""

    action: str
    pipeline: str
    challenger_version: str | None
    champion_version_before: str | None
    champion_version_after: str | None
    reason: str
    details: dict[str, Any]  # the paired test's numbers (recorded as `test.<name>`)
    decided_at: str
    manual: bool = False  # a person's override (`mlap promote`), not the training's rule
    requested_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Flat and plain: what the decision log, the MLflow tags and alerts record."""
        plain = {k: v for k, v in dataclasses.asdict(self).items() if k != "details"}
        return plain | {f"test.{k}": v for k, v in self.details.items()}


@dataclass(frozen=True)
class ChampionRef:
    """The outcome of a champion decision: the decision and the champion after it."""

    decision: Decision
    champion: ModelRef | None


@dataclass(frozen=True)
class BentoRef:
    """The bento that serves a champion, the BentoML model (serving bundle) it packages,
    and its generated Dockerfile."""

    tag: str
    model_tag: str
    model: ModelRef
    built: bool
    dockerfile: str
    dockerfile_sha256: str


@dataclass(frozen=True)
class TextChampionRef:
    """A text pipeline's champion decision and the champion after it: the BentoML model
    holding its verified text bundle (None until a first promotion), its family, encoder,
    the example store version of the decision and the champion's registered version."""

    decision: Decision
    model_tag: str | None
    family: str | None
    encoder: str | None
    example_store_version: str | None
    champion: ModelRef | None = None


@dataclass(frozen=True)
class TextBentoRef:
    """The bento serving a text pipeline's champion (`bentos.text_service`)."""

    tag: str
    model_tag: str
    built: bool


@dataclass(frozen=True)
class PassportRef:
    """Where a champion version's audit passport was written."""

    passport_id: str
    model_version: str
    path: str
    missing_items: int


REF_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ModelRef,
        Candidate,
        CandidateSet,
        Decision,
        ChampionRef,
        BentoRef,
        PassportRef,
        TextChampionRef,
        TextBentoRef,
    )
}


def to_document(value: Any) -> dict[str, Any]:
    """`{"type": "ModelRef", "value": {...}}`: the JSON form the ref store writes."""
    name = type(value).__name__
    if REF_TYPES.get(name) is not type(value) or not dataclasses.is_dataclass(value):
        raise TypeError(f"not a typed ref: {type(value).__name__}")
    return {"type": name, "value": dataclasses.asdict(value)}  # type: ignore[arg-type]


def from_document(document: dict[str, Any]) -> Any:
    """The typed value back from its JSON form; a clear error for an unknown type."""
    name = document.get("type")
    if name not in REF_TYPES:
        raise ValueError(f"unknown ref type {name!r}; known: {', '.join(sorted(REF_TYPES))}")
    return _build(REF_TYPES[name], document["value"])


_NESTED: dict[tuple[type, str], type] = {
    (Candidate, "model"): ModelRef,
    (ChampionRef, "decision"): Decision,
    (ChampionRef, "champion"): ModelRef,
    (BentoRef, "model"): ModelRef,
    (TextChampionRef, "decision"): Decision,
    (TextChampionRef, "champion"): ModelRef,
}


def _build(cls: type, values: dict[str, Any]) -> Any:
    kwargs = dict(values)
    for (owner, name), nested in _NESTED.items():
        if owner is cls and kwargs.get(name) is not None:
            kwargs[name] = _build(nested, kwargs[name])
    if cls is CandidateSet:
        kwargs["candidates"] = tuple(_build(Candidate, c) for c in kwargs["candidates"])
    return cls(**kwargs)
