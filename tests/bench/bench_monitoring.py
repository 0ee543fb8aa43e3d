"""Monitoring's alert levels, measured: false alarms a year of a healthy model and the delay until a
planted decay is caught, on synthetic and on replayed data.

The reference is made as SpyFlow makes it (``tests/helpers/monitoring_reference.py``): the shipped
data, the flow's defaults, every configuration of the sweep scored on the walk-forward blocks, the final
choice's out-of-sample record and the profile over the training window. Then:

1. **Edge CUSUM** (``performance:edge_cusum``; ``k`` and ``h`` from the profile). Healthy: normal
   returns with the record's mean and sd (synthetic), and stationary block bootstraps of the record's
   own daily net returns (replayed: its fat tails and serial dependence; mean block 20 days). Decay:
   the same streams with the mean set to zero (the edge gone) and to minus the mean (the edge
   reversed). False alarms = alarms (the CUSUM reaches ``h``, then restarts) per 252 days; delay =
   trading days from the change (CUSUM at 0) to the first alarm.
2. **Prediction drift** (``prediction:share_traded``, ``prediction:mean_probability`` over 60 days):
   healthy = circular block bootstraps (60-day blocks) of the record's positions and probabilities;
   alarm episodes a year with the calibrated levels and with the fixed ones (0.30 / 0.06).
3. **Data drift** (``drift:*``, PSI over the last 250 rows). Replayed: a model whose training window
   ends on ``--cut`` (default 2012-12-31), monitored every day of the real data after it; alarm episodes
   a year (any feature), calibrated levels and the fixed 0.25. Planted: every feature in turn shifted
   by 0.5 and 1 of its reference sd from the first monitored day: delay until that feature alerts.
   Synthetic: independent normal features (a reference of 2,500 days), a stream of 10 years.
4. ``gap_open``'s PSI on the day after the training data, with the stale-open years in the reference
   (as before) and without them.

Run: ``nice -n 10 python tests/bench/bench_monitoring.py`` (the reference takes a few minutes of CPU:
560 trials; ``--cache FILE`` keeps it between runs). Figures go into ``spylib/monitoring/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchcommon import format_table, machine_header

from spylib.monitoring import MonitorConfig, reference_profile
from spylib.monitoring.checks import calibrated_levels
from spylib.monitoring.drift import psi_from_profile
from spylib.monitoring.reference import edge_cusum, stale_open_rows
from tests.helpers.monitoring_reference import MonitoredModel, monitored_model

YEAR = 252


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of rows whose keys differ (blank where a row has no value)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return format_table([{c: row.get(c, "") for c in columns} for row in rows])


def episodes(alarm: np.ndarray) -> int:
    """Days an alarm starts (the check goes from not alerting to alerting)."""
    a = np.asarray(alarm, dtype=bool)
    return int(a[0]) + int(np.sum(a[1:] & ~a[:-1])) if a.size else 0


def block_bootstrap(values: np.ndarray, n: int, mean_block: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary bootstrap (Politis-Romano) of ``values`` along axis 0, ``n`` rows long."""
    size = len(values)
    idx = np.empty(n, dtype=int)
    i = int(rng.integers(size))
    for t in range(n):
        idx[t] = i
        i = int(rng.integers(size)) if rng.random() < 1 / mean_block else (i + 1) % size
    return values[idx]


def circular_blocks(values: np.ndarray, n: int, block: int, rng: np.random.Generator) -> np.ndarray:
    starts = rng.integers(len(values), size=n // block + 1)
    idx = np.concatenate([(s + np.arange(block)) % len(values) for s in starts])[:n]
    return values[idx]


def first_crossing(path: np.ndarray, h: float) -> float:
    hit = np.flatnonzero(path >= h)
    return float(hit[0] + 1) if hit.size else np.inf


def summarize_delays(delays: list[float], horizon: int) -> dict[str, Any]:
    d = np.asarray(delays)
    caught = d[np.isfinite(d)]
    return {
        "median days": float(np.median(d)) if np.isfinite(np.median(d)) else f">{horizon}",
        "p90 days": float(np.quantile(d, 0.9)) if np.isfinite(np.quantile(d, 0.9)) else f">{horizon}",
        "caught in 1 y": f"{np.mean(d <= YEAR):.0%}",
        "caught in 3 y": f"{np.mean(d <= 3 * YEAR):.0%}",
        "never (in horizon)": f"{1 - caught.size / d.size:.0%}",
    }


def edge_figures(model: MonitoredModel, paths: int, years: int, seed: int) -> list[dict[str, Any]]:
    edge = model.profile["calibration"]["edge"]
    mu, sd, h = edge["mean"], edge["std"], edge["h"]
    net = model.record["net_return"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    n = years * YEAR
    rows: list[dict[str, Any]] = []
    streams = {
        "synthetic (normal)": lambda shift: rng.normal(mu + shift, sd, n),
        "replayed (block bootstrap of the record)": lambda shift: block_bootstrap(net, n, 20, rng) + shift,
    }
    for name, draw in streams.items():
        alarms = sum(int(np.sum(edge_cusum(draw(0.0), mu, sd, h) >= h)) for _ in range(paths))
        rows.append({"stream": name, "case": "healthy", "false alarms / year": alarms / (paths * years)})
        for case, shift in (("edge to zero", -mu), ("edge reversed", -2 * mu)):
            delays = [first_crossing(edge_cusum(draw(shift), mu, sd), h) for _ in range(paths)]
            rows.append({"stream": name, "case": case, **summarize_delays(delays, n)})
    return rows


def prediction_figures(model: MonitoredModel, paths: int, years: int, seed: int) -> list[dict[str, Any]]:
    cfg = MonitorConfig()
    rng = np.random.default_rng(seed)
    ref = model.profile["prediction"]
    both = np.column_stack([model.record["position"].to_numpy(dtype=float) > 0, model.record["probability"]])
    n, w = years * YEAR, cfg.prediction_window
    rows = []
    for key, col, fixed in (
        ("share_traded", 0, cfg.share_traded_alert),
        ("mean_probability", 1, cfg.mean_probability_alert),
    ):
        _, calibrated = calibrated_levels(model.profile, key, 0.0 + 1e-9, fixed)
        counts = {"calibrated": 0, "fixed": 0}
        for _ in range(paths):
            stream = circular_blocks(both, n, 60, rng)[:, col]
            shift = np.abs(pd.Series(stream).rolling(w).mean().dropna().to_numpy() - ref[key])
            counts["calibrated"] += episodes(shift >= calibrated)
            counts["fixed"] += episodes(shift >= fixed)
        rows.append({
            "check": f"prediction:{key}", "reference": ref[key], "alert |shift| (calibrated)": calibrated,
            "false alarms / year": counts["calibrated"] / (paths * years),
            f"with the fixed {fixed:g}": counts["fixed"] / (paths * years),
        })  # fmt: skip
    return rows


def psi_matrix(profile: dict[str, Any], values: pd.DataFrame, first: int, window: int) -> pd.DataFrame:
    """PSI of every feature over the ``window`` rows ending on each row from ``first`` on."""
    out = {}
    for col, ref in profile["features"].items():
        v = values[col].to_numpy(dtype=float)
        out[col] = [psi_from_profile(ref, v[end - window + 1 : end + 1]) for end in range(first, len(v))]
    return pd.DataFrame(out)


def alert_levels(profile: dict[str, Any], calibrated: bool) -> pd.Series:
    cfg = MonitorConfig()
    return pd.Series({
        col: calibrated_levels(profile, "psi", cfg.psi_warn, cfg.psi_alert, feature=col)[1] if calibrated else cfg.psi_alert
        for col in profile["features"]
    })  # fmt: skip


def drift_delays(
    profile: dict[str, Any], stream: pd.DataFrame, first: int, ref_sd: pd.Series
) -> dict[str, Any]:
    """Per shift size: median and worst delay over the features until the shifted feature alerts."""
    cfg = MonitorConfig()
    levels = alert_levels(profile, calibrated=True)
    out: dict[str, Any] = {}
    for size in (0.5, 1.0):
        delays = []
        for col in profile["features"]:
            if stream[col].nunique() <= 2:  # flags: a shift in sd units is not a distribution
                continue
            shifted = stream[col].to_numpy(dtype=float).copy()
            shifted[first:] += size * ref_sd[col]
            v = shifted
            days = [
                psi_from_profile(profile["features"][col], v[end - cfg.drift_window + 1 : end + 1])
                for end in range(first, len(v))
            ]
            delays.append(first_crossing(np.asarray(days), levels[col]))
        d = np.asarray(delays)
        out[f"shift {size:g} sd: median delay"] = (
            float(np.median(d)) if np.isfinite(np.median(d)) else "never"
        )
        out[f"shift {size:g} sd: caught"] = f"{np.isfinite(d).sum()}/{d.size} features"
    return out


def data_drift_figures(model: MonitoredModel, cut: date) -> list[dict[str, Any]]:
    cfg = MonitorConfig()
    feats = model.features
    dates = pd.to_datetime(feats["date"]).dt.date
    last_train = int(np.flatnonzero((dates <= cut).to_numpy())[-1])
    train = feats.iloc[: last_train + 1]
    profile = reference_profile(
        train, model.columns, record=model.record[pd.to_datetime(model.record["date"]).dt.date <= cut]
    )
    first = last_train + 1
    psis = psi_matrix(profile, feats[model.columns], first, cfg.drift_window)
    years = len(psis) / YEAR
    rows = []
    for calibrated in (True, False):
        alarm = (psis >= alert_levels(profile, calibrated)).any(axis=1).to_numpy()
        per_feature = sum(
            episodes((psis[c] >= alert_levels(profile, calibrated)[c]).to_numpy()) for c in psis
        )
        rows.append({
            "stream": f"replayed: real days {dates.iloc[first]}..{dates.iloc[-1]} ({years:.1f} y)",
            "levels": "calibrated" if calibrated else "fixed 0.25",
            "alarm episodes / year (any feature)": episodes(alarm) / years,
            "feature alarm episodes / year": per_feature / years,
            "days in alert": f"{alarm.mean():.0%}",
        })  # fmt: skip
    sd = train[model.columns].std()
    rows[0].update(drift_delays(profile, feats[model.columns], first, sd))
    return rows


def synthetic_drift_figures(seed: int, n_features: int = 10) -> dict[str, Any]:
    cfg = MonitorConfig()
    rng = np.random.default_rng(seed)
    cols = [f"x{i}" for i in range(n_features)]
    ref = pd.DataFrame(rng.normal(size=(2500, n_features)), columns=cols)
    profile = reference_profile(ref, cols)
    stream = pd.concat(
        [ref.tail(cfg.drift_window), pd.DataFrame(rng.normal(size=(10 * YEAR, n_features)), columns=cols)],
        ignore_index=True,
    )
    first = cfg.drift_window
    psis = psi_matrix(profile, stream, first, cfg.drift_window)
    alarm = (psis >= alert_levels(profile, True)).any(axis=1).to_numpy()
    return {
        "stream": f"synthetic: {n_features} independent normal features, 10 y",
        "levels": "calibrated",
        "alarm episodes / year (any feature)": episodes(alarm) / 10,
        **drift_delays(profile, stream, first, pd.Series(1.0, index=cols)),
    }


def gap_open_figure(model: MonitoredModel) -> dict[str, Any]:
    cfg = MonitorConfig()
    train = model.features.iloc[: model.train_last + 1]
    day_after = model.features.iloc[: model.train_last + 2].tail(cfg.drift_window)
    # opens unknown: no stale year is found, so none is left out (the reference as it was)
    with_stale = reference_profile(train.assign(open=np.nan), ["gap_open"])
    without = model.profile
    stale_years = sorted(set(pd.to_datetime(train["date"][stale_open_rows(train)]).dt.year))
    return {
        "day": str(model.features["date"].iloc[model.train_last + 1]),
        "stale-open years in the training window": f"{stale_years[0]}-{stale_years[-1]}" if stale_years else "none",
        "PSI with them in the reference": psi_from_profile(with_stale["features"]["gap_open"], day_after["gap_open"].to_numpy(dtype=float)),
        "PSI without them": psi_from_profile(without["features"]["gap_open"], day_after["gap_open"].to_numpy(dtype=float)),
        "alert level (calibrated)": calibrated_levels(without, "psi", cfg.psi_warn, cfg.psi_alert, feature="gap_open")[1],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=200, help="bootstrap/synthetic paths per case (200)")
    parser.add_argument("--years", type=int, default=10, help="years per path (10)")
    parser.add_argument("--cut", default="2012-12-31", help="end of the replayed model's training window")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", default="", help="pickle the reference here and reuse it")
    parser.add_argument("--sections", default="1234", help="which sections to run (default all: 1234)")
    args = parser.parse_args()
    print(machine_header("bench_monitoring: false alarms and detection delays"))
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():  # the scored record; the profile made again by this code
        model = pickle.loads(cache.read_bytes())
        train = model.features.iloc[: model.train_last + 1]
        profile = reference_profile(train, model.columns, record=model.record)
        model = dataclasses.replace(model, profile=profile)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            model = monitored_model(Path(tmp))
        if cache is not None:
            cache.write_bytes(pickle.dumps(model))
    t = model.trial
    edge = model.profile["calibration"]["edge"]
    print(f"\nchosen trial: config {t['config_id']}, threshold {t['threshold']}, filter {t['filter']}, sizing "
          f"{t['sizing']}; out-of-sample {model.profile['prediction']['span']}: exposure {t['oof_exposure']:.3f}, "
          f"net Sharpe {t['oof_sharpe_net']:.3f}")  # fmt: skip
    print(f"edge CUSUM: mean {edge['mean'] * 1e4:.2f} bp/day, sd {edge['std'] * 1e4:.1f} bp, k {edge['k']:.4f}, "
          f"h {edge['h']:.2f} (in-control run length {edge['arl_days']:.0f} days for normal returns)")  # fmt: skip
    print("\n## 1. edge CUSUM (alert at h)\n")
    if "1" in args.sections:
        print(table(edge_figures(model, args.paths, args.years, args.seed)))
    print("\n## 2. prediction drift over 60 days (healthy replays)\n")
    if "2" in args.sections:
        print(table(prediction_figures(model, args.paths, args.years, args.seed)))
    print("\n## 3. data drift (PSI over 250 rows)\n")
    if "3" in args.sections:
        drift_rows = [
            *data_drift_figures(model, date.fromisoformat(args.cut)),
            synthetic_drift_figures(args.seed),
        ]
        print(table(drift_rows))
    print("\n## 4. gap_open on the day after the training data\n")
    print(table([gap_open_figure(model)]))


if __name__ == "__main__":
    main()
