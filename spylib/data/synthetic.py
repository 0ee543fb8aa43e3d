"""Synthetic control markets: ``--source synthetic:edge=E[,years=Y][,seed=S][,drift=D][,vol=V][,corr=C][,overnight=Q]``
(the Gaussian family, here) or ``synthetic:family=garch|regimes|bootstrap,edge=E,...`` (realistic
families fitted to the embedded indices: :mod:`spylib.data.markets`).

A positive control (``edge > 0``: a known, planted, next-day predictability of strength ``E``) and a
negative control (``edge=0``: nothing to predict) for the whole pipeline. A gate that approves models
on ``edge=0`` markets, or cannot find ``edge=0.1``, is measured, not argued about.

Spec keys (strictly parsed: unknown, repeated or malformed keys raise
:class:`~spylib.core.errors.ConfigError` with ``source="--source"``):

============  =========  ========================================================================
key           default    meaning
============  =========  ========================================================================
edge          required   E in [0, 1): correlation of today's return with the next label return
years         20         length in 252-row trading years (>= 2, <= 200): ``round(252 * years)`` rows
seed          0          non-negative integer; the same spec gives byte-identical frames
drift         0.0003     daily log drift of both symbols (about 7.5% a year), in [-0.01, 0.01]
vol           0.01       daily volatility of the traded symbol, in (0, 0.1]; the benchmark has 1.3x
corr          0.85       benchmark loading on the symbol's innovations, in [0, 1)
overnight     0.3        share of the unpredictable variance (and of the drift) realized overnight,
                         in (0, 1): the open is never the previous close
family        gaussian   ``gaussian`` (this module), or a realistic market of
                         :mod:`spylib.data.markets`: ``garch``, ``regimes``, ``bootstrap`` (these take
                         only family, edge, years, seed, overnight, and ``block`` for the bootstrap:
                         its mean block length in days, in [2, 1000], default 40)
============  =========  ========================================================================

Calendar: ``pandas.bdate_range`` (Monday to Friday, no holidays) ending on 2024-12-31, a fixed date, so
the frames do not depend on the day the spec is generated. ``years`` counts rows the way the pipeline
annualizes (252 a year), so a 20-year market spans about 19.3 calendar years.

The generating model (log prices, per day t; v, w, and the benchmark's own noise are iid N(0, 1))::

    u_t  = E u_{t-1} + k (sqrt(Q) v_t + sqrt(1 - Q) w_t),   k = sqrt(1 - E^2),   u_{-1} ~ N(0, 1)
    g_t  = Q D + vol k sqrt(Q) v_t                       overnight:  log open_t  - log close_{t-1}
    d_t  = (1 - Q) D + vol (E u_{t-1} + k sqrt(1 - Q) w_t)  intraday:  log close_t - log open_t

so the close-to-close log return is ``r_t = g_t + d_t = D + vol u_t``: ``u`` is a stationary AR(1)
with unit variance and ``u_t`` is exactly the standardized return of day t, which the model's
``return`` feature is a monotone transform of (``exp(D + vol u_t) - 1``). That is the planted signal
``s_t = u_t``. Today's own return was chosen because it is the most direct feature the model sees
(no window, no warm-up, the same for a tree and a logistic regression), so a pipeline that cannot find
it has a bug, not a hard problem.

The edge lives in the INTRADAY part of the next day only; overnight gaps are unpredictable noise.
Then both execution conventions see the same edge, exactly:

* ``close_to_close``: ``log(close_{t+1} / close_t) = g_{t+1} + d_{t+1} = D + vol (E u_t + k e_{t+1})``;
* ``open_to_open``: ``log(open_{t+2} / open_{t+1}) = d_{t+1} + g_{t+2} = D + vol (E u_t + k e')``, where
  ``e' = sqrt(1 - Q) w_{t+1} + sqrt(Q) v_{t+2}`` is again N(0, 1) and independent of the past.

In both cases (s_t, label log return) is bivariate normal with correlation E and the same moments, so
the table below holds for either convention. (Had the edge been put in the overnight gap, an
open-to-open trader entering at open t+1 would have missed it: it is realized before he gets in.)

The benchmark has no edge of its own: its overnight and intraday innovations load ``corr`` on the
symbol's (``corr * v_t + sqrt(1 - corr^2) n_t``), its daily volatility is ``1.3 * vol``, so its
close-to-close correlation with the symbol is ``corr * sqrt(1 - E^2)`` (0.85 by default at E = 0).
High and low extend ``max/min(open, close)`` by half-normal amounts of the intraday scale; volume is
a log-AR(1) (persistence 0.97) that rises with ``|u_t|`` and has 1% spike days (x3.5), rounded to
whole shares, never carrying direction. ``adj_close`` equals ``close``. Volatility is constant: the
vol features carry no information, by design.

What E buys (:func:`signal_benchmarks`: exact for this generator with the default drift 0.0003 and
vol 0.01, lognormal algebra on the daily SIMPLE returns the pipeline trades; a simulation of 2 million
days per convention agreed within 0.0003 AUC and 0.01 Sharpe at E = 0, 0.05, 0.1, 0.3). AUC is that
of the true signal ``s_t`` (or any monotone transform, e.g. ``return``) for ``target_up``; at zero
drift it is ``1/2 + (2/pi) asin(E / sqrt 2)``, about ``0.5 + 0.45 E``. The rules are ideal: long
(long/flat) or long/short on the sign of ``E[fwd_return | s_t]``; annualized Sharpe = mean/std *
sqrt(252), flat days count as zero, no costs; buy and hold has 0.56. "Years to detect" is the record
for which the edge alone (the long/short Sharpe of the signal without drift,
``E sqrt(2/pi) / sqrt(1 - 2 E^2 / pi)`` a day) passes a one-sided 5% test with 80% power
(``T = (2.49 / SR_daily)^2`` days, the evaluation notes' rule): pick E for the power a test needs.

=====  ======  =================  ==================  ================
E      AUC     Sharpe long/flat   Sharpe long/short   years to detect
=====  ======  =================  ==================  ================
0      0.5000  0.56 (= B&H)       0.56 (= B&H)        never
0.01   0.5045  0.56               0.56                386
0.02   0.5090  0.57               0.57                97
0.03   0.5135  0.62               0.61                43
0.05   0.5225  0.77               0.78                15
0.075  0.5338  0.97               1.05                6.8
0.10   0.5451  1.19               1.35                3.8
0.15   0.5677  1.63               1.96                1.7
0.20   0.5903  2.08               2.60                0.94
0.30   0.6361  3.00               3.94                0.40
0.50   0.7301  4.93               6.92                0.13
=====  ======  =================  ==================  ================

For E up to about 0.02 both ideal rules are nearly always long (the drift outweighs the signal), so
their Sharpe is buy and hold's; the signal starts to pay for itself near E = 0.03-0.05. Honest daily
index results sit near AUC 0.50-0.52 (see the evaluation notes), i.e. E of at most about 0.05: an
out-of-sample result like E = 0.1 on real data calls for a leakage audit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date

import numpy as np
import pandas as pd

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.errors import ConfigError
from spylib.core.schema import PRICE_COLUMNS
from spylib.data.prices import PriceData, normalize_prices, prices_fingerprint

SYNTHETIC = "synthetic"
SPEC_SOURCE = "--source"
END_DATE = date(2024, 12, 31)
BENCHMARK_VOL_RATIO = 1.3
START_PRICES = (100.0, 50.0)  # traded symbol, benchmark
START_VOLUMES = (80e6, 50e6)
VOLUME_PERSISTENCE = 0.97
VOLUME_NOISE = 0.1
VOLUME_ABS_RETURN_LOADING = 0.15
SPIKE_PROBABILITY = 0.01
SPIKE_FACTOR = 3.5
RANGE_SCALE = 0.5  # high/low extension, in intraday standard deviations (half-normal)


@dataclass(frozen=True)
class SyntheticSpec:
    """The parameters of a synthetic market (see the module docstring for their meaning)."""

    edge: float
    years: float = 20.0
    seed: int = 0
    drift: float = 0.0003
    vol: float = 0.01
    corr: float = 0.85
    overnight: float = 0.3
    family: str = "gaussian"
    block: float = 40.0

    @property
    def rows(self) -> int:
        return round(PERIODS_PER_YEAR * self.years)

    def canonical(self) -> str:
        """The spec with every parameter that applies to its family spelled out, e.g. for provenance:
        ``synthetic:edge=0.1,years=20,...`` (the Gaussian family's spelling has no ``family`` key)."""
        keys = _FAMILY_KEYS[self.family]
        items = [f"{name}={_fmt(getattr(self, name))}" for name in keys if name != "family"]
        head = [] if self.family == "gaussian" else [f"family={self.family}"]
        return f"{SYNTHETIC}:{','.join(head + items)}"


def _fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


# key -> (low, high, whether high is allowed, the range in words); the low end is allowed except for
# the keys of _OPEN_LOW.
_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "edge": (0.0, 1.0, False, "in [0, 1)"),
    "years": (2.0, 200.0, True, "in [2, 200]"),
    "drift": (-0.01, 0.01, True, "in [-0.01, 0.01]"),
    "vol": (0.0, 0.1, True, "in (0, 0.1]"),
    "corr": (0.0, 1.0, False, "in [0, 1)"),
    "overnight": (0.0, 1.0, False, "in (0, 1)"),
    "block": (2.0, 1000.0, True, "in [2, 1000]"),
}
_OPEN_LOW = {"vol", "overnight"}  # the low end is excluded
_KEYS = tuple(f.name for f in fields(SyntheticSpec))
# The realistic families (spylib.data.markets) are fitted to the embedded indices: drift, vol and
# corr are the Gaussian family's own; block is the bootstrap's mean block length in days.
_COMMON_KEYS = ("family", "edge", "years", "seed", "overnight")
_FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "gaussian": ("edge", "years", "seed", "drift", "vol", "corr", "overnight"),
    "garch": _COMMON_KEYS,
    "regimes": _COMMON_KEYS,
    "bootstrap": (*_COMMON_KEYS, "block"),
}
FAMILIES = tuple(_FAMILY_KEYS)


def is_synthetic_source(source: str) -> bool:
    """True for ``synthetic`` and ``synthetic:...`` (the spec itself is checked by :func:`parse_spec`)."""
    return source == SYNTHETIC or source.startswith(f"{SYNTHETIC}:")


def parse_spec(source: str) -> SyntheticSpec:
    """Parse ``synthetic:edge=E[,key=value...]`` strictly; every problem is a one-line ConfigError."""
    if not is_synthetic_source(source):
        raise ConfigError(
            f"not a synthetic source: {source!r} (expected 'synthetic:edge=E,...')", source=SPEC_SOURCE
        )
    body = source[len(SYNTHETIC) + 1 :]
    values: dict[str, float | int | str] = {}
    for item in body.split(",") if body else []:
        key, sep, text = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise ConfigError(f"expected key=value, got {item!r}", source=SPEC_SOURCE, key=key or item)
        if key not in _KEYS:
            raise ConfigError(f"unknown key (allowed: {', '.join(_KEYS)})", source=SPEC_SOURCE, key=key)
        if key in values:
            raise ConfigError("given twice", source=SPEC_SOURCE, key=key)
        values[key] = _parse_value(key, text)
    if "edge" not in values:
        raise ConfigError(
            "missing: the spec needs edge=E, e.g. 'synthetic:edge=0.1' (0 = no edge)",
            source=SPEC_SOURCE,
            key="edge",
        )
    family = str(values.get("family", "gaussian"))
    foreign = [k for k in values if k not in _FAMILY_KEYS[family] and k != "family"]
    if foreign:
        raise ConfigError(
            f"does not apply to family={family} (its keys: {', '.join(_FAMILY_KEYS[family])})",
            source=SPEC_SOURCE,
            key=foreign[0],
        )
    return SyntheticSpec(**values)  # type: ignore[arg-type]


def _parse_value(key: str, text: str) -> float | int | str:
    if key == "family":
        if text not in _FAMILY_KEYS:
            raise ConfigError(
                f"unknown family {text!r} (allowed: {', '.join(_FAMILY_KEYS)})", source=SPEC_SOURCE, key=key
            )
        return text
    return _parse_seed(text) if key == "seed" else _parse_number(key, text)


def _parse_seed(text: str) -> int:
    if not text.isdigit():
        raise ConfigError(f"must be a non-negative integer, got {text!r}", source=SPEC_SOURCE, key="seed")
    return int(text)


def _parse_number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"not a number: {text!r}", source=SPEC_SOURCE, key=key) from None
    low, high, high_inclusive, what = _RANGES[key]
    too_low = value <= low if key in _OPEN_LOW else value < low
    too_high = value > high if high_inclusive else value >= high
    if not math.isfinite(value) or too_low or too_high:
        raise ConfigError(f"must be {what}, got {text}", source=SPEC_SOURCE, key=key)
    return value


# ---------------------------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------------------------
def _ar1(innovations: np.ndarray, phi: float, start: float) -> np.ndarray:
    """``x_t = phi x_{t-1} + innovations_t`` from ``x_{-1} = start`` (a loop: ~10 ms for 25k rows)."""
    out = np.empty_like(innovations)
    x = start
    for i, e in enumerate(innovations.tolist()):
        x = phi * x + e
        out[i] = x
    return out


@dataclass(frozen=True)
class BarNoise:
    """The random draws of one symbol's bars beyond its returns: ``normals`` (3 x n) stretch the high
    and the low and drive the volume level, ``uniforms`` (n) place the volume spikes."""

    normals: np.ndarray
    uniforms: np.ndarray


def _ohlcv(
    overnight: np.ndarray,
    intraday: np.ndarray,
    abs_signal: np.ndarray,
    start_price: float,
    start_volume: float,
    intraday_scale: float,
    noise: BarNoise,
) -> dict[str, np.ndarray]:
    """Price and volume columns from the overnight and intraday log returns."""
    draws = noise.normals
    log_close = math.log(start_price) + np.cumsum(overnight + intraday)
    log_open = log_close - intraday
    open_, close = np.exp(log_open), np.exp(log_close)
    high = np.maximum(open_, close) * np.exp(RANGE_SCALE * intraday_scale * np.abs(draws[0]))
    low = np.minimum(open_, close) * np.exp(-RANGE_SCALE * intraday_scale * np.abs(draws[1]))
    level = _ar1(VOLUME_NOISE * draws[2], VOLUME_PERSISTENCE, 0.0)
    activity = VOLUME_ABS_RETURN_LOADING * (abs_signal - math.sqrt(2 / math.pi))
    spikes = np.where(noise.uniforms < SPIKE_PROBABILITY, math.log(SPIKE_FACTOR), 0.0)
    volume = np.round(start_volume * np.exp(level + activity + spikes))
    return {"open": open_, "high": high, "low": low, "close": close, "adj_close": close, "volume": volume}


def generate_market(spec: SyntheticSpec, symbol: str = "SPY", benchmark: str = "QQQ") -> pd.DataFrame:
    """Daily OHLCV of ``symbol`` (with the planted edge) and ``benchmark`` (none), long format in
    ``PRICE_COLUMNS`` order: the symbol's rows by date, then the benchmark's. Deterministic in ``spec``."""
    n = spec.rows
    rng = np.random.default_rng(spec.seed)
    # Fixed draw order: the same spec always consumes the same stream.
    u_start = float(rng.standard_normal())
    z = rng.standard_normal((10, n))  # v, w, bench v, bench w, 3 symbol extras, 3 benchmark extras
    uniforms = rng.random((2, n))
    e, q, d, vol, rho = spec.edge, spec.overnight, spec.drift, spec.vol, spec.corr
    k = math.sqrt(1.0 - e * e)
    v, w = z[0], z[1]
    u = _ar1(k * (math.sqrt(q) * v + math.sqrt(1 - q) * w), e, u_start)
    u_prev = np.concatenate(([u_start], u[:-1]))
    gap = q * d + vol * k * math.sqrt(q) * v
    intra = (1 - q) * d + vol * (e * u_prev + k * math.sqrt(1 - q) * w)

    bench_vol = BENCHMARK_VOL_RATIO * vol
    rest = math.sqrt(1.0 - rho * rho)
    bv, bw = rho * v + rest * z[2], rho * w + rest * z[3]
    b_gap = q * d + bench_vol * math.sqrt(q) * bv
    b_intra = (1 - q) * d + bench_vol * math.sqrt(1 - q) * bw
    b_abs = np.abs(math.sqrt(q) * bv + math.sqrt(1 - q) * bw)

    dates = pd.bdate_range(end=END_DATE, periods=n).date
    own_noise, bench_noise = BarNoise(z[4:7], uniforms[0]), BarNoise(z[7:10], uniforms[1])
    own = _ohlcv(gap, intra, np.abs(u), START_PRICES[0], START_VOLUMES[0], vol * math.sqrt(1 - q), own_noise)
    bench_scale = bench_vol * math.sqrt(1 - q)
    bench = _ohlcv(b_gap, b_intra, b_abs, START_PRICES[1], START_VOLUMES[1], bench_scale, bench_noise)
    frames = [
        pd.DataFrame({"date": dates, "symbol": name, **cols})
        for name, cols in ((symbol, own), (benchmark, bench))
    ]
    return pd.concat(frames, ignore_index=True)[list(PRICE_COLUMNS)]


def _price_data(frame: pd.DataFrame, symbol: str, spec: SyntheticSpec, description: str) -> PriceData:
    """Run one symbol through the same validation as a file (so the generator cannot emit bad rows)."""
    source = spec.canonical()
    raw = frame[frame["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
    raw["date"] = [d.isoformat() for d in raw["date"]]
    raw["_line"] = np.arange(1, len(raw) + 1)
    normalized = normalize_prices(raw, "yahoo", symbol, source, today=END_DATE)
    return PriceData(symbol, normalized, source, SYNTHETIC, description, prices_fingerprint(normalized))


def load_synthetic(source: str, symbol: str, benchmark: str) -> tuple[PriceData, PriceData]:
    """The :func:`spylib.data.sources.ingest` hook: both symbols of the market ``source`` describes."""
    spec = parse_spec(source)
    frame = generate_market(spec, symbol, benchmark)
    common = f"SYNTHETIC market, not real data ({spec.canonical()}; business-day calendar ending {END_DATE})"
    traded = (
        f"{common}: planted edge E={_fmt(spec.edge)} (corr of today's return with the next label return, "
        "both execution conventions)"
    )
    bench = f"{common}: benchmark without an edge, innovations loading corr={_fmt(spec.corr)} on {symbol}'s"
    return _price_data(frame, symbol, spec, traded), _price_data(frame, benchmark, spec, bench)


# ---------------------------------------------------------------------------------------------
# what an edge is worth
# ---------------------------------------------------------------------------------------------
def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def signal_auc(edge: float, drift: float = 0.0003, vol: float = 0.01) -> float:
    """Population AUC of the true signal ``s_t`` (or any monotone transform) for ``target_up``:
    ``P(s_a > s_b | up_a, down_b) = int f_up(s) F_down(s) ds``, on a fine grid. At zero drift it is
    ``1/2 + (2/pi) asin(edge / sqrt 2)``."""
    from scipy.special import ndtr

    e, m = float(edge), drift / vol
    k = math.sqrt(1.0 - e * e)
    s, ds = np.linspace(-9.0, 9.0, 36001, retstep=True)
    dens = np.exp(-0.5 * s * s) / math.sqrt(2 * math.pi)
    p_up = np.asarray(ndtr((m + e * s) / k), dtype="float64")  # P(up | s)
    f_up, f_down = dens * p_up, dens * (1.0 - p_up)
    below = np.cumsum(f_down) * ds - 0.5 * f_down * ds  # P(s_b < s, down_b), trapezoid-centred
    return float(np.sum(f_up * below) / (np.sum(f_up) * np.sum(f_down) * ds))


def _rule_moments(edge: float, drift: float, vol: float) -> tuple[float, float, float, float]:
    """Exact mean and second moment of the daily SIMPLE return of the ideal long/flat and long/short
    rules (lognormal algebra), which hold ``sign(E[exp(r) - 1 | s])``: long when
    ``drift + vol^2 (1 - edge^2) / 2 + vol edge s > 0``, i.e. above a threshold ``a`` in ``s``."""
    e = float(edge)
    lift = drift + 0.5 * vol * vol * (1.0 - e * e)
    # Without an edge the rule is always long (or always flat, for a negative expected return).
    a = (-math.inf if lift >= 0 else math.inf) if e == 0.0 else -lift / (vol * e)

    def above(j: int) -> float:  # E[exp(j X) 1{s > a}], X the log return
        return math.exp(j * drift + 0.5 * j * j * vol * vol) * (1.0 - _norm_cdf(a - j * vol * e))

    def total(j: int) -> float:
        return math.exp(j * drift + 0.5 * j * j * vol * vol)

    mean_long = above(1) - above(0)
    second_long = above(2) - 2 * above(1) + above(0)
    mean_all = total(1) - 1.0
    second_all = total(2) - 2 * total(1) + 1.0
    mean_ls = 2 * mean_long - mean_all  # long above a, short below
    return mean_long, second_long, mean_ls, second_all


def _annual_sharpe(mean: float, second: float) -> float:
    var = second - mean * mean
    return 0.0 if var <= 0 else mean / math.sqrt(var) * math.sqrt(PERIODS_PER_YEAR)


def signal_benchmarks(edge: float, drift: float = 0.0003, vol: float = 0.01) -> dict[str, float]:
    """What an edge is worth (the module docstring's table), exact for this generator.

    ``auc`` (:func:`signal_auc`); annualized Sharpe ratios of daily simple returns (mean/std *
    sqrt(252), flat days count as zero, no costs) of the ideal ``sharpe_long_flat`` and
    ``sharpe_long_short`` rules and of ``sharpe_buy_and_hold``; ``years_for_power``: the record length
    for which the edge itself is detected by a one-sided 5% test with 80% power,
    ``T = (2.49 / SR)^2`` days, with ``SR = E sqrt(2/pi) / sqrt(1 - 2 E^2 / pi)`` the daily Sharpe
    of the long/short rule on the signal alone (no drift); ``inf`` at edge 0.
    """
    e = float(edge)
    mean_lf, second_lf, mean_ls, second_all = _rule_moments(e, drift, vol)
    mean_bh = math.exp(drift + 0.5 * vol * vol) - 1.0
    signal_daily = e * math.sqrt(2 / math.pi) / math.sqrt(1.0 - 2 * e * e / math.pi)
    return {
        "auc": signal_auc(e, drift, vol),
        "sharpe_long_flat": _annual_sharpe(mean_lf, second_lf),
        "sharpe_long_short": _annual_sharpe(mean_ls, second_all),
        "sharpe_buy_and_hold": _annual_sharpe(mean_bh, second_all),
        "years_for_power": math.inf if e == 0 else (2.49 / signal_daily) ** 2 / PERIODS_PER_YEAR,
    }
