"""the Wilder average before and after its move from scipy.signal to pandas.

``spylib.features.indicators.wilder_average`` (used twice by RSI, once by ATR) moved from ``scipy.signal.lfilter``
to pandas ``ewm(adjust=False)`` seeded with the simple mean, to spare every task the
``scipy.signal`` import. This times the previous ``lfilter`` version (reproduced below) against the
current function on the same series (14-day average of |close change|, 5,000 rows per symbol) and
reports the largest absolute difference.

Run: ``python tests/bench/bench_wilder.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import numpy as np
from benchcommon import best_time, format_table, machine_header, symbol_names, synthetic_prices

from spylib.features.indicators import wilder_average
from spylib.features.table import adjusted_ohlcv


def wilder_lfilter(values: np.ndarray, n: int) -> np.ndarray:
    """The implementation before 96b31d5: seed = mean of the first n valid values, then one
    ``lfilter`` pass of y[t] = (1 - 1/n) y[t-1] + (1/n) x[t]."""
    from scipy.signal import lfilter

    x = np.asarray(values, dtype="float64")
    out = np.full(x.shape, np.nan)
    start = int(np.flatnonzero(~np.isnan(x))[0])
    seed = float(x[start : start + n].mean())
    out[start + n - 1] = seed
    a = 1.0 / n
    out[start + n :], _ = lfilter([a], [1, -(1 - a)], x[start + n :], zi=[(1 - a) * seed])
    return out


def each(func: Callable[[np.ndarray, int], np.ndarray], series: list[np.ndarray]) -> list[np.ndarray]:
    return [func(x, 14) for x in series]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(machine_header("bench_wilder: Wilder average, lfilter (before) vs ewm (now)"))
    rows = []
    for k, repeat in ((1, 20), (20, 5), (400, 2)):
        names = symbol_names(k)
        prices = synthetic_prices(names, 5000, seed=3)
        series = [np.abs(adjusted_ohlcv(prices, s)["close"].diff().to_numpy()) for s in names]
        diff = max(float(np.nanmax(np.abs(wilder_lfilter(x, 14) - wilder_average(x, 14)))) for x in series)
        t_new = best_time(partial(each, wilder_average, series), repeat=repeat)
        t_old = best_time(partial(each, wilder_lfilter, series), repeat=repeat)
        rows.append(
            {
                "series (5,000 rows each)": k,
                "lfilter ms": 1e3 * t_old,
                "ewm ms": 1e3 * t_new,
                "ewm / lfilter": t_new / t_old,
                "max abs difference": diff,
            }
        )
    print()
    print(format_table(rows, floatfmt="{:.3g}"))


if __name__ == "__main__":
    main()
