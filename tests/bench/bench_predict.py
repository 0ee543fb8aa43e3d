"""Issue 8, item 4: batch prediction, rows per second, at 1 thousand, 100 thousand and 1 million rows.

The model is fitted on the default data's development range (train + validation) exactly as the
flow's refit does, and wrapped in the registered bundle (``spylib.research.models.make_bundle``). Input rows
are the real feature table's rows, repeated to reach the size. Timed:

* ``predict``: ``spylib.research.models.bundle_signal`` (column selection, ``predict_proba``, threshold and
  filters), the batch path of ``spylib.research.predict`` and of the inference handler;
* ``+ frame``: ``spylib.research.predict.batch_predictions`` (segments, the predictions table);
* ``+ write``: ``spylib.research.predict.write_predictions`` (Parquet and CSV, atomically) on top.

The chosen model is the configuration the default run selects (``--config``, default below); the
other families' representative configurations are timed too, for context (``predict`` only).

Run: ``python tests/bench/bench_predict.py`` (``--quick``: 1k and 100k rows, chosen model only).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date

import numpy as np
from benchcommon import best_time, format_table, machine_header

from spylib.core.config import ModelSpec
from spylib.research.models import bundle_signal, fit_model, make_bundle
from spylib.research.predict import batch_predictions, write_predictions
from spylib.research.split import Segment, Splits
from spylib.stages import training as pipeline

# The configuration, threshold and filter the default run (default data, default sweep, seed 42)
# selects; override with --config/--threshold/--filters when the default run chooses another.
# (run 1795554771999307 at commit b0e119a: threshold 0.6, filter low_vol).
CHOSEN = (
    "hist_gradient_boosting",
    {"learning_rate": 0.03, "max_depth": 3, "max_iter": 100, "min_samples_leaf": 100},
)
OTHERS = [
    ("random_forest", {"max_depth": 6, "max_features": 0.5, "min_samples_leaf": 25, "n_estimators": 200}),
    ("extra_trees", {"max_depth": 6, "max_features": "sqrt", "min_samples_leaf": 25, "n_estimators": 200}),
    ("logistic", {"C": 0.1}),
]


def tiled_splits(n: int) -> Splits:
    """Two segments over the tiled frame (test = first half, production = the rest)."""
    half = max(n // 2, 1)
    segments = {
        "train": Segment("train", date(2000, 1, 1), date(2000, 1, 1), 0, 0),
        "validation": Segment("validation", date(2000, 1, 1), date(2000, 1, 1), 0, 0),
        "test": Segment("test", date(2000, 1, 1), date(2000, 1, 1), 0, half - 1),
        "production": Segment("production", date(2000, 1, 1), date(2000, 1, 1), half, n - 1),
    }
    return Splits(segments, gap_rows=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 100k rows, the chosen model only")
    parser.add_argument("--config", default=json.dumps([CHOSEN[0], CHOSEN[1]]), help="JSON [family, params]")
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument(
        "--filters", default="low_vol", help="comma-separated filter columns of the chosen trial"
    )
    args = parser.parse_args()
    print(machine_header("bench_predict: batch prediction rows per second (issue 8, item 4)"))
    from bench_sweep import default_settings

    family, params = json.loads(args.config)
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp:
        settings = default_settings(tmp)
        prices, _ = pipeline.run_ingest(settings)
        features, cols, _ = pipeline.run_features(prices, settings)
        splits, _ = pipeline.run_split(features, settings)
        dev = features.iloc[splits.development_rows()]
        dev = dev[dev["target_up"].notna()]
        sizes = [1_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000]
        models = [(family, params, True)] + ([] if args.quick else [(f, p, False) for f, p in OTHERS])
        filters = [c for c in args.filters.split(",") if c]
        rows = []
        for fam, par, is_chosen in models:
            spec = ModelSpec(fam, par)
            started = time.perf_counter()
            model = fit_model(spec, dev[cols], dev["target_up"].to_numpy("int8"), settings.seed)
            fit_s = time.perf_counter() - started
            bundle = make_bundle(model, cols, args.threshold, filters, settings.execution, settings.symbol)
            for n in sizes:
                frame = features.iloc[np.arange(n) % len(features)].reset_index(drop=True)
                repeat = 3 if n <= 100_000 else 1
                t_pred = best_time(
                    lambda frame=frame, bundle=bundle: bundle_signal(bundle, frame), repeat=repeat, warmup=1
                )
                row = {
                    "model": f"{spec.config_id}{' (chosen)' if is_chosen else ''}",
                    "rows": f"{n:,}",
                    "predict s": t_pred,
                    "predict rows/s": n / t_pred,
                }
                if is_chosen:
                    tsplits = tiled_splits(n)
                    t_frame = best_time(
                        lambda frame=frame, tsplits=tsplits, bundle=bundle: batch_predictions(
                            bundle, frame, tsplits, "bench"
                        ),
                        repeat=repeat,
                        warmup=0,
                    )
                    predictions = batch_predictions(bundle, frame, tsplits, "bench")
                    started = time.perf_counter()
                    write_predictions(predictions, f"{tmp}/out", f"bench-{n}")
                    t_write = time.perf_counter() - started
                    row.update(
                        {
                            "+ frame rows/s": n / t_frame,
                            "+ frame + write rows/s": n / (t_frame + t_write),
                            "write s": t_write,
                        }
                    )
                rows.append(row)
                print(
                    f"... {spec.config_id} (fit {fit_s:.1f} s), {n:,} rows: {n / t_pred:,.0f} rows/s",
                    flush=True,
                )
        for r in rows:
            for k in ("+ frame rows/s", "+ frame + write rows/s", "write s"):
                r.setdefault(k, "")
        print(f"\n## Batch prediction ({len(cols)} model features; best of 3 up to 100k rows, 1 run at 1M)\n")
        print(format_table(rows, floatfmt="{:,.4g}"))


if __name__ == "__main__":
    main()
