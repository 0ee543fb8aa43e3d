"""Issue 8, item 5: scale. Features and training time as the history grows from 5 to 50 years of
daily data, and as the universe grows from 2 to 500 symbols (synthetic prices, see
``benchcommon.synthetic_prices``), with the growth rate stated (the slope of log time on log size:
1 is linear).

History (one traded symbol and its benchmark, 252 days a year; default split and sweep, but 20 gap
rows and a 3-fold walk-forward CV with a 20-day embargo at every size, see ``HISTORY_CV``: the
default 60 gap rows and 4 folds do not fit in 5 years):

* ``features s``: ``build_features`` (the feature table); ``+ audit s``: ``pipeline.run_features``
  (the table and the look-ahead audit, which rebuilds the features on 8 truncated histories);
* ``train s``: ``pipeline.run_train`` of one configuration per family (walk-forward CV of the
  default sweep, then the refit), the chosen random forest included.

Universe (every symbol against one benchmark, 5 years each):

* ``features s``: ``build_features`` once per symbol (each call filters the whole long frame);
  ``features (one groupby) s``: ``build_features_many`` when spylib has it (the long frame split
  once; the script checks that its tables equal the per-symbol calls');
* ``train s``: one ``fit_model`` on the pooled labelled rows of all symbols (one model for the
  universe). The random forest is timed up to ``--max-rf-symbols`` symbols (its fit on 630k rows
  would take minutes); the per-symbol alternative (one model per symbol) is N times the history
  table's 5-year figure by construction.

Run: ``python tests/bench/bench_scale.py`` (``--quick``: 5/10/20 years, 2/10/50 symbols;
``--part history|universe``: one half only).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from types import SimpleNamespace

import pandas as pd
from benchcommon import (
    REPO,
    describe_growth,
    format_table,
    growth_exponent,
    machine_header,
    symbol_names,
    synthetic_prices,
)

from spylib.core.config import ModelSpec
from spylib.research import features as features_module
from spylib.research.features import build_features
from spylib.research.models import fit_model
from spylib.stages import training as pipeline

DAYS_PER_YEAR = 252
FAMILIES = {
    "random_forest": {"max_depth": 6, "max_features": 0.5, "min_samples_leaf": 25, "n_estimators": 200},
    "hist_gradient_boosting": {
        "learning_rate": 0.1,
        "max_depth": 3,
        "max_iter": 100,
        "min_samples_leaf": 100,
    },
    "logistic": {"C": 0.1},
}


# The default walk-forward CV (4 folds, 60-day embargo, 400 training days) and 60 gap rows need more
# than 5 years: fold 1 would train on 51 rows. The history table uses this lighter scheme at EVERY
# size, so that the sizes are comparable.
HISTORY_CV = {"scheme": "expanding", "n_folds": 3, "embargo_days": 20, "min_train_days": 100}
HISTORY_GAP_ROWS = 20


def settings_for(symbol: str, benchmark: str, tmp: str) -> pipeline.Settings:
    sweep = json.loads((REPO / "flows" / "config" / "sweep.json").read_text())
    sweep["cv"] = HISTORY_CV
    flow_like = SimpleNamespace(
        source="synthetic", symbol=symbol, benchmark=benchmark, split_dates="", gap_rows=HISTORY_GAP_ROWS,
        execution="close_to_close", cost_bps=1.0, seed=42, shuffle_labels=False, extra_features="",
        configs_per_task=1, output_dir=f"{tmp}/out", lake_root="", glue_database="", registry="local",
        registry_location=f"{tmp}/reg",
        model_group="bench", sagemaker_image_uri="", sweep=sweep,
        gate_config=json.loads((REPO / "flows" / "config" / "gate.json").read_text()),
        resources_config=json.loads((REPO / "flows" / "config" / "resources.json").read_text()),
    )  # fmt: skip
    return pipeline.validate_settings(flow_like)


def timed(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - started, out


def bench_history(years: list[int], tmp: str) -> list[dict]:
    rows = []
    for y in years:
        n = y * DAYS_PER_YEAR
        prices = synthetic_prices(["SYM", "BEN"], n, seed=y)
        settings = settings_for("SYM", "BEN", tmp)
        t_build, _ = timed(build_features, prices, "SYM", "BEN")
        t_run, (features, cols, _) = timed(pipeline.run_features, prices, settings)
        splits, folds = pipeline.run_split(features, settings)
        row = {"years": y, "rows": n, "features s": t_build, "+ audit s": t_run}
        for family, params in FAMILIES.items():
            t, _ = timed(
                pipeline.run_train, [ModelSpec(family, params)], features, cols, splits, folds, settings
            )
            row[f"train {family} s"] = t
        rows.append(row)
        print(
            f"... {y} years: features {t_build:.2f} s, train RF {row['train random_forest s']:.1f} s",
            flush=True,
        )
    return rows


def bench_universe(counts: list[int], years: int, max_rf: int) -> list[dict]:
    rows = []
    n_days = years * DAYS_PER_YEAR
    for k in counts:
        names = symbol_names(k)
        prices = synthetic_prices(names, n_days, seed=k)
        bench, traded = names[0], names[1:]
        started = time.perf_counter()
        tables = [build_features(prices, s, bench) for s in traded]
        t_feat = time.perf_counter() - started
        many = getattr(features_module, "build_features_many", None)
        t_many = float("nan")
        if many is not None:
            started = time.perf_counter()
            by_symbol = many(prices, traded, bench)
            t_many = time.perf_counter() - started
            for s, table in zip(traded, tables, strict=True):
                if not by_symbol[s].equals(table):
                    raise SystemExit(f"build_features_many differs from build_features for {s}")
        pooled = pd.concat(tables, ignore_index=True)
        labelled = pooled[pooled["target_up"].notna()]
        cols = pipeline.feature_columns()
        row = {
            "symbols": k,
            "price rows": len(prices),
            "feature rows": len(pooled),
            "features s": t_feat,
            "ms / symbol": 1000 * t_feat / len(traded),
            "features (one groupby) s": t_many,
            "one groupby ms / symbol": 1000 * t_many / len(traded),
        }
        for family, params in FAMILIES.items():
            if family == "random_forest" and k > max_rf:
                row[f"fit {family} s"] = float("nan")
                continue
            t, _ = timed(
                fit_model,
                ModelSpec(family, params),
                labelled[cols],
                labelled["target_up"].to_numpy("int8"),
                42,
            )
            row[f"fit {family} s"] = t
        rows.append(row)
        print(f"... {k} symbols: features {t_feat:.2f} s", flush=True)
    return rows


def growth_line(rows: list[dict], size_key: str, columns: list[str]) -> str:
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
    args = parser.parse_args()
    print(machine_header("bench_scale: history and universe (issue 8, item 5)"))
    years = [5, 10, 20] if args.quick else [5, 10, 20, 50]
    counts = [2, 10, 50] if args.quick else [2, 10, 50, 100, 500]
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp:
        hist = bench_history(years, tmp) if args.part != "universe" else []
        uni = bench_universe(counts, 5, args.max_rf_symbols) if args.part != "history" else []
    if hist:
        print("\n## History (one symbol + benchmark)\n")
        print(format_table(hist, floatfmt="{:.3g}"))
        print("\nGrowth with the number of rows:")
        print(growth_line(hist, "rows", [c for c in hist[0] if c.endswith(" s")]))
    if uni:
        print("\n## Universe (5 years per symbol; symbol 0 is the benchmark)\n")
        print(format_table(uni, floatfmt="{:.3g}"))
        print("\nGrowth with the number of symbols:")
        print(growth_line(uni, "symbols", [c for c in uni[0] if c.endswith(" s")]))


if __name__ == "__main__":
    main()
