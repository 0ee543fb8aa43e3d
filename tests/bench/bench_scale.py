"""scale. Features and training time as the history grows from 5 to 50 years of
daily data, and as the universe grows from 2 to 500 symbols (synthetic prices, see
``benchcommon.synthetic_prices``), with the growth rate stated (the slope of log time on log size:
1 is linear).

History (one traded symbol and its benchmark, 252 days a year; the default settings and sweep, but
a walk-forward that fits in 5 years at every size, see ``HISTORY_WALK_FORWARD``: 250 training days
before the first block instead of 750):

* ``features s``: ``build_features`` (the feature table); ``+ audit s``: ``run_features``
  (the table and the look-ahead audit, which rebuilds the features on truncated histories);
* ``blocks``: walk-forward blocks (one a year after the first training window);
* ``train <family> s``: ``run_train`` of the first configuration of each family of the
  default grid in this process (no pool), as CPU seconds of this process (``time.process_time``: the
  machine's load changes it far less than wall time): under the default ``expanding`` scheme one fit
  per block on every row before it, so the work grows with blocks x rows (about quadratically in the
  years); ``rolling <family> s``: the same under ``"scheme": "rolling"`` with ``rolling_days`` =
  ``ROLLING_DAYS`` (every fit on at most that many rows: the work grows with the blocks, linearly).

Universe (every symbol against one benchmark, 5 years each):

* ``features s``: ``build_features`` once per symbol (each call filters the whole long frame);
  ``features (one groupby) s``: ``build_features_many`` when spylib has it (the long frame split
  once; the script checks that its tables equal the per-symbol calls');
* ``fit <family> s``: one ``fit_model`` on the pooled labelled rows of all symbols (one model for
  the universe, the same configurations). The random forest is timed up to ``--max-rf-symbols``
  symbols; the per-symbol alternative (one model per symbol) is N times the history table's
  5-year figure by construction.

Run: ``python tests/bench/bench_scale.py`` (``--quick``: 5/10/20 years, 2/10/50 symbols;
``--part history|universe``: one half only; ``--scheme expanding|rolling``: one walk-forward scheme).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import pandas as pd
from benchcommon import (
    DEFAULT_SWEEP,
    describe_growth,
    format_table,
    growth_exponent,
    machine_header,
    symbol_names,
    synthetic_prices,
    training_settings,
)

from spylib.core.config import ModelSpec
from spylib.features import table as features_module
from spylib.features.table import build_features, feature_columns
from spylib.modelling.models import fit_model
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.features import run_features
from spylib.stages.training.split import run_split
from spylib.stages.training.train import run_train
from tests.helpers.flow_defaults import load_json_config

DAYS_PER_YEAR = 252
# The default walk-forward (750 training days before the first block, 2 selection blocks) needs more
# than 5 years; the history table uses this lighter one at EVERY size, so that the sizes compare.
HISTORY_WALK_FORWARD = {
    "block_months": 12,
    "scheme": "expanding",
    "min_train_days": 250,
    "embargo_days": 60,
    "min_selection_blocks": 2,
}
ROLLING_DAYS = 1500  # the sweep config's default rolling_days (about 6 years)


def history_settings(tmp: str, scheme: str = "expanding") -> TrainingSettings:
    walk_forward = dict(HISTORY_WALK_FORWARD, scheme=scheme)
    if scheme == "rolling":
        walk_forward["rolling_days"] = ROLLING_DAYS
    sweep = {**load_json_config(DEFAULT_SWEEP), "walk_forward": walk_forward}
    return training_settings(tmp, sweep=sweep)


def first_of_each_family(settings: TrainingSettings) -> list[ModelSpec]:
    seen: dict[str, ModelSpec] = {}
    for spec in settings.plan.sweep.models:
        seen.setdefault(spec.family, spec)
    return list(seen.values())


def timed(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - started, out


def cpu_timed(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    """CPU seconds of this process (the fits run here, one thread each)."""
    started = time.process_time()
    out = func(*args, **kwargs)
    return time.process_time() - started, out


def bench_history(years: list[int], tmp: str, schemes: list[str]) -> list[dict[str, Any]]:
    rows = []
    settings = history_settings(tmp)
    specs = first_of_each_family(settings)
    plans = {scheme: history_settings(tmp, scheme).plan for scheme in schemes}
    for y in years:
        n = y * DAYS_PER_YEAR
        # synthetic prices under the default run's names (the settings accept only names the source has)
        prices = synthetic_prices([settings.data.symbol, settings.data.benchmark], n, seed=y)
        t_build, _ = timed(
            build_features, prices, settings.data.symbol, settings.data.benchmark, settings.plan.execution
        )
        t_run, made = timed(run_features, prices, settings, f"bench-{y}", {})
        row: dict[str, Any] = {"years": y, "rows": n, "features s": t_build, "+ audit s": t_run}
        for scheme, plan in plans.items():
            data = run_split(made.feature_table, made.feature_columns, made.data_quality, plan).training_data
            row["blocks"] = len(data.splits.blocks)
            label = "train" if scheme == "expanding" else "rolling"
            # the work: every block's model is fitted on that block's training rows
            row[f"{label} fitted rows"] = int(sum(len(b.train_rows()) for b in data.splits.blocks))
            for spec in specs:
                t, _ = cpu_timed(run_train, [spec], data, plan, settings.cost_bps, workers=1)
                row[f"{label} {spec.family} s"] = t
        rows.append(row)
        print(f"... {y} years: features {t_build:.2f} s, {row['blocks']} blocks", flush=True)
    return rows


def bench_universe(counts: list[int], years: int, max_rf: int, tmp: str) -> list[dict[str, Any]]:
    rows = []
    n_days = years * DAYS_PER_YEAR
    settings = history_settings(tmp)
    specs, execution = first_of_each_family(settings), settings.plan.execution
    cols = feature_columns()
    for k in counts:
        names = symbol_names(k)
        prices = synthetic_prices(names, n_days, seed=k)
        bench, traded = names[0], names[1:]
        started = time.perf_counter()
        tables = [build_features(prices, s, bench, execution) for s in traded]
        t_feat = time.perf_counter() - started
        many = getattr(features_module, "build_features_many", None)
        t_many = float("nan")
        if many is not None:
            started = time.perf_counter()
            by_symbol = many(prices, traded, bench, execution)
            t_many = time.perf_counter() - started
            for s, table in zip(traded, tables, strict=True):
                if not by_symbol[s].equals(table):
                    raise SystemExit(f"build_features_many differs from build_features for {s}")
        pooled = pd.concat(tables, ignore_index=True)
        labelled = pooled[pooled["target_up"].notna()]
        row: dict[str, Any] = {
            "symbols": k,
            "price rows": len(prices),
            "feature rows": len(pooled),
            "features s": t_feat,
            "ms / symbol": 1000 * t_feat / len(traded),
            "features (one groupby) s": t_many,
            "one groupby ms / symbol": 1000 * t_many / len(traded),
        }
        for spec in specs:
            if spec.family == "random_forest" and k > max_rf:
                row[f"fit {spec.family} s"] = float("nan")
                continue
            t, _ = timed(fit_model, spec, labelled[cols], labelled["target_up"].to_numpy("int8"), 42)
            row[f"fit {spec.family} s"] = t
        rows.append(row)
        print(f"... {k} symbols: features {t_feat:.2f} s", flush=True)
    return rows


def growth_line(rows: list[dict[str, Any]], size_key: str, columns: list[str]) -> str:
    parts = []
    for c in columns:
        pts = [(r[size_key], r[c]) for r in rows if r[c] == r[c]]
        if len(pts) >= 2:
            parts.append(f"{c}: {describe_growth(growth_exponent([p[0] for p in pts], [p[1] for p in pts]))}")
    return "\n".join(f"- {p}" for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5/10/20 years; 2/10/50 symbols")
    parser.add_argument("--max-rf-symbols", type=int, default=20)
    parser.add_argument("--part", choices=("both", "history", "universe"), default="both")
    parser.add_argument("--scheme", choices=("both", "expanding", "rolling"), default="both")
    args = parser.parse_args()
    print(machine_header("bench_scale: history and universe"))
    years = [5, 10, 20] if args.quick else [5, 10, 20, 50]
    counts = [2, 10, 50] if args.quick else [2, 10, 50, 100, 500]
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp:
        schemes = ["expanding", "rolling"] if args.scheme == "both" else [args.scheme]
        hist = bench_history(years, tmp, schemes) if args.part != "universe" else []
        uni = bench_universe(counts, 5, args.max_rf_symbols, tmp) if args.part != "history" else []
    if hist:
        print("\n## History (one symbol + benchmark)\n")
        print(format_table(hist, floatfmt="{:.3g}"))
        print("\nGrowth with the number of rows:")
        print(growth_line(hist, "rows", [c for c in hist[0] if c.endswith(" s")]))
        # Against the work: an expanding window fits every block on every row before it (the fitted
        # rows grow with blocks x rows); time that grows as fast as that work, exponent ~1, is no waste.
        for label in ("train", "rolling"):
            columns = [c for c in hist[0] if c.startswith(f"{label} ") and c.endswith(" s")]
            if columns:
                print(f"\nGrowth of '{label}' with its fitted rows (the work):")
                print(growth_line(hist, f"{label} fitted rows", columns))
    if uni:
        print("\n## Universe (5 years per symbol; symbol 0 is the benchmark)\n")
        print(format_table(uni, floatfmt="{:.3g}"))
        print("\nGrowth with the number of symbols:")
        print(growth_line(uni, "symbols", [c for c in uni[0] if c.endswith(" s")]))


if __name__ == "__main__":
    main()
