"""Text classification: a multiclass problem read from a text column. Predictions, metrics
(per class precision, recall and support), the paired test and the plots are the
multiclass ones; what differs is the input (the text) and the candidate families."""

from __future__ import annotations

from .base import ProblemKind
from .multiclass import MulticlassProblem


class TextClassificationProblem(MulticlassProblem):
    kind = ProblemKind.TEXT
