"""Performance statistics and Sharpe-ratio inference: pure numpy/scipy, no pandas required.

Conventions used throughout (each function's docstring repeats the ones it relies on):

- ``returns`` are simple (not log) per-period returns, one per trading day. Flat days are zeros and
  COUNT as observations: dropping them and scaling by ``sqrt(252)`` overstates the Sharpe ratio.
- Annualization uses ``PERIODS_PER_YEAR = 252``; the mean scales by 252 and the std by ``sqrt(252)``.
- Standard deviations use ``ddof=1``.
- Skewness and kurtosis are the population (biased, ``ddof=0``) standardized moments, as in Bailey and
  Lopez de Prado and in skfolio; kurtosis is NON-excess (a normal distribution has kurtosis 3).
- Sharpe-ratio inference (PSR, DSR, MinTRL, the CSCV metric) works on PER-PERIOD Sharpe ratios.
  Feeding an annualized Sharpe into the PSR is a common bug that pushes it towards 1.
- Degenerate inputs return ``nan`` rather than raise, so a gate such as ``dsr >= 0.95`` is simply
  false; malformed inputs (wrong shape, non-finite values, invalid parameters) raise
  :class:`spylib.core.errors.DataValidationError` or :class:`spylib.core.errors.ConfigError` (both ValueErrors).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike
from scipy import stats as sps

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.errors import ConfigError, DataValidationError

EULER_GAMMA = 0.5772156649015329

FloatArray = npt.NDArray[np.float64]
MetricFn = Callable[[FloatArray], FloatArray]

# A std this small relative to the mean is floating-point noise on a constant series, not risk.
_ZERO_STD_RTOL = 1e-12


# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------


def as_returns(returns: ArrayLike, name: str = "returns") -> FloatArray:
    """Return ``returns`` as a 1-D float64 array; raise if it is not 1-D or holds NaN/inf.

    Non-finite values raise instead of being silently dropped: a NaN return usually means a missing
    price upstream, and dropping it would change the number of periods every statistic depends on.
    """
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataValidationError(f"expected a 1-D series, got shape {arr.shape}", source=name)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise DataValidationError(
            f"{bad.size} non-finite value(s), first at position {int(bad[0])} (0-based): {arr[bad[0]]}",
            source=name,
        )
    return arr


def _is_zero_std(std: float, mean: float) -> bool:
    return std == 0.0 or std <= _ZERO_STD_RTOL * abs(mean)


# --------------------------------------------------------------------------------------------------
# Trading metrics
# --------------------------------------------------------------------------------------------------


def sharpe_ratio(
    returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR, annualize: bool = True
) -> float:
    """Sharpe ratio ``mean / std(ddof=1)``, times ``sqrt(periods_per_year)`` when ``annualize``.

    No risk-free rate is subtracted (pass excess returns if you want one). Flat days are zeros and
    count as observations.

    Edge cases:
    - fewer than 2 observations -> ``nan`` (the std is undefined);
    - zero std and zero mean (e.g. all-zero returns: the strategy never traded) -> ``0.0``;
    - zero std and nonzero mean -> ``nan``. The mathematical limit is +-inf, but an infinite Sharpe
      would pass every ``>=`` gate and poison averages; ``nan`` fails gates and is easy to spot.
      "Zero" std includes floating-point noise below ``1e-12 * |mean|``.
    """
    r = as_returns(returns)
    if r.size < 2:
        return math.nan
    mean = float(r.mean())
    std = float(r.std(ddof=1))
    if _is_zero_std(std, mean):
        return 0.0 if mean == 0.0 else math.nan
    sr = mean / std
    return sr * math.sqrt(periods_per_year) if annualize else sr


def sortino_ratio(
    returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR, annualize: bool = True
) -> float:
    """Sortino ratio ``mean / sqrt(mean(min(r, 0)^2))``, times ``sqrt(periods_per_year)`` if annualized.

    The downside deviation is the root mean square of the negative parts over ALL periods (target
    0, divisor n, as in empyrical/quantstats). Edge cases: n < 2 -> ``nan``; no negative return and
    zero mean -> ``0.0``; no negative return and positive mean -> ``nan`` (undefined, see
    :func:`sharpe_ratio` for why not ``inf``).
    """
    r = as_returns(returns)
    if r.size < 2:
        return math.nan
    mean = float(r.mean())
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside == 0.0:
        return 0.0 if mean == 0.0 else math.nan
    ratio = mean / downside
    return ratio * math.sqrt(periods_per_year) if annualize else ratio


def equity_curve(returns: ArrayLike) -> FloatArray:
    """Compounded equity ``cumprod(1 + r)`` starting from 1.0 (the returned array has n + 1 points)."""
    r = as_returns(returns)
    return np.concatenate(([1.0], np.cumprod(1.0 + r)))


def drawdown_series(returns: ArrayLike) -> FloatArray:
    """Drawdown of the compounded equity curve from its running peak, as fractions <= 0 (n + 1 points)."""
    eq = equity_curve(returns)
    peak = np.maximum.accumulate(eq)
    # A wiped-out account has peak > 0 and equity 0: drawdown -1. Peaks are never 0 (start at 1).
    return eq / peak - 1.0


def max_drawdown(returns: ArrayLike) -> float:
    """Maximum drawdown of the compounded equity curve, as a NEGATIVE fraction (e.g. ``-0.12``).

    The curve starts at 1.0 before the first return, so a first-day loss counts. No returns, or
    returns that never lose, give ``0.0``. A return <= -1 wipes the account out: ``-1.0``.
    """
    return float(drawdown_series(returns).min())


def cagr(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Compound annual growth rate ``final_equity ** (periods_per_year / n) - 1``.

    ``n`` counts every period including flat days. Empty input -> ``nan``; a wiped-out account
    (final equity <= 0) -> ``-1.0``.
    """
    r = as_returns(returns)
    if r.size == 0:
        return math.nan
    final = float(np.prod(1.0 + r))
    if final <= 0.0:
        return -1.0
    return final ** (periods_per_year / r.size) - 1.0


def calmar_ratio(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Calmar ratio ``CAGR / |max drawdown|``; ``nan`` when there is no drawdown or no data."""
    mdd = max_drawdown(returns)
    growth = cagr(returns, periods_per_year)
    if mdd == 0.0 or math.isnan(growth):
        return math.nan
    return growth / abs(mdd)


# --------------------------------------------------------------------------------------------------
# Sharpe-ratio inference (Bailey and Lopez de Prado 2012, 2014)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharpeStats:
    """Inputs of the PSR/DSR: PER-PERIOD Sharpe (ddof=1), population skewness, NON-excess kurtosis
    (normal = 3), and the number of observations."""

    sr: float
    skew: float
    kurtosis: float
    n: int


def sharpe_stats(returns: ArrayLike) -> SharpeStats:
    """Per-period Sharpe ratio, skewness and non-excess kurtosis of ``returns``.

    ``sr`` follows :func:`sharpe_ratio` (``annualize=False``, ddof=1). Skewness and kurtosis are
    the biased (population) standardized moments, ``kurtosis`` is non-excess (normal = 3), matching
    the PSR papers and skfolio. With zero variance (e.g. all-zero returns) or n < 2, skewness and
    kurtosis are ``nan``, so the PSR/DSR of such a series is ``nan``.
    """
    r = as_returns(returns)
    sr = sharpe_ratio(r, annualize=False)
    if r.size < 2 or _is_zero_std(float(r.std()), float(r.mean())):
        return SharpeStats(sr=sr, skew=math.nan, kurtosis=math.nan, n=int(r.size))
    skew = float(sps.skew(r, bias=True))
    kurt = float(sps.kurtosis(r, fisher=False, bias=True))
    return SharpeStats(sr=sr, skew=skew, kurtosis=kurt, n=int(r.size))


def _psr_variance_term(sr: float, skew: float, kurtosis: float) -> float:
    # Variance of the SR estimator times (n - 1) under non-normal returns (Mertens 2002).
    return 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2


def probabilistic_sharpe_ratio(
    sr: float, n: int, skew: float, kurtosis: float, sr_benchmark: float = 0.0
) -> float:
    """Probabilistic Sharpe Ratio (Bailey and Lopez de Prado, 2012).

    ``PSR = Phi((sr - sr_benchmark) * sqrt(n - 1) / sqrt(1 - skew*sr + (kurtosis - 1)/4 * sr^2))``:
    the probability that the true Sharpe exceeds ``sr_benchmark``. ``sr`` and ``sr_benchmark`` are
    PER-PERIOD (not annualized), ``kurtosis`` is non-excess (normal = 3), ``n`` is the number of
    return observations including flat days.

    Returns ``nan`` when n < 2, any input is non-finite, or the variance term is <= 0.
    """
    values = (sr, skew, kurtosis, sr_benchmark)
    if n < 2 or not all(math.isfinite(v) for v in values):
        return math.nan
    var_term = _psr_variance_term(sr, skew, kurtosis)
    if not var_term > 0.0:
        return math.nan
    z = (sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(var_term)
    return float(sps.norm.cdf(z))


def expected_max_sharpe(n_trials: int, trials_sr_variance: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` unskilled trials: SR0 of the Deflated Sharpe paper.

    ``SR0 = sqrt(V) * ((1 - gamma) * PhiInv(1 - 1/N) + gamma * PhiInv(1 - 1/(N e)))`` with
    ``V = trials_sr_variance`` (variance across trials of the PER-PERIOD Sharpe ratios, ddof=1 is
    the usual choice) and gamma the Euler-Mascheroni constant. With ``V = 1`` this approximates the
    expected maximum of N standard normals (N = 10 -> 1.5746). One trial means no selection: 0.0.
    A non-finite variance gives ``nan``.
    """
    if n_trials < 1:
        raise ConfigError(
            f"n_trials must be >= 1, got {n_trials}", source="expected_max_sharpe", key="n_trials"
        )
    if not math.isfinite(trials_sr_variance):
        return math.nan
    if trials_sr_variance < 0:
        raise ConfigError(
            f"trials_sr_variance must be >= 0, got {trials_sr_variance}",
            source="expected_max_sharpe",
            key="trials_sr_variance",
        )
    if n_trials == 1:
        return 0.0
    z1 = sps.norm.ppf(1.0 - 1.0 / n_trials)
    z2 = sps.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(trials_sr_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))


def deflated_sharpe_ratio(
    sr: float, n: int, skew: float, kurtosis: float, n_trials: int, trials_sr_variance: float
) -> float:
    """Deflated Sharpe Ratio (Bailey and Lopez de Prado, 2014): ``PSR(SR0)``.

    ``SR0 = expected_max_sharpe(n_trials, trials_sr_variance)``. All Sharpe ratios PER-PERIOD,
    ``kurtosis`` non-excess. ``n_trials`` must count every configuration and threshold tried. The
    usual acceptance rule is DSR >= 0.95. Degenerate inputs give ``nan`` (see the PSR).
    """
    sr0 = expected_max_sharpe(n_trials, trials_sr_variance)
    return probabilistic_sharpe_ratio(sr, n, skew, kurtosis, sr_benchmark=sr0)


def min_track_record_length(
    sr: float, skew: float, kurtosis: float, sr_benchmark: float = 0.0, alpha: float = 0.05
) -> float:
    """Minimum track record length (Bailey and Lopez de Prado, 2012), in periods.

    ``MinTRL = 1 + (1 - skew*sr + (kurtosis - 1)/4 * sr^2) * (PhiInv(1 - alpha) / (sr - sr_benchmark))^2``,
    the number of observations at which ``PSR(sr_benchmark) = 1 - alpha``. PER-PERIOD Sharpe
    ratios, non-excess kurtosis. ``inf`` when ``sr <= sr_benchmark`` (no track record is long
    enough); ``nan`` for non-finite inputs or a variance term <= 0.
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(
            f"alpha must be in (0, 1), got {alpha}", source="min_track_record_length", key="alpha"
        )
    if not all(math.isfinite(v) for v in (sr, skew, kurtosis, sr_benchmark)):
        return math.nan
    var_term = _psr_variance_term(sr, skew, kurtosis)
    if not var_term > 0.0:
        return math.nan
    if sr <= sr_benchmark:
        return math.inf
    z = float(sps.norm.ppf(1.0 - alpha))
    return 1.0 + var_term * (z / (sr - sr_benchmark)) ** 2


# --------------------------------------------------------------------------------------------------
# Confidence intervals
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval ``[low, high]`` at confidence ``level``."""

    estimate: float
    low: float
    high: float
    level: float


def _check_level(level: float, source: str) -> None:
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level}", source=source, key="level")


def stationary_bootstrap_indices(
    n: int, n_boot: int, block_length: float, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """Index matrix (n_boot x n) of the Politis-Romano stationary bootstrap.

    Blocks start at uniform random positions, have geometric lengths with mean ``block_length``
    and wrap around the end of the series (circularly), so every period is equally likely.
    """
    p_new = 1.0 / block_length
    new_block = rng.random((n_boot, n)) < p_new
    starts = rng.integers(0, n, size=(n_boot, n))
    pos = np.broadcast_to(np.arange(n), (n_boot, n))
    # Position at which the current block began, carried forward; offset within the block from it.
    # Position 0 always begins a block: where() maps it to 0 whether or not new_block is set there.
    block_begin = np.maximum.accumulate(np.where(new_block, pos, 0), axis=1)
    block_start = np.take_along_axis(starts, block_begin, axis=1)
    return np.asarray((block_start + (pos - block_begin)) % n, dtype=np.intp)


def block_bootstrap_sharpe_ci(
    returns: ArrayLike,
    block_length: int | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> Interval:
    """Percentile confidence interval of the ANNUALIZED Sharpe by the stationary block bootstrap.

    Resamples with the Politis-Romano stationary bootstrap (mean block length ``block_length``,
    default ``max(1, round(n ** (1/3)))``), which keeps short-range dependence such as volatility
    clustering. ``estimate`` is :func:`sharpe_ratio` of the original series; ``low``/``high`` are
    the ``(1 - level)/2`` and ``(1 + level)/2`` percentiles of the replicates. Deterministic for a
    given ``seed``. Replicates with an undefined Sharpe (nan) are dropped; if none is left, or
    n < 2, the bounds are ``nan``.
    """
    src = "block_bootstrap_sharpe_ci"
    _check_level(level, src)
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}", source=src, key="n_boot")
    r = as_returns(returns)
    estimate = sharpe_ratio(r, periods_per_year=periods_per_year)
    n = r.size
    if n < 2:
        return Interval(estimate=estimate, low=math.nan, high=math.nan, level=level)
    length = float(block_length) if block_length is not None else float(max(1, round(n ** (1.0 / 3.0))))
    if length < 1:
        raise ConfigError(f"block_length must be >= 1, got {block_length}", source=src, key="block_length")
    rng = np.random.default_rng(seed)
    # Chunk the replicates so memory stays ~ chunk * n regardless of n_boot.
    chunk = max(1, min(n_boot, 2_000_000 // n))
    sharpes = np.empty(n_boot)
    for lo in range(0, n_boot, chunk):
        hi = min(n_boot, lo + chunk)
        sample = r[stationary_bootstrap_indices(n, hi - lo, length, rng)]
        mean = sample.mean(axis=1)
        std = sample.std(axis=1, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            sr = mean / std * math.sqrt(periods_per_year)
        zero = std <= _ZERO_STD_RTOL * np.abs(mean)
        sharpes[lo:hi] = np.where(zero, np.where(mean == 0.0, 0.0, np.nan), sr)
    sharpes = sharpes[np.isfinite(sharpes)]
    if sharpes.size == 0:
        return Interval(estimate=estimate, low=math.nan, high=math.nan, level=level)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(sharpes, [tail, 1.0 - tail])
    return Interval(estimate=estimate, low=float(low), high=float(high), level=level)


def _midranks(x: FloatArray) -> FloatArray:
    # Ranks 1..n with ties sharing their average rank (what DeLong's placement values need).
    return np.asarray(sps.rankdata(x, method="average"), dtype=np.float64)


def delong_auc_variance(y_true: ArrayLike, y_score: ArrayLike) -> tuple[float, float]:
    """AUC and its DeLong (1988) variance by the fast midrank algorithm of Sun and Xu (2014).

    ``y_true`` holds 0/1 (or booleans), positives are 1; ties in ``y_score`` count one half, as in
    ``sklearn.metrics.roc_auc_score``. Cost O(n log n). Returns ``(nan, nan)`` when a class is
    missing, and a ``nan`` variance when a class has a single member (its ddof=1 variance is
    undefined).
    """
    y = np.asarray(y_true).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise DataValidationError(f"y_true shape {y.shape} != y_score shape {s.shape}", source="auc")
    if not np.all(np.isfinite(s)):
        raise DataValidationError("y_score holds non-finite values", source="auc", column="y_score")
    labels = set(np.unique(y).tolist())
    if not labels <= {0, 1}:
        raise DataValidationError(
            f"y_true must be binary 0/1, got labels {sorted(labels)}", source="auc", column="y_true"
        )
    pos = s[y == 1]
    neg = s[y == 0]
    m, k = pos.size, neg.size
    if m == 0 or k == 0:
        return math.nan, math.nan
    tx = _midranks(pos)
    ty = _midranks(neg)
    tz = _midranks(np.concatenate([pos, neg]))
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * k))
    if m < 2 or k < 2:
        return auc, math.nan
    v10 = (tz[:m] - tx) / k  # placement of each positive: share of negatives below it
    v01 = 1.0 - (tz[m:] - ty) / m  # share of positives above each negative
    var = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / k)
    return auc, var


def auc_with_ci(y_true: ArrayLike, y_score: ArrayLike, level: float = 0.95) -> Interval:
    """ROC AUC with a DeLong normal-approximation interval ``auc +- z * sqrt(var)``, clipped to [0, 1].

    The AUC equals ``sklearn.metrics.roc_auc_score``. One class only -> every field ``nan`` (the
    AUC is undefined; sklearn would raise). A class with one member -> the AUC with ``nan``
    bounds. Perfect separation has zero DeLong variance, so the interval collapses to [1, 1].
    """
    _check_level(level, "auc_with_ci")
    auc, var = delong_auc_variance(y_true, y_score)
    if math.isnan(var):
        return Interval(estimate=auc, low=math.nan, high=math.nan, level=level)
    half = float(sps.norm.ppf(0.5 + level / 2.0)) * math.sqrt(max(var, 0.0))
    return Interval(estimate=auc, low=max(0.0, auc - half), high=min(1.0, auc + half), level=level)


def auc_score(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """ROC AUC (the Mann-Whitney rank sum, ties counting one half); ``nan`` when a class is missing.

    The estimate of :func:`delong_auc_variance`, without its interval.
    """
    return delong_auc_variance(y_true, y_score)[0]


def require_finite_trials(m: FloatArray, src: str) -> FloatArray:
    """``m`` (T periods x N trials) unchanged, or DataValidationError naming its first non-finite cell."""
    bad = np.argwhere(~np.isfinite(m))
    if bad.size:
        row, col = (int(x) for x in bad[0])
        raise DataValidationError(
            f"non-finite value {m[row, col]} at row {row}, trial column {col} (0-based)", source=src
        )
    return m
