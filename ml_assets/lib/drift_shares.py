"""How many features may drift at once before a day warns or is an error.

The config's `share_warn` / `share_error` win; left unset, the shares calibrated with the
reference on days of the training window (`drift_calibration`) decide; a reference built
before shares were calibrated falls back to the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ml_assets.lib.config.monitoring import DriftConfig
from ml_assets.lib.drift_calibration import Calibration

ThresholdSource = Literal["configured", "calibrated", "default"]
# Drifted shares used when neither the config nor the reference's calibration gives one.
DEFAULT_SHARE_WARN = 0.3
DEFAULT_SHARE_ERROR = 0.5


@dataclass(frozen=True)
class DriftShares:
    """The drifted shares of features that warn and that are an error, and where each
    comes from (`configured`, `calibrated` on training days, or the `default`)."""

    warn: float
    error: float
    warn_source: ThresholdSource
    error_source: ThresholdSource


def drift_shares(policy: DriftConfig, calibration: Calibration | None) -> DriftShares:
    """A share set in the config wins; else the one calibrated with the reference; else
    the default. A calibrated warning share above a configured error share is cut to it."""

    def pick(
        configured: float | None, calibrated: float | None, default: float
    ) -> tuple[float, ThresholdSource]:
        if configured is not None:
            return configured, "configured"
        if calibrated is not None:
            return calibrated, "calibrated"
        return default, "default"

    error, error_source = pick(
        policy.share_error, calibration.share_error if calibration else None, DEFAULT_SHARE_ERROR
    )
    warn, warn_source = pick(
        policy.share_warn, calibration.share_warn if calibration else None, DEFAULT_SHARE_WARN
    )
    return DriftShares(min(warn, error), error, warn_source, error_source)


def share_metadata(shares: DriftShares) -> dict[str, Any]:
    return {
        "share_warn": round(shares.warn, 4),
        "share_error": round(shares.error, 4),
        "share_sources": {"warn": shares.warn_source, "error": shares.error_source},
    }
