"""spylib's indicators against the ``ta`` library, values and speed.

RSI 14, MACD (12, 26) and its signal (9), Bollinger bands (20, 2), ATR 14 and on-balance volume are
computed on the same input with both libraries. Values are compared after a warm-up of 100 rows per
symbol (largest absolute difference, per indicator); speed is the ratio of the two libraries' times
measured in the same run.

Inputs: 5 thousand rows = the embedded S&P 500 stand-in (real daily OHLCV, 1999-2018); 100 thousand
and 2 million rows = synthetic panels of 20 and 400 symbols x 5,000 days. A panel is split into one
frame per symbol once (not timed), and both libraries then run the same Python loop over those
frames: neither gets a vectorized multi-symbol path the other lacks.

Run: ``python tests/bench/bench_features.py`` (``--quick``: 5k and 100k rows only, fewer repeats).
Needs ``pip install ta`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import pandas as pd
from benchcommon import format_table, machine_header, symbol_names, synthetic_prices

from spylib.features.indicators import atr_wilder, bollinger, macd, rsi_wilder
from spylib.features.table import WARMUP_ROWS, adjusted_ohlcv

INDICATORS = ("rsi_14", "macd", "macd_signal", "bb_mid", "bb_upper", "bb_lower", "atr_14")
# The timed units: one call of each library per indicator family (MACD's line and signal come from
# one computation, as do the three bands).
FAMILIES: dict[str, tuple[str, ...]] = {
    "rsi_14": ("rsi_14",),
    "macd+signal": ("macd", "macd_signal"),
    "bollinger": ("bb_mid", "bb_upper", "bb_lower"),
    "atr_14": ("atr_14",),
}

Frame: TypeAlias = pd.DataFrame
Compute = Callable[[Frame], dict[str, pd.Series]]


def ours(family: str, f: Frame) -> dict[str, pd.Series]:
    c = f["close"]
    if family == "rsi_14":
        return {"rsi_14": rsi_wilder(c, 14)}
    if family == "macd+signal":
        line, signal = macd(c)
        return {"macd": line, "macd_signal": signal}
    if family == "bollinger":
        mid, up, lo = bollinger(c)
        return {"bb_mid": mid, "bb_upper": up, "bb_lower": lo}
    return {"atr_14": atr_wilder(f["high"], f["low"], c, 14)}


def theirs(family: str, f: Frame) -> dict[str, pd.Series]:
    from ta.momentum import RSIIndicator
    from ta.trend import MACD
    from ta.volatility import AverageTrueRange, BollingerBands

    c = f["close"]
    if family == "rsi_14":
        return {"rsi_14": RSIIndicator(c, window=14).rsi()}
    if family == "macd+signal":
        m = MACD(c, window_slow=26, window_fast=12, window_sign=9)
        return {"macd": m.macd(), "macd_signal": m.macd_signal()}
    if family == "bollinger":
        b = BollingerBands(c, window=20, window_dev=2)
        return {
            "bb_mid": b.bollinger_mavg(),
            "bb_upper": b.bollinger_hband(),
            "bb_lower": b.bollinger_lband(),
        }
    return {"atr_14": AverageTrueRange(f["high"], f["low"], c, window=14).average_true_range()}


def split_symbols(prices: pd.DataFrame) -> list[Frame]:
    """One adjusted OHLCV frame per symbol, rows in date order (spylib's own per-symbol preparation)."""
    return [adjusted_ohlcv(prices, s) for s in prices["symbol"].unique()]


def run_all(
    lib: Callable[[str, Frame], dict[str, pd.Series]], family: str, frames: list[Frame]
) -> list[dict]:
    return [lib(family, f) for f in frames]


def timed(lib: Callable[[str, Frame], dict[str, pd.Series]], family: str, frames: list[Frame], repeat: int):
    """(best wall time, the outputs of the last call); one untimed warm-up call when repeating."""
    if repeat > 1:
        run_all(lib, family, frames)
    best, out = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        out = run_all(lib, family, frames)
        best = min(best, time.perf_counter() - started)
    return best, out


def compare(ours_out: list[dict], theirs_out: list[dict], name: str, skip: int) -> tuple[float, float, float]:
    """(max |ours - ta| over rows >= skip of every symbol, the same over rows >= 3*skip, max |ours|)."""
    diff, late, scale = 0.0, 0.0, 0.0
    for a, b in zip(ours_out, theirs_out, strict=True):
        x = a[name].to_numpy("float64")
        y = b[name].to_numpy("float64")
        d = np.abs(x - y)
        if np.isnan(d[skip:]).any():
            return float("nan"), float("nan"), float("nan")
        diff = max(diff, float(d[skip:].max()))
        late = max(late, float(d[3 * skip :].max()) if len(d) > 3 * skip else 0.0)
        scale = max(scale, float(np.abs(x[skip:]).max()))
    return diff, late, scale


def count_ties(frames: list[Frame]) -> int:
    """Days whose close equals the previous close: OBV adds nothing on them in TA-Lib (and spylib),
    while ``ta`` adds the day's volume."""
    return int(sum((f["close"].diff() == 0).sum() for f in frames))


def bench_size(label: str, frames: list[Frame], repeat: int) -> tuple[list[dict], list[dict]]:
    n_rows = sum(len(f) for f in frames)
    speed_rows, value_rows = [], []
    total_ours = total_theirs = 0.0
    for family, names in FAMILIES.items():
        t_ours, out_ours = timed(ours, family, frames, repeat)
        t_theirs, out_theirs = timed(theirs, family, frames, repeat)
        total_ours += t_ours
        total_theirs += t_theirs
        speed_rows.append(
            {
                "rows": label,
                "indicator": family,
                "spylib s": t_ours,
                "ta s": t_theirs,
                "ta / spylib": t_theirs / t_ours,
            }
        )
        for name in names:
            diff, late, scale = compare(out_ours, out_theirs, name, WARMUP_ROWS)
            value_rows.append(
                {
                    "rows": label,
                    "column": name,
                    f"max abs diff (rows >= {WARMUP_ROWS})": diff,
                    f"max abs diff (rows >= {3 * WARMUP_ROWS})": late,
                    "max abs value": scale,
                    "relative": diff / scale if scale else 0.0,
                }
            )
    speed_rows.append(
        {
            "rows": label,
            "indicator": f"ALL ({n_rows:,} rows, {len(frames)} symbol(s))",
            "spylib s": total_ours,
            "ta s": total_theirs,
            "ta / spylib": total_theirs / total_ours,
        }
    )
    return speed_rows, value_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k and 100k rows only, fewer repeats")
    args = parser.parse_args()
    import ta  # noqa: F401 - fail early with the install hint below

    print(machine_header("bench_features: spylib vs ta"))
    from spylib.data.sources import load_embedded

    real = load_embedded("SPY").frame
    sizes: list[tuple[str, list[Frame], int]] = [
        ("5k (real S&P 500)", split_symbols(real), 5 if not args.quick else 3)
    ]
    sizes.append(
        (
            "100k (20 x 5,000)",
            split_symbols(synthetic_prices(symbol_names(20), 5000, seed=1)),
            3 if not args.quick else 1,
        )
    )
    if not args.quick:
        sizes.append(
            ("2M (400 x 5,000)", split_symbols(synthetic_prices(symbol_names(400), 5000, seed=2)), 1)
        )
    all_speed, all_values, ties = [], [], []
    for label, frames, repeat in sizes:
        started = time.perf_counter()
        speed, values = bench_size(label, frames, repeat)
        all_speed += speed
        all_values += values
        ties.append(f"{label}: {count_ties(frames)} day(s) with close == previous close")
        print(
            f"... {label}: measured in {time.perf_counter() - started:.1f} s (best of {repeat})", flush=True
        )
    print("\n## Speed (best wall time; ratio > 1 means spylib is faster)\n")
    print(format_table(all_speed, floatfmt="{:.4g}"))
    print(f"\n## Values after a warm-up of {WARMUP_ROWS} rows per symbol (ours - ta)\n")
    print(format_table(all_values, floatfmt="{:.3g}"))
    print("\nOBV ties: " + "; ".join(ties))


if __name__ == "__main__":
    main()
