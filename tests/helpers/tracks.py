"""Walk-forward tracks for the champion/challenger tests (seeded daily net returns on business days)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

RULE: dict[str, Any] = {"days": 756, "margin": 0.2, "alpha": 0.05}


def track(n: int = 1000, *, seed: int = 0, mean: float = 0.0005, start: str = "2015-01-02") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    net = rng.normal(mean, 0.01, n)
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n).date,
            "strategy_net": net,
            "buy_and_hold_net": rng.normal(0, 0.01, n),
            "probability": 0.5,
            "position": 1.0,
        }
    )
