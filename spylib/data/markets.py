"""Realistic control markets: ``--source synthetic:family=F,edge=E[,years=Y][,seed=S][,overnight=Q][,block=L]``.

The Gaussian market of :mod:`spylib.data.synthetic` (``family=gaussian``, the default) has constant
volatility and thin tails; daily index returns have neither (the embedded S&P 500 stand-in has a
kurtosis near 10 and its worst day is -9.5%). A gate's error rates are measured on these three
families as well, each with no edge by construction at ``edge=0``:

``garch``
    GJR-GARCH(1,1) with Student-t innovations (fat tails, volatility clustering, and the leverage
    effect: volatility rises after falls), one model per symbol fitted to the embedded indices'
    daily log returns with ``arch`` (``arch_model(returns * 100, vol="GARCH", p=1, o=1, q=1,
    dist="t")``), driven by innovations whose correlation is that of the two fits' standardized
    residuals. The recursion is simulated here (so the two symbols share their shocks), from the
    unconditional variance after a 500-day burn-in.
``regimes``
    A two-state Markov chain, calm and turbulent, with occasional crash days. Set from the embedded
    index's years: a year is turbulent when its annualized volatility exceeds 20% (2000-2002, 2008,
    2009, 2011); a crash day is a log return below -4% (31 days, 29 of them in turbulent years). Per
    state: the daily mean and volatility of the non-crash days, the crash probability and the
    benchmark's beta and residual volatility; the crash days' mean and volatility; the daily
    probability of leaving a state is one over its mean spell length in days (turbulent spells of 3,
    2 and 1 years, calm ones of 1, 5, 1 and 7). Gaussian within a state.
``bootstrap``
    A stationary block bootstrap (Politis and Romano 1994) of the embedded indices' own days: blocks of
    consecutive real days (overnight and intraday log returns of both symbols together, so their
    relative strength is the real one), of geometric length with mean ``block`` days (default 40),
    wrapping around the end. Real tails, clustering and crashes, and nothing to predict beyond what
    a block keeps of the real order. That is not nothing: the embedded S&P 500's lag-one
    autocorrelation is -0.07 (in 1999-2008 and in 2009-2018 alike: an index's mean reversion, partly
    its components' stale prices), and a block keeps it, so this family is "no edge beyond the
    index's own", a harder null than the fitted ones.

The fitted parameters are shipped in ``spylib/data/resources/market_params.json``; regenerate them
with ``python -m spylib.data.markets --write`` (a run does not refit).

Opens, highs, lows, volumes (all families): the close-to-close log return ``r_t`` of ``garch`` and
``regimes`` is split into an overnight gap and an intraday part that are uncorrelated and sum to it,
``g_t = Q r_t + s_t sqrt(Q (1 - Q)) x_t`` (``x`` iid N(0, 1), ``s_t`` the day's volatility), with the
overnight share ``Q`` of :mod:`spylib.data.synthetic` (0.3); the bootstrap keeps the real split (the
embedded opens are stale in some years: the gap is then 0, as in the data). Highs, lows and volumes
are :mod:`spylib.data.synthetic`'s construction with the day's volatility (an EWMA, lambda 0.94, of
the path's own returns) in place of a constant one.

The planted edge (power): the next day's INTRADAY log return of the traded symbol is tilted by
``E sigma_{t+1} z_t``, where ``z_t = r_t / sigma_t`` is today's return standardized by the EWMA
volatility known before today and ``sigma_{t+1}`` the EWMA after today: a function of today's
observable prices only (the EWMA starts from the variance of the first 250 days, a constant whose
weight halves every 11 days, long gone when the first model is fitted after 750 days), so ``E`` is
close to the correlation of today's standardized return with the next day's (both execution conventions see it, as in :mod:`spylib.data.synthetic`). The benchmark has
no edge. :func:`ideal_sharpe` measures what an edge is worth on a long path of the family.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.schema import PRICE_COLUMNS
from spylib.data.synthetic import (
    END_DATE,
    START_PRICES,
    START_VOLUMES,
    BarNoise,
    SyntheticSpec,
    _fmt,
    _ohlcv,
    _price_data,
    generate_market,
    load_synthetic,
    parse_spec,
)

PARAMS_FILE = Path(__file__).resolve().parent / "resources" / "market_params.json"
REGENERATE = "python -m spylib.data.markets --write"
EWMA_LAMBDA = 0.94
BURN_IN = 500
TURBULENT_VOL = 0.20  # annualized volatility above which a year of the embedded index is turbulent
CRASH_RETURN = -0.04  # a daily log return below this is a crash day


# ---------------------------------------------------------------------------------------------
# the embedded indices and the fitted parameters
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def embedded_days() -> pd.DataFrame:
    """The embedded indices' aligned days (S&P 500 and NASDAQ Composite, from ``arch``): overnight
    (``gap_*``) and intraday (``intra_*``) log returns of the symbol (``s``) and benchmark (``b``)."""
    from arch.data import nasdaq, sp500

    own, bench = sp500.load(), nasdaq.load()
    common = own.index.intersection(bench.index)
    cols: dict[str, np.ndarray] = {}
    for key, frame in (("s", own.loc[common]), ("b", bench.loc[common])):
        close = np.log(frame["Adj Close"].to_numpy(dtype="float64"))
        # the adjustment factor scales the open too, so gap + intra is the adjusted close-to-close
        log_open = close + np.log(frame["Open"].to_numpy(dtype="float64") / frame["Close"].to_numpy())
        cols[f"gap_{key}"] = log_open[1:] - close[:-1]
        cols[f"intra_{key}"] = close[1:] - log_open[1:]
    return pd.DataFrame(cols, index=pd.DatetimeIndex(common[1:]))


def _fit_garch(returns: pd.Series) -> tuple[dict[str, float], np.ndarray]:
    from arch import arch_model

    res = arch_model(returns * 100, vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off")
    p = res.params
    params = {
        k: float(p[n]) for k, n in zip(("mu", "omega", "alpha", "gamma", "beta", "nu"), p.index, strict=False)
    }
    return params, np.asarray(res.std_resid, dtype="float64")


def _regime_stats(r_s: np.ndarray, r_b: np.ndarray) -> dict[str, float]:
    beta = float(np.cov(r_s, r_b)[0, 1] / np.var(r_s, ddof=1)) if len(r_s) > 2 else 1.0
    return {
        "mean": float(r_s.mean()),
        "vol": float(r_s.std(ddof=1)),
        "bench_beta": beta,
        "bench_resid_vol": float(np.std(r_b - beta * r_s, ddof=1)),
        "bench_mean_resid": float(np.mean(r_b - beta * r_s)),
    }


def _mean_spell(labels: list[bool], state: bool) -> float:
    spells, run = [], 0
    for label in [*labels, not state]:
        if label == state:
            run += 1
        elif run:
            spells.append(run)
            run = 0
    return float(np.mean(spells))


def fit_parameters() -> dict[str, Any]:
    """Fit every family's parameters to the embedded indices (what ``--write`` ships)."""
    days = embedded_days()
    r_s, r_b = days["gap_s"] + days["intra_s"], days["gap_b"] + days["intra_b"]
    garch_s, resid_s = _fit_garch(r_s)
    garch_b, resid_b = _fit_garch(r_b)
    years = r_s.groupby(r_s.index.year)
    turbulent = {int(y) for y, g in years if g.std() * math.sqrt(PERIODS_PER_YEAR) > TURBULENT_VOL}
    labels = [int(y) in turbulent for y in years.groups]
    in_turb = np.isin(r_s.index.year, sorted(turbulent))
    crash = r_s.to_numpy() < CRASH_RETURN
    days_per_year = len(r_s) / len(labels)
    states = {}
    for name, mask in (("calm", ~in_turb), ("turbulent", in_turb)):
        ok = mask & ~crash
        states[name] = {
            **_regime_stats(r_s.to_numpy()[ok], r_b.to_numpy()[ok]),
            "crash_probability": float(crash[mask].mean()),
            "leave_probability": 1.0 / (_mean_spell(labels, name == "turbulent") * days_per_year),
        }
    return {
        "source": "arch.data.sp500 (symbol) and arch.data.nasdaq (benchmark), daily log returns "
        f"{days.index[0].date()} to {days.index[-1].date()}",
        "regenerate": REGENERATE,
        "garch": {
            "symbol": garch_s,
            "benchmark": garch_b,
            "innovation_corr": float(np.corrcoef(resid_s, resid_b)[0, 1]),
        },
        "regimes": {
            "turbulent_years": sorted(turbulent),
            "turbulent_vol": TURBULENT_VOL,
            "crash_return": CRASH_RETURN,
            "states": states,
            "crash": _regime_stats(r_s.to_numpy()[crash], r_b.to_numpy()[crash]),
        },
        "embedded": {
            "days": len(r_s),
            "kurtosis": float(pd.Series(r_s).kurt() + 3.0),
            "mean": float(r_s.mean()),
            "vol": float(r_s.std()),
        },
    }


@lru_cache(maxsize=1)
def load_parameters() -> dict[str, Any]:
    """The shipped parameters (``PARAMS_FILE``)."""
    loaded: dict[str, Any] = json.loads(PARAMS_FILE.read_text(encoding="utf-8"))
    return loaded


# ---------------------------------------------------------------------------------------------
# the families' daily log returns (no edge)
# ---------------------------------------------------------------------------------------------
def _std_t(rng: np.random.Generator, nu: float, n: int) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return np.asarray(rng.standard_t(nu, n), dtype="float64") * math.sqrt((nu - 2.0) / nu)


def _gjr_path(p: dict[str, float], shocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GJR-GARCH(1,1) in percent: returns and volatilities (fractions) driven by unit ``shocks``."""
    omega, alpha, gamma, beta = p["omega"], p["alpha"], p["gamma"], p["beta"]
    var = omega / max(1.0 - alpha - 0.5 * gamma - beta, 1e-6)
    out, vols = np.empty_like(shocks), np.empty_like(shocks)
    for i, z in enumerate(shocks.tolist()):
        sd = math.sqrt(var)
        eps = sd * z
        out[i], vols[i] = eps, sd
        var = omega + (alpha + (gamma if eps < 0 else 0.0)) * eps * eps + beta * var
    return (p["mu"] + out) / 100.0, vols / 100.0


def garch_returns(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Close-to-close log returns and volatilities of the symbol and the benchmark."""
    g = load_parameters()["garch"]
    rho = g["innovation_corr"]
    z_s = _std_t(rng, g["symbol"]["nu"], n + BURN_IN)
    z_b = rho * z_s + math.sqrt(1.0 - rho * rho) * _std_t(rng, g["benchmark"]["nu"], n + BURN_IN)
    r_s, v_s = _gjr_path(g["symbol"], z_s)
    r_b, v_b = _gjr_path(g["benchmark"], z_b)
    return r_s[BURN_IN:], v_s[BURN_IN:], r_b[BURN_IN:], v_b[BURN_IN:]


def regime_states(n: int, rng: np.random.Generator) -> np.ndarray:
    """The Markov chain of states (True = turbulent), from its stationary distribution."""
    states = load_parameters()["regimes"]["states"]
    leave_calm, leave_turb = states["calm"]["leave_probability"], states["turbulent"]["leave_probability"]
    turbulent = rng.random() < leave_calm / (leave_calm + leave_turb)
    u = rng.random(n)
    out = np.empty(n, dtype=bool)
    for i, x in enumerate(u.tolist()):
        out[i] = turbulent
        if x < (leave_turb if turbulent else leave_calm):
            turbulent = not turbulent
    return out


def regime_returns(
    n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Close-to-close log returns and volatilities of the symbol and the benchmark, and crash days."""
    reg = load_parameters()["regimes"]
    turbulent = regime_states(n, rng)
    z = rng.standard_normal((2, n))
    u = rng.random(n)
    r_s, r_b, vol = np.empty(n), np.empty(n), np.empty(n)
    crash = np.zeros(n, dtype=bool)
    for name, mask in (("calm", ~turbulent), ("turbulent", turbulent)):
        st = reg["states"][name]
        crash |= mask & (u < st["crash_probability"])
        vol[mask] = st["vol"]
    for st, mask in (
        (reg["states"]["calm"], ~turbulent & ~crash),
        (reg["states"]["turbulent"], turbulent & ~crash),
        (reg["crash"], crash),
    ):
        r_s[mask] = st["mean"] + st["vol"] * z[0, mask]
        resid = st["bench_mean_resid"] + st["bench_resid_vol"] * z[1, mask]
        r_b[mask] = st["bench_beta"] * r_s[mask] + resid
    vol[crash] = reg["crash"]["vol"]
    return r_s, vol, r_b, vol * np.std(r_b) / np.std(r_s), crash


def bootstrap_indices(n_source: int, n: int, mean_block: float, rng: np.random.Generator) -> np.ndarray:
    """Politis-Romano stationary bootstrap: ``n`` row indices into ``n_source`` rows, blocks of
    geometric length (mean ``mean_block``), wrapping around the end."""
    starts = rng.integers(0, n_source, size=n)
    new_block = rng.random(n) < 1.0 / mean_block
    idx = np.empty(n, dtype=np.int64)
    current = int(starts[0])
    for i in range(n):
        if i > 0:
            current = int(starts[i]) if new_block[i] else (current + 1) % n_source
        idx[i] = current
    return idx


# ---------------------------------------------------------------------------------------------
# the edge, OHLCV and the market
# ---------------------------------------------------------------------------------------------
def ewma_vol(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """The EWMA volatility known before each day (from the previous days only)."""
    var = float(np.var(returns[: min(len(returns), 250)]))
    out = np.empty_like(returns)
    for i, r in enumerate(returns.tolist()):
        out[i] = math.sqrt(var)
        var = lam * var + (1.0 - lam) * r * r
    return out


def plant_edge(gap: np.ndarray, intra: np.ndarray, edge: float) -> np.ndarray:
    """Tilt each next day's intraday log return by ``edge * sigma_{t+1} * r_t / sigma_t`` (EWMA
    volatilities from the tilted path itself: the signal is observable at today's close)."""
    out = intra.copy()
    if edge == 0.0:
        return out
    var = float(np.var((gap + intra)[:250]))
    signal = 0.0
    for i in range(len(out)):
        sd = math.sqrt(var)
        out[i] += edge * sd * signal
        r = gap[i] + out[i]
        signal = r / sd
        var = EWMA_LAMBDA * var + (1.0 - EWMA_LAMBDA) * r * r
    return out


def _split(r: np.ndarray, vol: np.ndarray, q: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Overnight and intraday parts: uncorrelated, summing to ``r``, variance shares ``q`` and ``1 - q``."""
    gap = q * r + vol * math.sqrt(q * (1.0 - q)) * x
    return gap, r - gap


def family_days(spec: SyntheticSpec) -> dict[str, np.ndarray]:
    """Overnight and intraday log returns of both symbols (no edge yet), ``spec.rows`` days."""
    n, rng = spec.rows, np.random.default_rng(spec.seed)
    if spec.family == "bootstrap":
        days = embedded_days()
        idx = bootstrap_indices(len(days), n, spec.block, rng)
        return {c: days[c].to_numpy()[idx] for c in days.columns}
    if spec.family == "garch":
        r_s, v_s, r_b, v_b = garch_returns(n, rng)
    else:
        r_s, v_s, r_b, v_b, _ = regime_returns(n, rng)
    x = rng.standard_normal((2, n))
    gap_s, intra_s = _split(r_s, v_s, spec.overnight, x[0])
    gap_b, intra_b = _split(r_b, v_b, spec.overnight, x[1])
    return {"gap_s": gap_s, "intra_s": intra_s, "gap_b": gap_b, "intra_b": intra_b}


def generate_family_market(spec: SyntheticSpec, symbol: str = "SPY", benchmark: str = "QQQ") -> pd.DataFrame:
    """Daily OHLCV of both symbols, long format in ``PRICE_COLUMNS`` order, deterministic in ``spec``
    (the Gaussian family is :func:`spylib.data.synthetic.generate_market`)."""
    if spec.family == "gaussian":
        return generate_market(spec, symbol, benchmark)
    days = family_days(spec)
    extras = np.random.default_rng([spec.seed, 1]).standard_normal((6, spec.rows))
    uniforms = np.random.default_rng([spec.seed, 2]).random((2, spec.rows))
    days["intra_s"] = plant_edge(days["gap_s"], days["intra_s"], spec.edge)
    frames = []
    for i, (name, key) in enumerate(((symbol, "s"), (benchmark, "b"))):
        r = days[f"gap_{key}"] + days[f"intra_{key}"]
        vol = ewma_vol(r)
        cols = _ohlcv(
            days[f"gap_{key}"],
            days[f"intra_{key}"],
            np.abs(r) / float(np.std(r)),
            START_PRICES[i],
            START_VOLUMES[i],
            vol * math.sqrt(1.0 - spec.overnight),  # type: ignore[arg-type]
            BarNoise(extras[3 * i : 3 * i + 3], uniforms[i]),
        )
        dates = pd.bdate_range(end=END_DATE, periods=spec.rows).date
        frames.append(pd.DataFrame({"date": dates, "symbol": name, **cols}))
    return pd.concat(frames, ignore_index=True)[list(PRICE_COLUMNS)]


_DESCRIPTIONS = {
    "garch": "GJR-GARCH(1,1)-t fitted to the embedded indices",
    "regimes": "calm/turbulent Markov regimes with crash days, set from the embedded indices' years",
    "bootstrap": "stationary block bootstrap of the embedded indices' days",
}


def load_market(source: str, symbol: str, benchmark: str) -> tuple[Any, Any]:
    """The ingest hook for every ``synthetic:...`` source: both symbols' :class:`PriceData`, each run
    through the same normalization as a file."""
    spec = parse_spec(source)
    if spec.family == "gaussian":
        return load_synthetic(source, symbol, benchmark)
    frame = generate_family_market(spec, symbol, benchmark)
    common = (
        f"SYNTHETIC market, not real data ({spec.canonical()}: {_DESCRIPTIONS[spec.family]}; "
        f"business-day calendar ending {END_DATE})"
    )
    traded = f"{common}: planted edge E={_fmt(spec.edge)} (next day's intraday return tilted by today's)"
    return (
        _price_data(frame, symbol, spec, traded),
        _price_data(frame, benchmark, spec, f"{common}: benchmark without an edge"),
    )


# ---------------------------------------------------------------------------------------------
# what an edge is worth
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdealSharpe:
    """Annualized Sharpe ratios (mean/std * sqrt(252) of daily simple close-to-close returns, flat
    days count as zero, no costs) of rules that know the planted edge, on one long path."""

    family: str
    edge: float
    long_flat: float
    long_short: float
    buy_and_hold: float
    days: int


def _annualized(x: np.ndarray) -> float:
    sd = float(np.std(x))
    return 0.0 if sd == 0 else float(np.mean(x)) / sd * math.sqrt(PERIODS_PER_YEAR)


def ideal_sharpe(family: str, edge: float, *, years: float = 200.0, seed: int = 7) -> IdealSharpe:
    """What ``edge`` is worth on ``family``: the rules trade the next close-to-close return on the
    sign of its conditional mean, ``drift + edge * sigma_{t+1} * z_t`` (``drift`` the path's mean daily
    log return): long/flat and long/short, against buy and hold on the same path."""
    spec = parse_spec(f"synthetic:family={family},edge={edge},years={years},seed={seed}")
    if family == "gaussian":
        frame = generate_market(spec)
        close = frame[frame["symbol"] == "SPY"]["close"].to_numpy()
        r = np.diff(np.log(close))
    else:
        days = family_days(spec)
        r = days["gap_s"] + plant_edge(days["gap_s"], days["intra_s"], edge)
    vol = ewma_vol(r)
    z = r / vol
    nxt = np.concatenate((vol[1:], [vol[-1]]))
    forecast = float(np.mean(r)) + edge * nxt * z
    fwd = np.expm1(r[1:])
    long = (forecast[:-1] > 0).astype("float64")
    return IdealSharpe(
        family=family,
        edge=float(edge),
        long_flat=_annualized(long * fwd),
        long_short=_annualized((2 * long - 1) * fwd),
        buy_and_hold=_annualized(fwd),
        days=len(fwd),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Fit the realistic markets' parameters to the embedded indices."
    )
    parser.add_argument("--write", action="store_true", help=f"write {PARAMS_FILE.name} (else print)")
    args = parser.parse_args()
    text = json.dumps(fit_parameters(), indent=2) + "\n"
    if args.write:
        PARAMS_FILE.parent.mkdir(parents=True, exist_ok=True)
        PARAMS_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {PARAMS_FILE}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
