"""The trade rule: probabilities and feature rows in, positions out. The one implementation.

Every consumer turns a model's probabilities into positions with :func:`rule_positions`: the sweep's
trials (:func:`spylib.modelling.trading.trial_positions`), the walk-forward track, the registered
strategy (:class:`spylib.modelling.strategy.Strategy`), the predictions artifact, PredictFlow,
monitoring, and the serving container. The container cannot import ``spylib``, so this file stands
alone (standard library, numpy and pandas only) and is shipped verbatim as ``code/rule.py`` in
``model.tar.gz``, beside ``code/inference.py``, which loads it from there.

* signal: 1 when ``probability >= threshold`` and every regime-filter column equals 1, else 0 (a
  missing or non-numeric flag is not 1: flat, the conservative side);
* size of a long position: ``long_flat`` holds 1; ``vol_target`` holds
  ``min(1, target_volatility / (sqrt(252) * vol))``, ``vol`` being the ``volatility_column`` (the
  20-day standard deviation of daily returns known at the signal's close), never levered; a zero or
  missing volatility holds 1;
* position = signal x size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

# Trading days a year: the annualization of the target volatility (the library's PERIODS_PER_YEAR;
# a unit test checks they agree).
PERIODS_PER_YEAR = 252
SIZINGS = ("long_flat", "vol_target")
VOLATILITY_COLUMN = "vol_20"


def filter_mask(frame: pd.DataFrame, columns: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Rows where every flag column is 1 (all rows when ``columns`` is empty)."""
    mask = np.ones(len(frame), dtype=bool)
    for column in columns:
        mask &= pd.to_numeric(frame[column], errors="coerce").to_numpy() == 1
    return mask


def signal(
    probability: npt.ArrayLike, threshold: float, mask: npt.ArrayLike | None = None
) -> npt.NDArray[np.int8]:
    """1 (long) when ``probability >= threshold`` and ``mask`` allows it, else 0 (flat)."""
    on = np.asarray(probability, dtype="float64") >= threshold
    if mask is not None:
        on &= np.asarray(mask, dtype=bool)
    return on.astype("int8")


def position_size(
    frame: pd.DataFrame, sizing: str, target_volatility: float, volatility_column: str = VOLATILITY_COLUMN
) -> npt.NDArray[np.float64]:
    """The size of a long position on each row of ``frame`` under ``sizing`` (see the module doc)."""
    if sizing == "long_flat":
        return np.ones(len(frame))
    if sizing == "vol_target":
        daily_target = target_volatility / np.sqrt(PERIODS_PER_YEAR)
        vol = pd.to_numeric(frame[volatility_column], errors="coerce").to_numpy("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(vol > 0, daily_target / vol, 1.0)
        return np.asarray(np.clip(np.nan_to_num(size, nan=1.0), 0.0, 1.0), dtype="float64")
    raise ValueError(f"unknown sizing {sizing!r}: use one of {SIZINGS}")


def rule_positions(
    probability: npt.ArrayLike,
    frame: pd.DataFrame,
    threshold: float,
    filter_columns: Sequence[str],
    sizing: str,
    target_volatility: float,
    volatility_column: str = VOLATILITY_COLUMN,
) -> npt.NDArray[np.float64]:
    """Position on each row of ``frame``: the signal times the size of a long position."""
    on = signal(probability, threshold, filter_mask(frame, filter_columns))
    return on * position_size(frame, sizing, target_volatility, volatility_column)
