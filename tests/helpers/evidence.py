"""An :class:`~spylib.evaluation.evidence.Evidence` for tests: every figure NaN (or a neutral value)
unless given, so a test names only the figures it is about."""

from __future__ import annotations

import math
from dataclasses import MISSING, fields
from typing import Any

from spylib.evaluation.evidence import Evidence

_NEUTRAL: dict[str, Any] = {
    "track_start": "2020-01-02",
    "track_end": "2024-12-31",
    "n_blocks": 0,
    "n_trials": 1,
    "n_trials_effective": 1,
    "vs_buy_and_hold_method": "HAC",
    "vs_vol_target_long_method": "HAC",
    "vs_buy_and_hold_block_length": 0,
    "vs_vol_target_long_block_length": 0,
    "annualization": 252,
    "selection_metric": "sharpe_net",
}


def make_evidence(**figures: Any) -> Evidence:
    """Evidence with ``figures`` set and every other required figure NaN (or neutral, for the
    non-numeric ones)."""
    values = {f.name: _NEUTRAL.get(f.name, math.nan) for f in fields(Evidence) if f.default is MISSING}
    return Evidence(**{**values, **figures})
