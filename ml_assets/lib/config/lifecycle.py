"""Config of the model lifecycle: candidates and tuning, training, promotion, serving."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import StrictModel
from .experiment import ExperimentConfig
from .rollback import RollbackConfig


class SearchParam(StrictModel):
    """One tunable hyper-parameter: a float/int range (optionally log-scaled) or choices."""

    type: Literal["float", "int", "categorical"] = Field(
        description="A float or int range, or categorical choices."
    )
    low: float | None = Field(None, description="Lower bound of a float/int range.")
    high: float | None = Field(None, description="Upper bound of a float/int range.")
    log: bool = Field(False, description="Sample the range on a log scale (needs `low` > 0).")
    choices: list[str | int | float | bool] | None = Field(
        None, description="Values a categorical parameter takes."
    )

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs non-empty 'choices'")
        elif self.low is None or self.high is None or self.low >= self.high:
            raise ValueError("a float/int parameter needs 'low' < 'high'")
        elif self.log and self.low <= 0:
            raise ValueError("a log-scaled parameter needs 'low' > 0")
        return self


# The MLP and the stacking ensemble (of the run's other tuned scikit-learn candidates) are
# opt-in: like every family, they are trained only when listed.
CandidateFamily = Literal[
    "logistic_regression",
    "ridge",
    "hist_gradient_boosting",
    "xgboost",
    "random_forest",
    "mlp",
    "stacking",
    "embedding_classifier",
    "tfidf_logistic_regression",
    "llm_few_shot",
]


_CLASSIFICATION = frozenset({"binary_classification", "multiclass_classification"})
_EVERY_TYPE = frozenset({*_CLASSIFICATION, "regression"})
# Which families apply to which problem type.
FAMILIES_BY_KIND: dict[str, frozenset[str]] = {
    "logistic_regression": _CLASSIFICATION,
    "ridge": frozenset({"regression"}),
    "hist_gradient_boosting": _EVERY_TYPE,
    "xgboost": _EVERY_TYPE,
    "random_forest": _EVERY_TYPE,
    "mlp": _EVERY_TYPE,
    "stacking": _EVERY_TYPE,
    # Text classification reads the text itself: its own families, none of the tabular ones.
    "embedding_classifier": frozenset({"text_classification"}),
    "tfidf_logistic_regression": frozenset({"text_classification"}),
    "llm_few_shot": frozenset({"text_classification"}),
}


class CandidateConfig(StrictModel):
    """One model family: its fixed hyper-parameters and the ones Optuna tunes."""

    enabled: bool = Field(True, description="Whether this family is trained at all.")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Fixed hyper-parameters."
    )
    search_space: dict[str, SearchParam] = Field(
        default_factory=dict, description="Hyper-parameters Optuna tunes."
    )


class TuningConfig(StrictModel):
    """Optuna's hyper-parameter search, run once per candidate family."""

    n_trials: int = Field(20, ge=1, description="Trials per candidate family.")
    timeout_seconds: float | None = Field(
        3600,
        gt=0,
        description="Safety net only: a family's tuning stops after this many seconds even "
        "with trials left, and the candidates' metadata says so. The budget is `n_trials`, "
        "so the same seed gives the same trials on a busy or an idle machine.",
    )
    storage: str | None = Field(
        None,
        description="Optuna RDB URL for a shared study. Unset: in memory, or in the production "
        "profile the platform's study database (`<MLAP_DATABASE_URL's database>_optuna`).",
    )
    pruning_warmup_steps: int = Field(
        5, ge=0, description="Intermediate reports before a trial may be pruned."
    )
    prune_after_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A boosted trial may be pruned only once it has grown this share of its "
        "rounds: a slow learning rate starts behind and can finish ahead, so judging it on "
        "its first rounds keeps only the fast (and overfitting) ones. 0: from the warm-up on.",
    )


class TrainingConfig(StrictModel):
    """Training windows and candidate models. Train, validation and test windows are back to
    back and end on `as_of`."""

    as_of: date | None = Field(
        None, description="Last day of the test window; the latest materialised day if unset."
    )
    train_days: Annotated[int, Field(ge=1)] | Literal["all"] = Field(
        120,
        description="Days in the training window, or `all`: from the first materialised day.",
    )
    validation_days: int = Field(
        21, ge=1, description="Days in the validation window (tuning, threshold, quality gates)."
    )
    test_days: int = Field(21, ge=1, description="Days in the test window, ending on `as_of`.")
    max_train_rows: int | None = Field(
        None,
        ge=100,
        description="Opt-in cap: sample the training window down to this many rows "
        "(unset: every row of the window is trained on).",
    )
    validation_folds: int = Field(
        1,
        ge=1,
        le=12,
        description="Rolling-origin validation: back-to-back folds the size of the "
        "validation window, the last being the validation window; each tuned family is "
        "refit on the training days before each fold and scored on it.",
    )
    selection: Literal["mean", "worst_fold"] = Field(
        "mean",
        description="How candidates are ranked over the folds: best mean score, or best "
        "worst-fold score (ties broken by the mean).",
    )
    refit_on_validation: bool = Field(
        True,
        description="Refit each candidate with its tuned parameters on train + validation "
        "before the test window and the decision (its threshold and interval are still "
        "chosen on validation predictions of the train-only fit).",
    )
    seed: int = Field(42, description="Seeds Optuna's sampler, the models and the sampling.")
    tuning: TuningConfig = TuningConfig()
    candidates: dict[CandidateFamily, CandidateConfig] = Field(
        min_length=1,
        description="Model families to train; at least one enabled. Classification: "
        "logistic_regression, hist_gradient_boosting, xgboost, random_forest, mlp; regression: "
        "ridge, hist_gradient_boosting, xgboost, random_forest, mlp; any: stacking (an "
        "ensemble of the other tuned scikit-learn candidates, not tuned itself); text "
        "classification: embedding_classifier (a logistic head on the encoder's embeddings, "
        "with the nearest examples), tfidf_logistic_regression, llm_few_shot (an LLM asked "
        "with a prompt template and the most similar examples; needs `text.llm`).",
    )
    slice_columns: list[str] = Field(
        default_factory=list, description="Feature or entity columns to report metrics by."
    )

    @model_validator(mode="after")
    def _folds_leave_training_days(self) -> TrainingConfig:
        earlier = (self.validation_folds - 1) * self.validation_days
        if self.train_days != "all" and earlier >= self.train_days:
            raise ValueError(
                f"validation_folds {self.validation_folds} take {earlier} of the "
                f"{self.train_days} training days for earlier folds, leaving none to fit "
                "the oldest fold on"
            )
        return self

    @model_validator(mode="after")
    def _some_candidate_enabled(self) -> TrainingConfig:
        if not any(c.enabled for c in self.candidates.values()):
            raise ValueError("at least one candidate must be enabled")
        return self


Baseline = Literal["majority_class", "default_logistic_regression"]
BASELINES: tuple[Baseline, ...] = ("majority_class", "default_logistic_regression")


class PromotionConfig(StrictModel):
    """When a challenger replaces the champion (a paired test of the problem type's primary
    metric on test - ROC AUC, one-vs-rest ROC AUC or RMSE -, a margin and blocking quality
    gates), and the threshold at which a probability becomes label 1 (binary)."""

    margin: float = Field(
        0.002,
        ge=0,
        description="Primary metric the challenger must gain over the champion (ROC AUC; "
        "for regression, RMSE in the target's units).",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the paired test.")
    method: Literal["bootstrap", "delong"] = Field(
        "bootstrap",
        description="Paired test of the ROC AUC difference: a bootstrap confidence interval, "
        "or DeLong's test (binary only; other types always use the bootstrap).",
    )
    bootstrap_resamples: int = Field(1000, ge=1000, description="Resamples of the bootstrap test.")
    threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Probability at which label = 1. Unset: chosen on the validation window "
        "for `threshold_objective` and stored with the model.",
    )
    threshold_objective: Literal["f1", "cost"] = Field(
        "f1",
        description="What the chosen threshold optimises on validation: F1 of the positive "
        "class, or the expected cost at `false_positive_cost` / `false_negative_cost`.",
    )
    false_positive_cost: float = Field(1.0, ge=0, description="Cost of one false positive.")
    false_negative_cost: float = Field(1.0, ge=0, description="Cost of one false negative.")
    baselines: list[Baseline] = Field(
        default_factory=lambda: list(BASELINES),
        description="Untuned baselines the challenger must beat on validation (a blocking "
        "check); an empty list switches the gate off.",
    )
    min_validation_roc_auc: float | None = Field(
        None,
        ge=0,
        description="Floor the challenger's validation primary metric must clear before any "
        "decision (for regression: a ceiling on RMSE).",
    )


class InferenceLogConfig(StrictModel):
    """The service's record of every scored record (request id, time, model, arm, inputs,
    outputs, latency), buffered in memory and written to the lake as daily Parquet files
    by a background thread. It is on when the server has `MLAP_INFERENCE_LOG_URL` (the
    lake's base URL; `mlap serve` passes its lake) and `enabled` is true."""

    enabled: bool = Field(
        True, description="Log scored records when the server is given a lake to log to."
    )
    flush_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds between writes of the buffer (sooner once half of "
        "`max_buffered_records` is buffered); a crash loses at most this much of the log "
        "(a clean shutdown writes what is buffered).",
    )
    max_buffered_records: int = Field(
        100_000,
        ge=1,
        description="Records the buffer holds between writes; past it the oldest are "
        "dropped and counted (`mlap_inference_log_dropped_total` in /metrics), never an "
        "answer delayed or failed.",
    )
    settle_seconds: float = Field(
        60.0,
        ge=0,
        description="The inference-log sensor ingests a day once no new log file for it "
        "has been written for this long, so a day still being served is not re-read at "
        "every write.",
    )


class ServingConfig(StrictModel):
    """The champion's BentoML service."""

    max_batch_size: int = Field(1000, ge=1, description="Most records in one request.")
    max_record_bytes: int = Field(
        4096,
        ge=64,
        description="Bytes a record may take in a request body: a scoring request's body is "
        "refused with 413 before parsing when it exceeds max_batch_size x max_record_bytes "
        "+ 4096 bytes.",
    )
    explain_max_batch_size: int | None = Field(
        None,
        ge=1,
        description="Most records in one /explain request; unset, the service measures its "
        "own explanation cost at start-up and allows what fits in explain_budget_seconds "
        "(at most max_batch_size).",
    )
    explain_budget_seconds: float = Field(
        2.0,
        gt=0,
        description="Time one /explain request may cost when explain_max_batch_size is "
        "unset (what sets the measured limit).",
    )
    explain_top_k: int = Field(5, ge=1, description="Contributions returned per record.")
    api_key_env: str = Field(
        "MLAP_API_KEY",
        description="When this environment variable is set, /predict, /explain and "
        "/metadata require its value in the X-API-Key header.",
    )
    workers: int = Field(1, ge=1, description="BentoML worker processes.")
    inference_log: InferenceLogConfig = InferenceLogConfig()
    experiment: ExperimentConfig = ExperimentConfig()
    rollback: RollbackConfig = RollbackConfig()
    entity_key: list[str] | None = Field(
        None,
        min_length=1,
        description="Request fields that identify an event: served records are joined on "
        "them to the labelled rows of their day. Unset: the event source's primary key, "
        "when every column of it is a request field.",
    )
