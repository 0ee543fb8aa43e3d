"""Shared helpers of the benchmark scripts: the run settings, the machine header, timers, synthetic
prices, tables.

Not a test module (pytest collects ``test_*.py`` only); every ``bench_*.py`` imports it from its own
directory, so each script runs with one command from the repository root.

Settings: every script builds its ``TrainingSettings`` here, from SpyFlow's own defaults (each
Parameter's default and each Config's default file, read from the flow class as the unit tests do),
the outputs under a temporary directory, and the script's keyword overrides, through
``spylib.stages.settings.build_training_settings`` (the function the flow's ``start`` calls).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from spylib.stages.settings import TrainingSettings

FLOW_FILE = REPO / "flows" / "spy_flow.py"
CONFIG_DIR = REPO / "flows" / "config"
DEFAULT_SWEEP = CONFIG_DIR / "sweep.json"
SMALL_SWEEP = REPO / "tests" / "data" / "sweep_small.json"


# ---------------------------------------------------------------------------------------------
# the settings of a run (the one place the scripts build them)
# ---------------------------------------------------------------------------------------------
def flow_defaults() -> dict[str, Any]:
    """What SpyFlow's ``start`` receives in a run without options, by the keyword names of
    ``build_training_settings``: every Parameter's default and every Config's default file, loaded
    (imports metaflow: call it in the parent of a timed child process)."""
    from tests.helpers.flow_defaults import config_defaults, flow_class, load_json_config, parameter_defaults

    flow = flow_class(FLOW_FILE)
    configs = {name: load_json_config(path) for name, path in config_defaults(flow).items()}
    return {**parameter_defaults(flow), **configs}


def settings_kwargs(tmp: str | Path, **over: Any) -> dict[str, Any]:
    """The keyword arguments of a default run with its outputs under ``tmp`` (the lake off unless
    ``lake_root`` is given), then ``over``; JSON-serializable, so a child process can receive them.
    ``sweep`` may be a path to a sweep file. An unknown name is an error (no silent typo)."""
    from tests.helpers.flow_defaults import load_json_config

    kwargs = {
        **flow_defaults(),
        "output_dir": f"{tmp}/out",
        "lake_root": "",
        "registry_location": f"{tmp}/registry",
    }
    unknown = sorted(set(over) - set(kwargs))
    if unknown:
        raise TypeError(f"not a setting of SpyFlow: {', '.join(unknown)}")
    if isinstance(over.get("sweep"), str | Path):
        over = {**over, "sweep": load_json_config(over["sweep"])}
    return {**kwargs, **over}


def training_settings(tmp: str | Path, **over: Any) -> TrainingSettings:
    """Validated settings of a default run (see :func:`settings_kwargs`)."""
    from spylib.stages.settings import build_training_settings

    return build_training_settings(**settings_kwargs(tmp, **over))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def machine_header(title: str, extra: dict[str, str] | None = None) -> str:
    """The machine a figure was measured on: CPU, cores, RAM, Python and library versions."""
    import sklearn

    versions = {"numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__}
    for name in ("scipy", "metaflow", "ta"):
        with contextlib.suppress(Exception):  # a missing optional library is just not reported
            versions[name] = __import__(name).__version__
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    lines = [
        f"# {title}",
        f"machine : {cpu_model()}, {os.cpu_count()} logical cores, {ram_gib():.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"python  : {platform.python_version()} ({sys.executable})",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"load avg: {load} (at start)",
        f"command : python {' '.join(sys.argv)}",
    ]
    for k, v in (extra or {}).items():
        lines.append(f"{k:<8}: {v}")
    return "\n".join(lines)


def best_time(func: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> float:
    """The minimum wall time of ``repeat`` calls after ``warmup`` untimed calls (the least disturbed
    run on a shared machine)."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def median_time(func: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def synthetic_prices(
    symbols: Sequence[str], n_days: int, seed: int = 0, start: str = "1970-01-02"
) -> pd.DataFrame:
    """A long ``PRICES_SCHEMA``-shaped frame: per symbol a geometric random walk of closes (1% daily
    volatility, one market factor shared by all symbols), OHLC around it, lognormal volumes, on a
    common business-day calendar. Prices are continuous (no ties between consecutive closes)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days).date
    market = rng.normal(0.0003, 0.008, n_days)
    frames = []
    for i, symbol in enumerate(symbols):
        ret = 0.8 * market + rng.normal(0.0, 0.006, n_days)
        close = 50.0 * (1 + i % 7) * np.exp(np.cumsum(ret))
        open_ = close * np.exp(rng.normal(0.0, 0.004, n_days))
        spread = np.abs(rng.normal(0.0, 0.006, n_days))
        high = np.maximum(open_, close) * (1 + spread)
        low = np.minimum(open_, close) * (1 - spread)
        volume = np.round(rng.lognormal(15.0, 0.4, n_days))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "symbol": symbol,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "adj_close": close,
                    "volume": volume,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def symbol_names(n: int) -> list[str]:
    return [f"S{i:03d}" for i in range(n)]


def format_table(rows: Sequence[dict[str, Any]], floatfmt: str = "{:.4g}") -> str:
    """A Markdown table (pastes into the README as is)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[floatfmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        out.append("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(out)


def growth_exponent(sizes: Sequence[float], times: Sequence[float]) -> float:
    """The slope of log(time) on log(size): ~1 is linear, ~2 quadratic."""
    x, y = np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(times, dtype=float))
    return float(np.polyfit(x, y, 1)[0])


def describe_growth(exponent: float) -> str:
    if exponent < 0.85:
        return f"sublinear (exponent {exponent:.2f}: fixed costs dominate the small sizes)"
    if exponent <= 1.15:
        return f"linear (exponent {exponent:.2f})"
    if exponent <= 1.6:
        return f"slightly superlinear (exponent {exponent:.2f})"
    return f"superlinear (exponent {exponent:.2f})"
