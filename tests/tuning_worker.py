"""Tuning a logistic regression on a small fixed synthetic table, in this process
(tests/test_selection.py) or as one of several processes sharing an Optuna study
(tests/test_production_profile.py):

    python -m tests.tuning_worker <study storage URL> <study name> <trials>

prints the trials it ran.
"""

import sys
from typing import Any

import numpy as np
import pandas as pd


def tune_logistic(tuning: Any, study: str) -> Any:
    """`tune_candidate` of a logistic regression (C searched) on 2000 synthetic rows."""
    from ml_assets.lib.config.lifecycle import CandidateConfig
    from ml_assets.lib.feature_spec import FeatureSpec
    from ml_assets.lib.tuning import tune_candidate

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    frame["y"] = (frame["a"] + rng.normal(size=2000) > 0).astype(int)
    spec = FeatureSpec.fit(frame, {"a": "numeric", "b": "numeric"}, "y")
    data = (spec.matrix(frame), frame["y"].to_numpy())
    space = {"C": {"type": "float", "low": 0.001, "high": 10, "log": True}}
    return tune_candidate(
        "logistic_regression",
        CandidateConfig.model_validate({"search_space": space}),
        tuning,
        spec,
        data,
        data,
        seed=0,
        study_name=study,
    )


def main(storage: str, study: str, trials: int) -> None:
    from ml_assets.lib.config.lifecycle import TuningConfig

    print(tune_logistic(TuningConfig(n_trials=trials, storage=storage), study).n_trials)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
