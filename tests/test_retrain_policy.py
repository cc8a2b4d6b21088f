"""When to retrain: N of M days, only days judged against the champion, cooldown, new data."""

from datetime import date

import pytest

from ml_assets.lib.config.monitoring import RetrainConfig
from ml_assets.lib.retrain_policy import DayVerdicts, decide

POLICY = RetrainConfig(window_days=5, min_days=3, cooldown_days=7)


def days(pattern: str, version: str = "2", start: int = 10) -> list[DayVerdicts]:
    """'EoEwE': E = drift error, D = decay error, w = warn, o = ok, one letter per day."""
    verdicts = []
    for i, letter in enumerate(pattern):
        drift = {"E": "error", "w": "warn", "o": "ok"}.get(letter, "ok")
        decay = "error" if letter == "D" else "ok"
        verdicts.append(DayVerdicts(f"2013-05-{start + i:02d}", version, drift, decay))
    return verdicts


LONG_AGO = date(2013, 4, 1)


@pytest.mark.parametrize(
    ("pattern", "retrain"),
    [
        ("EEE", True),
        ("EoEoE", True),
        ("DED", True),
        ("EEwoo", False),
        ("EoooE", False),
        ("EEEoooooo", False),
    ],  # only the latest five days count
)
def test_n_of_the_last_m_days(pattern: str, retrain: bool) -> None:
    decision = decide(days(pattern), "2", POLICY, LONG_AGO, training_data_unchanged=False)
    assert decision.retrain is retrain, decision.reason


def test_one_noisy_day_is_not_enough() -> None:
    decision = decide(days("ooooE"), "2", POLICY, LONG_AGO, False)
    assert not decision.retrain and "1 of the latest 5" in decision.reason


def test_days_judged_against_an_older_champion_do_not_count() -> None:
    verdicts = days("EEE", version="1") + days("oo", version="2", start=13)
    decision = decide(verdicts, "2", POLICY, LONG_AGO, False)
    assert not decision.retrain and decision.evidence == {}


def test_triggers_select_what_counts() -> None:
    policy = POLICY.model_copy(update={"triggers": ["decay"]})
    assert not decide(days("EEE"), "2", policy, LONG_AGO, False).retrain
    assert decide(days("DDD"), "2", policy, LONG_AGO, False).retrain


def test_cooldown_counts_days_of_data_since_the_last_training() -> None:
    verdicts = days("EEE")  # latest day 2013-05-12
    early = decide(verdicts, "2", POLICY, date(2013, 5, 8), False)
    assert not early.retrain and "cooldown: 4 day(s)" in early.reason
    assert decide(verdicts, "2", POLICY, date(2013, 5, 5), False).retrain


def test_unchanged_training_data_skips() -> None:
    decision = decide(days("EEE"), "2", POLICY, LONG_AGO, training_data_unchanged=True)
    assert not decision.retrain and "unchanged" in decision.reason


def test_disabled_never_retrains() -> None:
    policy = POLICY.model_copy(update={"enabled": False})
    assert not decide(days("EEEEE"), "2", policy, None, False).retrain


def test_n_above_m_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="min_days 6 exceeds window_days 5"):
        RetrainConfig(window_days=5, min_days=6)
