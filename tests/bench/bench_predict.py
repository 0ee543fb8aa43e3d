"""batch prediction, rows per second, at 1 thousand, 100 thousand and 1 million rows.

The model is fitted on the rows the flow's final refit uses (``splits.final_train_rows()``: every
labelled row, default data and settings) and wrapped in the registered bundle
(``spylib.modelling.models.make_bundle``). Input rows are the real feature table's rows, repeated to
reach the size. Timed:

* ``predict``: ``spylib.modelling.models.bundle_signal`` (column selection, ``predict_proba``,
  threshold and filters), the batch path of ``spylib.modelling.predictions`` and of the inference handler;
* ``+ frame``: ``spylib.modelling.predictions.batch_predictions`` with every row unlabelled (so every row
  goes through the registered model as the ``latest`` segment, none is copied from the track);
* ``+ write``: ``spylib.modelling.predictions.write_predictions`` (Parquet and CSV, atomically) on top.

The chosen model is the trial the default run selects (``--config``/``--threshold``/``--filters``/
``--sizing``, defaults below); one configuration of each other family of the default grid is timed
too, for context (``predict`` only).

Run: ``python tests/bench/bench_predict.py`` (``--quick``: 1k and 100k rows, chosen model only).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from functools import partial

import numpy as np
import pandas as pd
from benchcommon import best_time, format_table, machine_header, training_settings

from spylib.core.config import ModelSpec
from spylib.modelling.models import bundle_signal, fit_model, make_bundle
from spylib.modelling.predictions import batch_predictions, write_predictions
from spylib.modelling.walk_forward import Splits
from spylib.stages.training.features import run_features
from spylib.stages.training.ingest import run_ingest
from spylib.stages.training.split import run_split

# The trial the default run (default data, sweep and settings, seed 42) selects; override with
# --config/--threshold/--filters/--sizing when the default run chooses another (bench_sweep.py and
# bench_flow.py print the choice).
CHOSEN = (
    "random_forest",
    {"max_depth": 4, "max_features": "sqrt", "min_samples_leaf": 50, "n_estimators": 100},
)
CHOSEN_RULE = {"threshold": 0.525, "filters": "", "sizing": "long_flat"}
NO_SEGMENTS = Splits(segments={}, blocks=(), final_train_last=0, label_horizon=2, embargo_days=0)


def empty_track() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Series(dtype=object),
            "block": pd.Series(dtype=object),
            "probability": pd.Series(dtype="float64"),
            "position": pd.Series(dtype="float64"),
            "target_up": pd.Series(dtype="int8"),
            "fwd_return": pd.Series(dtype="float64"),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 100k rows, the chosen model only")
    parser.add_argument("--config", default=json.dumps([CHOSEN[0], CHOSEN[1]]), help="JSON [family, params]")
    parser.add_argument("--threshold", type=float, default=CHOSEN_RULE["threshold"])
    parser.add_argument(
        "--filters", default=CHOSEN_RULE["filters"], help="comma-separated filter columns of the chosen trial"
    )
    parser.add_argument("--sizing", default=CHOSEN_RULE["sizing"])
    args = parser.parse_args()
    print(machine_header("bench_predict: batch prediction rows per second"))
    family, params = json.loads(args.config)
    with tempfile.TemporaryDirectory(prefix="spyflow-bench-") as tmp:
        settings = training_settings(tmp)
        ingested = run_ingest(settings, "bench")
        made = run_features(ingested.prices, settings, "bench", ingested.lake_files)
        data = run_split(
            made.feature_table, made.feature_columns, made.data_quality, settings.plan
        ).training_data
        features, cols = data.features, list(data.feature_columns)
        final = features.iloc[data.splits.final_train_rows()]
        final = final[final["target_up"].notna()]
        sizes = [1_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000]
        chosen = ModelSpec(family, params)
        others: list[ModelSpec] = []
        for spec in settings.plan.sweep.models:
            if spec.family != family and spec.family not in {o.family for o in others}:
                others.append(spec)
        models = [(chosen, True)] + ([] if args.quick else [(o, False) for o in others])
        filters = [c for c in args.filters.split(",") if c]
        unlabelled = features.assign(target_up=pd.array([pd.NA] * len(features), dtype="Int8"))
        rows = []
        for spec, is_chosen in models:
            started = time.perf_counter()
            model = fit_model(spec, final[cols], final["target_up"].to_numpy("int8"), settings.plan.seed)
            fit_s = time.perf_counter() - started
            bundle = make_bundle(
                model,
                cols,
                args.threshold,
                filters,
                settings.plan.execution,
                settings.data.symbol,
                sizing=args.sizing,
                target_volatility=settings.plan.sweep.target_volatility,
            )
            for n in sizes:
                tile = np.arange(n) % len(features)
                frame = features.iloc[tile].reset_index(drop=True)
                repeat = 3 if n <= 100_000 else 1
                t_pred = best_time(partial(bundle_signal, bundle, frame), repeat=repeat, warmup=1)
                row = {
                    "model": f"{spec.config_id}{' (chosen)' if is_chosen else ''}",
                    "fit s": fit_s,
                    "rows": f"{n:,}",
                    "predict s": t_pred,
                    "predict rows/s": f"{n / t_pred:,.0f}",
                }
                if is_chosen:
                    latest = unlabelled.iloc[tile].reset_index(drop=True)
                    t_frame = best_time(
                        partial(batch_predictions, bundle, latest, NO_SEGMENTS, empty_track(), "bench"),
                        repeat=repeat,
                        warmup=0,
                    )
                    predictions = batch_predictions(bundle, latest, NO_SEGMENTS, empty_track(), "bench")
                    assert len(predictions) == n
                    started = time.perf_counter()
                    write_predictions(predictions, f"{tmp}/out", f"bench-{n}")
                    t_write = time.perf_counter() - started
                    row.update(
                        {
                            "+ frame rows/s": f"{n / t_frame:,.0f}",
                            "+ frame + write rows/s": f"{n / (t_frame + t_write):,.0f}",
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
        print(
            f"\n## Batch prediction ({len(cols)} model features, fitted on {len(final):,} rows; best of 3 "
            "up to 100k rows, 1 run at 1M)\n"
        )
        print(format_table(rows, floatfmt="{:.3g}"))


if __name__ == "__main__":
    main()
