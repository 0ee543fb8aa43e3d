"""Input checks shared by the monitoring modules: finite values, required keys and columns, the last rows.

Each raises :class:`~spylib.core.errors.DataValidationError` naming what is missing, so a bad profile or
predictions frame fails with a message instead of a wrong check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from spylib.core.errors import DataValidationError

PROFILE_SOURCE = "reference profile"


def finite_values(values: Any, what: str, allow_empty: bool = False) -> npt.NDArray[np.float64]:
    """``values`` as a flat float array without nan/inf; DataValidationError when none is left
    (unless ``allow_empty``)."""
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0 and not allow_empty:
        raise DataValidationError(f"no finite value in {what}", source="monitor")
    return arr


def require_key(mapping: Mapping[str, Any], key: str) -> Any:
    """``mapping[key]`` of a reference profile; DataValidationError naming the key when it is absent."""
    if key not in mapping:
        raise DataValidationError(f"missing key '{key}'", source=PROFILE_SOURCE, column=key)
    return mapping[key]


def require_columns(frame: pd.DataFrame, required: Sequence[str], source: str) -> None:
    """DataValidationError naming the first missing column (and the columns there are)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"missing columns {missing} (have {list(frame.columns)})", source=source, column=missing[0]
        )


def tail_by_date(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """The last ``n`` rows in ``date`` order (in row order when there is no ``date`` column)."""
    ordered = frame.sort_values("date") if "date" in frame.columns else frame
    return ordered.tail(n)
