"""One process tuning a shared Optuna study (tests/test_production_profile.py).

    python -m tests.tuning_worker <study storage URL> <study name> <trials>

Tunes a logistic regression on a small fixed synthetic table; prints the trials it ran.
"""

import sys

import numpy as np
import pandas as pd


def main(storage: str, study: str, trials: int) -> None:
    from ml_assets.lib.config.lifecycle import CandidateConfig, TuningConfig
    from ml_assets.lib.feature_spec import FeatureSpec
    from ml_assets.lib.tuning import tune_candidate

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    frame["y"] = (frame["a"] + rng.normal(size=2000) > 0).astype(int)
    spec = FeatureSpec.fit(frame, {"a": "numeric", "b": "numeric"}, "y")
    data = (spec.matrix(frame), frame["y"].to_numpy())
    space = {"C": {"type": "float", "low": 0.001, "high": 10, "log": True}}
    result = tune_candidate(
        "logistic_regression",
        CandidateConfig.model_validate({"search_space": space}),
        TuningConfig(n_trials=trials, storage=storage),
        spec,
        data,
        data,
        seed=0,
        study_name=study,
    )
    print(result.n_trials)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
