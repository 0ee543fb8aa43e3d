"""Hypothesis tests and power for Sharpe-ratio gates: is A's Sharpe above B's, how many independent trials
were really run, and how large an edge can a track record of T days detect at all.

Conventions (as in :mod:`spylib.research.stats`): returns are 1-D float arrays of simple per-period
(daily) returns on the same days, flat days are zeros and count; Sharpe ratios are PER-PERIOD,
``mean / std(ddof=1)``; kurtosis is non-excess (normal = 3). Malformed input raises
:class:`~spylib.core.errors.DataValidationError` or :class:`~spylib.core.errors.ConfigError` (ValueErrors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike
from scipy import stats as sps
from scipy.cluster import hierarchy

from spylib.core.errors import ConfigError, DataValidationError
from spylib.research.stats import PERIODS_PER_YEAR, FloatArray, Interval, as_returns, sharpe_ratio

IntArray = npt.NDArray[np.intp]
Kernel = Literal["parzen", "qs", "bartlett"]

# Same rule as stats.sharpe_ratio: a std this small relative to |mean| is rounding noise, not risk.
_ZERO_STD_RTOL = 1e-12
# An influence series this small relative to its parts means the two Sharpe ratios are the same
# statistic up to rounding (identical series, or one a positive multiple of the other).
_SAME_RTOL = 1e-9
# Andrews and Monahan (1992): singular values of the prewhitening VAR(1) are capped at 0.97.
_PREWHITEN_CAP = 0.97
# Kaufman and Rousseeuw (1990): a mean silhouette <= 0.25 means "no substantial structure".
_NO_STRUCTURE_SILHOUETTE = 0.25
# Trials whose correlation distances are all below this are one series (up to scale): one cluster.
_SAME_DISTANCE = 1e-6  # correlation >= 1 - 2e-12; rounding alone moves sqrt(0.5 (1 - rho)) to ~1e-8

_MIN_OBS = {"memmel": 3, "hac": 8, "bootstrap": 8}


# --------------------------------------------------------------------------------------------------
# Sharpe-ratio difference of two strategies on the same days
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharpeDifferenceTest:
    """One-sided test of H0: SR_a <= SR_b against H1: SR_a > SR_b.

    ``sr_a``/``sr_b`` are per-period Sharpe ratios (ddof=1, :func:`~spylib.research.stats.sharpe_ratio`),
    ``difference = sr_a - sr_b``, ``se`` its standard error, ``z = difference / se`` and ``p_value`` the
    one-sided p-value (normal for ``memmel``/``hac``, bootstrap for ``bootstrap``). ``bandwidth`` is the
    HAC kernel bandwidth actually used (``nan`` for ``memmel``); ``block_length``/``n_boot`` are 0 unless
    ``method="bootstrap"``.
    """

    sr_a: float
    sr_b: float
    difference: float
    se: float
    z: float
    p_value: float
    method: str
    n: int
    bandwidth: float = math.nan
    block_length: int = 0
    n_boot: int = 0


def _is_zero_std(std: float, mean: float) -> bool:
    return std == 0.0 or std <= _ZERO_STD_RTOL * abs(mean)


def _z_and_p(difference: float, se: float) -> tuple[float, float]:
    """z and the one-sided normal p-value ``1 - Phi(z)``; ``0 / 0`` counts as z = 0 (p = 0.5)."""
    if se > 0.0:
        z = difference / se
        return z, float(sps.norm.sf(z))
    if difference == 0.0:
        return 0.0, 0.5
    z = math.copysign(math.inf, difference)
    return z, float(sps.norm.sf(z))


def _same_sharpe(ra: FloatArray, rb: FloatArray) -> bool:
    """True if the two Sharpe estimators coincide up to rounding: their influence series are equal.

    That holds for identical series and for positive multiples (the Sharpe ratio is scale-free); the
    difference is then exactly 0 in exact arithmetic and has no sampling error.
    """
    ia, ib = _influence(ra), _influence(rb)
    gap = float(np.mean((ia - ib) ** 2))
    return gap <= _SAME_RTOL**2 * float(np.mean(ia * ia) + np.mean(ib * ib))


def _influence(r: FloatArray) -> FloatArray:
    """Influence series of the ddof=0 Sharpe ratio ``mu / sigma`` of a non-constant series.

    ``(r - mu)/sigma - SR/2 * ((r - mu)^2/sigma^2 - 1)``: algebraically the delta-method combination
    ``grad' y_t`` of Ledoit and Wolf's moment vector ``y_t = (r - mu, r^2 - E r^2)`` with gradient
    ``(E r^2 / sigma^3, -mu / (2 sigma^3))``, written in centred form for accuracy.
    """
    mu = float(r.mean())
    sigma = float(r.std())
    z = (r - mu) / sigma
    return np.asarray(z - 0.5 * (mu / sigma) * (z * z - 1.0), dtype=np.float64)


def _kernel_weights(x: FloatArray, kernel: Kernel) -> FloatArray:
    ax = np.abs(x)
    if kernel == "bartlett":
        return np.asarray(np.clip(1.0 - ax, 0.0, None), dtype=np.float64)
    if kernel == "parzen":
        inner = 1.0 - 6.0 * ax**2 + 6.0 * ax**3
        outer = 2.0 * (1.0 - ax) ** 3
        return np.asarray(np.where(ax <= 0.5, inner, np.where(ax <= 1.0, outer, 0.0)), dtype=np.float64)
    # Quadratic spectral: 25/(12 pi^2 x^2) * (sin(6 pi x/5)/(6 pi x/5) - cos(6 pi x/5)); k(0) = 1.
    w = np.ones_like(ax)
    nz = ax > 0
    z = 6.0 * math.pi * ax[nz] / 5.0
    w[nz] = 25.0 / (12.0 * math.pi**2 * ax[nz] ** 2) * (np.sin(z) / z - np.cos(z))
    return w


def _andrews_bandwidth(components: FloatArray, kernel: Kernel) -> float:
    """Andrews (1991) automatic bandwidth from AR(1) fits to each column, equal weights.

    Each column is fitted by OLS with an intercept, ``x_t = c + rho x_{t-1} + e_t`` (rho capped at
    +-0.97 so a near unit root cannot blow the bandwidth up); then
    ``alpha(2) = sum 4 rho^2 s^4 / (1-rho)^8 / sum s^4 / (1-rho)^4`` and
    ``alpha(1) = sum 4 rho^2 s^4 / ((1-rho)^6 (1+rho)^2) / sum s^4 / (1-rho)^4``;
    Parzen ``S = 2.6614 (alpha(2) T)^(1/5)``, QS ``S = 1.3221 (alpha(2) T)^(1/5)``, Bartlett
    ``S = 1.1447 (alpha(1) T)^(1/3)``, capped at ``T - 1``. This is the rule of Wolf's R code for
    Ledoit and Wolf (2008) (``compute.alpha.hat``), extended to the three kernels.
    """
    n = components.shape[0]
    x_lag = components[:-1] - components[:-1].mean(axis=0)
    x_next = components[1:] - components[1:].mean(axis=0)
    denom = np.einsum("ij,ij->j", x_lag, x_lag)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denom > 0, np.einsum("ij,ij->j", x_lag, x_next) / denom, 0.0)
    rho = np.clip(rho, -_PREWHITEN_CAP, _PREWHITEN_CAP)
    resid = x_next - x_lag * rho
    s4 = np.mean(resid**2, axis=0) ** 2
    den = float(np.sum(s4 / (1.0 - rho) ** 4))
    if not den > 0.0:
        return 0.0
    if kernel == "bartlett":
        alpha1 = float(np.sum(4.0 * rho**2 * s4 / ((1.0 - rho) ** 6 * (1.0 + rho) ** 2))) / den
        bw = 1.1447 * (alpha1 * n) ** (1.0 / 3.0)
    else:
        alpha2 = float(np.sum(4.0 * rho**2 * s4 / (1.0 - rho) ** 8)) / den
        bw = (2.6614 if kernel == "parzen" else 1.3221) * (alpha2 * n) ** 0.2
    return float(min(bw, n - 1))


def _long_run_variance(u: FloatArray, bandwidth: float, kernel: Kernel) -> float:
    """Kernel long-run variance ``sum_{|j| < n} k(j/S) gamma_j``, ``gamma_j = sum_t u_t u_{t-j} / n``."""
    n = u.size
    if bandwidth <= 0.0:
        return float(u @ u) / n
    size = 1 << (2 * n - 1).bit_length()
    spec = np.fft.rfft(u, size)
    acov = np.fft.irfft(spec.real**2 + spec.imag**2, size)[:n] / n
    lags = np.arange(1, n, dtype=np.float64)
    weights = _kernel_weights(lags / bandwidth, kernel)
    return float(acov[0] + 2.0 * np.dot(weights, acov[1:]))


def _moment_vector(active: list[FloatArray]) -> FloatArray:
    """Ledoit-Wolf moment deviations ``(r - mean r, r^2 - mean r^2)`` of each non-constant series (T x 2k)."""
    cols = []
    for r in active:
        cols.append(r - r.mean())
    for r in active:
        sq = r * r
        cols.append(sq - sq.mean())
    return np.column_stack(cols)


def _hac_se(
    active: list[FloatArray],
    signs: list[float],
    kernel: Kernel,
    bandwidth: float | None,
    prewhiten: bool,
) -> tuple[float, float]:
    """Ledoit-Wolf HAC standard error of ``sum sign_i SR0_i`` (ddof=0 Sharpe ratios).

    Returns ``(se, bandwidth used)``.
    ``Psi = n/(n-4) * sum_j k(j/S) Gamma_j`` of the moment vector (or of its VAR(1) residuals,
    recoloured with ``(I - A)^-1``), and ``se^2 = grad' Psi grad / T``; computed as the kernel
    long-run variance of the scalar series ``grad' y_t``, which is the same number. Each series is
    first divided by its std, so the result does not depend on the units of the returns.
    """
    n_obs = active[0].size
    # Unit-free moments: the Sharpe ratio and its influence do not change when a series is divided
    # by its std, but the bandwidth weights and the prewhitening cap would (r and r^2 differ in units).
    active = [r / r.std() for r in active]
    u = np.sum([sign * _influence(r) for r, sign in zip(active, signs, strict=True)], axis=0)
    y = _moment_vector(active)
    # grad' y_t == u_t; the gradient is needed explicitly only to recolour after prewhitening.
    grad = np.concatenate(
        [
            [
                sign * float(np.mean(r * r)) / float(r.std()) ** 3
                for r, sign in zip(active, signs, strict=True)
            ],
            [
                -0.5 * sign * float(r.mean()) / float(r.std()) ** 3
                for r, sign in zip(active, signs, strict=True)
            ],
        ]
    )
    if prewhiten:
        coef, *_ = np.linalg.lstsq(y[:-1], y[1:], rcond=None)  # y_t' = y_{t-1}' coef + e_t'
        a_mat = coef.T
        left, sing, right = np.linalg.svd(a_mat)
        a_mat = (left * np.minimum(sing, _PREWHITEN_CAP)) @ right
        resid = y[1:] - y[:-1] @ a_mat.T
        recolour = np.linalg.solve((np.eye(a_mat.shape[0]) - a_mat).T, grad)  # (I - A)^-T grad
        components, series = resid, resid @ recolour
    else:
        components, series = y, u
    m = series.size
    bw = _andrews_bandwidth(components, kernel) if bandwidth is None else float(bandwidth)
    lrv = _long_run_variance(series, bw, kernel) * m / (m - 4.0)
    return math.sqrt(max(lrv, 0.0) / n_obs), bw


def _memmel_se(a: FloatArray, b: FloatArray, sr_a: float, sr_b: float, const_a: bool, const_b: bool) -> float:
    n = a.size
    if const_a and const_b:
        return 0.0
    if const_a or const_b:
        # A constant series has a Sharpe ratio known exactly (0): iid-normal variance of the other one.
        other = sr_b if const_a else sr_a
        return math.sqrt((1.0 + 0.5 * other**2) / n)
    rho = float(np.clip(np.corrcoef(a, b)[0, 1], -1.0, 1.0))
    theta = 2.0 - 2.0 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2.0 * sr_a * sr_b * rho**2)
    return math.sqrt(max(theta, 0.0) / n)


def _circular_block_sums(x: FloatArray, length: int) -> FloatArray:
    """Sum of ``x[s], ..., x[s + length - 1]`` (indices mod n) for every start s."""
    ext = np.concatenate(([0.0], np.cumsum(np.concatenate((x, x[:length])))))
    return np.asarray(ext[length : length + x.size] - ext[: x.size], dtype=np.float64)


def _bootstrap_pvalue(
    active: list[FloatArray],
    signs: list[float],
    difference: float,
    se: float,
    block_length: int,
    n_boot: int,
    seed: int,
) -> float:
    """Studentized circular block bootstrap p-value of Ledoit and Wolf (2008, section 3.2), one-sided.

    Each replicate concatenates ``ceil(T/b)`` circular blocks of length b (cut to T), recomputes
    ``Delta*`` and its standard error from the l = floor(T/b) full blocks
    (``Psi* = (1/l) sum_j zeta_j zeta_j'``, ``zeta_j = b^(-1/2) sum_{t in block j} y*_t``), and counts
    ``d* = (Delta* - Delta) / se* >= d = Delta / se``. ``p = (1 + count) / (n_boot + 1)``. A replicate
    with an undefined ``d*`` (a resampled series with zero variance) counts as exceeding ``d``.
    """
    n = active[0].size
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // block_length)
    full = n // block_length
    tail = n - (n_blocks - 1) * block_length
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    ddof_scale = math.sqrt((n - 1) / n)
    delta_star = np.zeros(n_boot)
    u_blocks = np.zeros((n_boot, full))
    for r, sign in zip(active, signs, strict=True):
        centre = float(r.mean())
        x = r - centre
        sums = np.empty((n_boot, n_blocks))
        sq_sums = np.empty((n_boot, n_blocks))
        sums[:, :-1] = _circular_block_sums(x, block_length)[starts[:, :-1]]
        sq_sums[:, :-1] = _circular_block_sums(x * x, block_length)[starts[:, :-1]]
        sums[:, -1] = _circular_block_sums(x, tail)[starts[:, -1]]
        sq_sums[:, -1] = _circular_block_sums(x * x, tail)[starts[:, -1]]
        d_mean = sums.sum(axis=1) / n  # resample mean of x
        var = np.maximum(sq_sums.sum(axis=1) / n - d_mean**2, 0.0)
        sigma = np.sqrt(var)
        with np.errstate(invalid="ignore", divide="ignore"):
            sr = (centre + d_mean) / sigma
            # Block sums of the influence (r - mu*)/sigma* - SR*/2 ((r - mu*)^2/sigma*^2 - 1).
            dev = sums[:, :full] - block_length * d_mean[:, None]
            sq_dev = (
                sq_sums[:, :full]
                - 2.0 * d_mean[:, None] * sums[:, :full]
                + block_length * d_mean[:, None] ** 2
            )
            infl = dev / sigma[:, None] - 0.5 * sr[:, None] * (sq_dev / var[:, None] - block_length)
        delta_star += sign * sr
        u_blocks += sign * infl
    psi = np.sum(u_blocks**2, axis=1) / (full * block_length)
    with np.errstate(invalid="ignore", divide="ignore"):
        se_star = np.sqrt(psi / n) * ddof_scale
        d_star = (delta_star * ddof_scale - difference) / se_star
    d = difference / se
    exceed = ~np.isfinite(d_star) | (d_star >= d)
    return float((1 + np.count_nonzero(exceed)) / (n_boot + 1))


def sharpe_difference_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["hac", "memmel", "bootstrap"] = "hac",
    kernel: Kernel = "parzen",
    bandwidth: float | None = None,
    prewhiten: bool = True,
    block_length: int | None = None,
    n_boot: int = 999,
    seed: int = 0,
) -> SharpeDifferenceTest:
    """Test H0: SR_a <= SR_b (one-sided) for two return series ``a``, ``b`` on the same T days.

    Sharpe ratios are per-period, ``mean / std(ddof=1)``; ``a`` and ``b`` must have equal length.

    Methods:

    - ``"memmel"``: Jobson and Korkie (1981) with Memmel's (2003) correction, assumes iid normal
      returns: ``z = (SR_a - SR_b) / sqrt(theta / T)``,
      ``theta = 2 - 2 rho + 0.5 (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2)``, rho the Pearson correlation.
      It understates the standard error under autocorrelation (it over-rejects; see the tests).
    - ``"hac"`` (default): Ledoit and Wolf (2008, J. Empirical Finance 15(5), section 3.1): delta method on
      ``v = (mu_a, mu_b, E a^2, E b^2)`` with ``Psi = T/(T-4) sum_j k(j/S) Gamma_j``, the kernel
      estimate of the long-run covariance of the moment vector, ``se^2 = grad' Psi grad / T``.
      ``kernel`` is ``"parzen"`` (default, as in Wolf's R code), ``"qs"`` (quadratic spectral) or
      ``"bartlett"`` (Newey-West). ``bandwidth=None`` selects S by Andrews (1991) from AR(1) fits to
      each moment column with equal weights: Parzen ``S = 2.6614 (alpha(2) T)^(1/5)``, QS
      ``1.3221 (alpha(2) T)^(1/5)``, Bartlett ``1.1447 (alpha(1) T)^(1/3)``, capped at T - 1 (Wolf's
      ``compute.alpha.hat``); a number fixes S. ``prewhiten=True`` (default) first fits a VAR(1) to
      the moment vector (Andrews and Monahan 1992; singular values capped at 0.97), selects S and
      computes the kernel estimate on its residuals and recolours it with ``(I - A)^-1``: Wolf's
      ``compute.se.Parzen.pw``. The p-value is ``1 - Phi(z)``. Each series is first divided by its
      sample std (the Sharpe ratio and its influence are unchanged): otherwise the bandwidth weights
      and the 0.97 cap, which mix the units of r and r^2, make the se depend on whether returns are in
      decimals or percent (Wolf's code does; it equals this on standardized returns).
    - ``"bootstrap"``: the studentized circular block bootstrap of Ledoit and Wolf (section 3.2),
      one-sided, studentized by the HAC standard error above; ``block_length`` defaults to the fixed
      rule ``max(1, round(T ** (1/3)))`` (not the paper's calibration), ``n_boot`` replicates, seeded by
      ``seed``. ``se`` and ``z`` are the HAC ones; ``p_value = (1 + #{d* >= z}) / (n_boot + 1)`` with
      ``d* = (difference* - difference) / se*`` per replicate.

    The delta method works on ddof=0 moments; the reported ``difference`` and ``se`` are both on the
    ddof=1 scale (the ddof=0 ones times ``sqrt((T-1)/T)``), so ``z`` is the ddof=0 delta-method z.
    (Wolf's R code divides the ddof=1 difference by the ddof=0 se: a z smaller by that factor.)

    Edge cases:

    - a constant all-zero series (a strategy that never trades) has SR 0 (as
      :func:`~spylib.research.stats.sharpe_ratio`) with no estimation error, so the test becomes a
      one-sample test of the other series' SR against 0 (Memmel: iid-normal variance
      ``(1 + SR^2/2) / T``); both all-zero gives ``difference = se = z = 0``, ``p = 0.5``;
    - a constant nonzero series has an undefined Sharpe (``nan`` in stats): every number is ``nan``,
      so a gate ``p_value < alpha`` is false;
    - identical series, or one a positive multiple of the other (the same Sharpe ratio up to
      rounding): ``se = 0``, ``z = 0``, ``p_value = 0.5`` (never a rejection);
    - fewer than 3 observations (8 for ``hac`` and ``bootstrap``: the T/(T-4) factor on the
      prewhitened residuals needs them), unequal lengths or non-finite values raise
      ``DataValidationError``; invalid parameters raise ``ConfigError``.
    """
    src = "sharpe_difference_test"
    if method not in _MIN_OBS:
        raise ConfigError(
            f"unknown method {method!r}; use 'hac', 'memmel' or 'bootstrap'", source=src, key="method"
        )
    if kernel not in ("parzen", "qs", "bartlett"):
        raise ConfigError(
            f"unknown kernel {kernel!r}; use 'parzen', 'qs' or 'bartlett'", source=src, key="kernel"
        )
    if bandwidth is not None and not (math.isfinite(bandwidth) and bandwidth >= 0.0):
        raise ConfigError(f"bandwidth must be >= 0 or None, got {bandwidth}", source=src, key="bandwidth")
    ra = as_returns(a, name="a")
    rb = as_returns(b, name="b")
    if ra.size != rb.size:
        raise DataValidationError(
            f"a and b must cover the same days: lengths {ra.size} and {rb.size} differ", source=src
        )
    n = int(ra.size)
    if n < _MIN_OBS[method]:
        raise DataValidationError(
            f"method {method!r} needs at least {_MIN_OBS[method]} observations, got T={n}", source=src
        )
    sr_a = sharpe_ratio(ra, annualize=False)
    sr_b = sharpe_ratio(rb, annualize=False)
    nan = math.nan
    if math.isnan(sr_a) or math.isnan(sr_b):
        return SharpeDifferenceTest(sr_a, sr_b, nan, nan, nan, nan, method, n)
    difference = sr_a - sr_b
    const_a = _is_zero_std(float(ra.std()), float(ra.mean()))
    const_b = _is_zero_std(float(rb.std()), float(rb.mean()))
    active = [r for r, c in ((ra, const_a), (rb, const_b)) if not c]
    signs = [s for s, c in ((1.0, const_a), (-1.0, const_b)) if not c]
    if not active or (len(active) == 2 and _same_sharpe(ra, rb)):
        # Nothing random is left to test: both flat, or the same statistic twice.
        return SharpeDifferenceTest(sr_a, sr_b, difference, 0.0, 0.0, 0.5, method, n)

    if method == "memmel":
        se = _memmel_se(ra, rb, sr_a, sr_b, const_a, const_b)
        z, p = _z_and_p(difference, se)
        return SharpeDifferenceTest(sr_a, sr_b, difference, se, z, p, method, n)

    se0, bw = _hac_se(active, signs, kernel, bandwidth, prewhiten)
    se = se0 * math.sqrt((n - 1) / n)
    z, p = _z_and_p(difference, se)
    if method == "hac":
        return SharpeDifferenceTest(sr_a, sr_b, difference, se, z, p, method, n, bandwidth=bw)

    length = max(1, round(n ** (1.0 / 3.0))) if block_length is None else block_length
    if not 1 <= length <= n // 2:
        raise ConfigError(
            f"block_length must be in [1, T/2 = {n // 2}], got {length}", source=src, key="block_length"
        )
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}", source=src, key="n_boot")
    if se > 0.0:  # (a zero HAC se keeps the normal answer: nothing to studentize by)
        p = _bootstrap_pvalue(active, signs, difference, se, length, n_boot, seed)
    return SharpeDifferenceTest(
        sr_a, sr_b, difference, se, z, p, method, n, bandwidth=bw, block_length=length, n_boot=n_boot
    )


# --------------------------------------------------------------------------------------------------
# Effective number of trials (López de Prado 2019)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveTrials:
    """Effective number of independent trials among N correlated ones.

    ``n_clusters`` is N_eff by clustering and ``labels[i]`` the cluster (0 .. n_clusters-1) of trial
    (column) i; ``cluster_sharpes`` the per-period Sharpe ratio (ddof=1) of each cluster's
    inverse-variance-weighted return series and ``cluster_sr_variance`` their variance V (ddof=1;
    0.0 with one cluster) -- the N and V to feed
    :func:`~spylib.research.stats.deflated_sharpe_ratio`. ``eigen_n_eff`` is the cross-check
    ``(sum lambda)^2 / sum lambda^2``. ``n_flat`` counts zero-variance trials (all in one cluster,
    ``flat_cluster``, or -1 if none). ``rule`` says how the varying trials were clustered:
    ``"silhouette"`` (the best cut), ``"none"`` (no substantial cluster structure, or only 2 varying
    trials: no reduction, each is its own cluster) or ``"single"`` (at most one varying trial, or all
    of them the same series up to scale: one cluster).
    ``silhouette`` is the mean silhouette of the best candidate cut (``nan`` if none was scored) and
    ``candidates`` the number of cluster counts scored.
    """

    n_trials: int
    n_clusters: int
    eigen_n_eff: float
    labels: IntArray = field(compare=False, repr=False)
    cluster_sharpes: FloatArray = field(compare=False, repr=False)
    cluster_sr_variance: float
    n_flat: int
    flat_cluster: int
    rule: str
    silhouette: float
    candidates: int


def _candidate_counts(n: int, dense: int = 64, growth: float = 1.06) -> list[int]:
    """Cluster counts 2..n-1 to score: all up to ``dense``, then a geometric grid (ratio ``growth``)."""
    ks = list(range(2, min(dense, n - 1) + 1))
    k = float(dense)
    while True:
        k *= growth
        nxt = round(k)
        if nxt >= n - 1:
            break
        if nxt > ks[-1]:
            ks.append(nxt)
    if n - 1 > ks[-1]:
        ks.append(n - 1)
    return ks


def _dendrogram_splits(link: npt.NDArray[np.float64], n: int) -> tuple[IntArray, IntArray]:
    """Leaf order of the dendrogram and, for k = 2..n, the leaf-order position where the (k-1)-th
    split (undoing merges from the last one) cuts its cluster in two.

    Every cluster of a cut is a subtree, hence a contiguous run of leaves in dendrogram order, so
    the k-cluster cut is given by the first k-1 split positions.
    """
    order = np.asarray(hierarchy.leaves_list(link), dtype=np.intp)
    pos = np.empty(n, dtype=np.intp)
    pos[order] = np.arange(n)
    start = np.empty(2 * n - 1, dtype=np.intp)
    start[:n] = pos
    split = np.empty(n - 1, dtype=np.intp)
    for i in range(n - 1):
        left, right = int(link[i, 0]), int(link[i, 1])
        start[n + i] = min(start[left], start[right])
        split[i] = max(start[left], start[right])
    return order, split[::-1].copy()


def _silhouettes(cum: FloatArray, bounds: IntArray) -> FloatArray:
    """Silhouette of every point (in leaf order) for the contiguous clusters ``[bounds[c], bounds[c+1])``.

    ``cum`` is the row-wise cumulative sum of the leaf-ordered distance matrix with a leading zero
    column, so each point's total distance to a cluster costs one subtraction: O(N k) per cut.
    Singletons get silhouette 0 (Rousseeuw 1987, as scikit-learn).
    """
    sizes = np.diff(bounds).astype(np.float64)
    totals = cum[:, bounds[1:]] - cum[:, bounds[:-1]]  # (N, k) sum of distances to each cluster
    own = np.repeat(np.arange(sizes.size), np.diff(bounds))
    rows = np.arange(own.size)
    own_size = sizes[own]
    a = totals[rows, own] / np.maximum(own_size - 1.0, 1.0)
    mean_to = totals / sizes
    mean_to[rows, own] = np.inf
    b = mean_to.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (b - a) / np.maximum(a, b)
    s[(own_size == 1.0) | ~np.isfinite(s)] = 0.0
    return np.asarray(s, dtype=np.float64)


def _silhouette_score(s: FloatArray, criterion: str) -> float:
    if criterion == "mean":
        return float(s.mean())
    std = float(s.std())
    return float(s.mean()) / std if std > 0.0 else (math.inf if s.mean() > 0 else -math.inf)


def effective_number_of_trials(
    returns_matrix: ArrayLike,
    *,
    linkage: Literal["average", "complete", "single", "ward"] = "average",
    criterion: Literal["mean", "onc"] = "mean",
) -> EffectiveTrials:
    """Effective number of trials of a T x N matrix of the trials' out-of-fold returns (one column per trial).

    (a) Clustering, after López de Prado (2019, "A Data Science Solution to the Multiple-Testing Crisis
    in Financial Research", J. Financial Data Science): distance ``d_ij = sqrt(0.5 (1 - rho_ij))`` of
    the Pearson correlations; scipy hierarchical clustering (``linkage``, default average) on that
    distance; every cut into k = 2 .. N-1 clusters (all k <= 64, then a geometric grid of ratio 1.06
    refined to every k between the best grid point's neighbours) is scored by the silhouettes
    computed on the same distance. ``criterion="mean"`` (default) maximises the mean silhouette;
    ``"onc"`` maximises ONC's quality ``mean(s) / std(s)``. On 150 random block structures (2-11
    clusters of 1-14 trials, within-correlation 0.4-0.95, T = 750) both found the planted count 87-89%
    of the time, but ONC's ratio sometimes merges a one-trial cluster into a neighbour (an
    under-count, the anti-conservative direction for the DSR) while the mean never under-counted.
    If the best cut's mean silhouette is <= 0.25 ("no substantial structure", Kaufman and Rousseeuw
    1990) the silhouette cannot tell one blob of
    trials from N independent ones, and nothing is merged: every varying trial is its own cluster
    (``rule="none"``), i.e. the classical DSR with the trials' own N and V. That is the
    conservative choice: for equicorrelated trials the trials' V already shrinks with their
    correlation, while averaging arbitrary groups into "clusters" would shrink V a second time and
    understate the expected maximum. This is ONC's base step on a hierarchical rather than k-means
    partition, on the correlation distance itself (the book's code runs k-means on the rows of the
    distance matrix), without ONC's recursive re-clustering of weak clusters.
    Each cluster's return is the inverse-variance-weighted average of its members (the paper's
    ``w = diag(V)^-1 / trace(diag(V)^-1)``);
    its per-period Sharpe (ddof=1) goes into ``cluster_sharpes`` and ``V = var(cluster_sharpes, ddof=1)``.

    (b) ``eigen_n_eff = (sum lambda)^2 / sum lambda^2 = N^2 / sum_ij rho_ij^2`` of the correlation
    matrix (no eigendecomposition needed). It is biased down by sampling noise: N independent trials
    give about ``N / (1 + (N - 1) / T)``.

    Zero-variance columns (trials that never trade) have no correlation. They are kept, all in ONE
    extra cluster (they are the same flat strategy) whose return is their plain average (Sharpe 0 if
    all zero; ``nan``, as in stats, if a column is a nonzero constant); in (b) they count as
    perfectly correlated with each other and uncorrelated with the rest.

    Speed (one core, measured): N = 1,000 trials by T = 5,000 days in 0.25-0.4 s (the correlation
    matrix ~0.1 s; independent trials, which score the most cuts, are the slow end); N = 200 by
    T = 2,500 in ~0.04 s.

    Raises ``DataValidationError`` if the matrix is not 2-D, has no column, fewer than 2 rows or
    non-finite values; ``ConfigError`` for an unknown ``linkage`` or ``criterion``.
    """
    src = "effective_number_of_trials"
    if linkage not in ("average", "complete", "single", "ward"):
        raise ConfigError(f"unknown linkage {linkage!r}", source=src, key="linkage")
    if criterion not in ("onc", "mean"):
        raise ConfigError(
            f"unknown criterion {criterion!r}; use 'onc' or 'mean'", source=src, key="criterion"
        )
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim != 2:
        raise DataValidationError(
            f"returns_matrix must be 2-D (T periods x N trials), got shape {m.shape}", source=src
        )
    n_periods, n_trials = m.shape
    if n_trials < 1 or n_periods < 2:
        raise DataValidationError(f"need at least 2 periods and 1 trial, got shape {m.shape}", source=src)
    bad = np.argwhere(~np.isfinite(m))
    if bad.size:
        row, col = (int(x) for x in bad[0])
        raise DataValidationError(
            f"non-finite value {m[row, col]} at row {row}, trial column {col} (0-based)", source=src
        )

    means = m.mean(axis=0)
    centred = m - means
    std = np.sqrt(np.einsum("ij,ij->j", centred, centred) / n_periods)
    flat = (std == 0.0) | (std <= _ZERO_STD_RTOL * np.abs(means))
    live = np.flatnonzero(~flat)
    n_live, n_flat = int(live.size), int(n_trials - live.size)

    corr = np.empty((0, 0))
    if n_live:
        z = centred[:, live] / (std[live] * math.sqrt(n_periods))
        corr = z.T @ z
        np.clip(corr, -1.0, 1.0, out=corr)
        np.fill_diagonal(corr, 1.0)
    eigen_n_eff = float(n_trials**2 / (float(np.sum(corr * corr)) + n_flat**2))

    live_labels, rule, best_sil, n_cand = _cluster_live(corr, linkage, criterion)
    n_live_clusters = int(live_labels.max()) + 1 if n_live else 0
    labels = np.empty(n_trials, dtype=np.intp)
    labels[live] = live_labels
    flat_cluster = -1
    if n_flat:
        flat_cluster = n_live_clusters
        labels[flat] = flat_cluster
    n_clusters = n_live_clusters + (1 if n_flat else 0)

    sharpes = np.empty(n_clusters)
    var = std**2
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        if c == flat_cluster:
            series = m[:, members].mean(axis=1)
        else:
            w = 1.0 / var[members]
            series = m[:, members] @ (w / w.sum())
        sharpes[c] = sharpe_ratio(series, annualize=False)
    v = float(np.var(sharpes, ddof=1)) if n_clusters > 1 else 0.0
    return EffectiveTrials(
        n_trials=int(n_trials),
        n_clusters=n_clusters,
        eigen_n_eff=eigen_n_eff,
        labels=labels,
        cluster_sharpes=sharpes,
        cluster_sr_variance=v,
        n_flat=n_flat,
        flat_cluster=flat_cluster,
        rule=rule,
        silhouette=best_sil,
        candidates=n_cand,
    )


def _cut(order: IntArray, splits: IntArray, k: int, n: int) -> IntArray:
    """Labels (by trial) of the k-cluster cut, clusters numbered in dendrogram order."""
    bounds = np.concatenate(([0], np.sort(splits[: k - 1]), [n]))
    labels = np.empty(n, dtype=np.intp)
    labels[order] = np.repeat(np.arange(k), np.diff(bounds))
    return labels


def _cluster_live(corr: FloatArray, linkage: str, criterion: str) -> tuple[IntArray, str, float, int]:
    """Cluster the varying trials; returns (labels, rule, mean silhouette of the best cut, cuts scored)."""
    n = corr.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=np.intp), "single", math.nan, 0
    dist = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, None))
    np.fill_diagonal(dist, 0.0)
    if float(dist.max()) <= _SAME_DISTANCE:  # every trial the same series up to scale
        return np.zeros(n, dtype=np.intp), "single", math.nan, 0
    if n < 3:  # no cut with 2 <= k <= n - 1 to score
        return np.arange(n, dtype=np.intp), "none", math.nan, 0
    link = hierarchy.linkage(dist[np.triu_indices(n, k=1)], method=linkage)
    order, splits = _dendrogram_splits(link, n)
    ordered = dist[np.ix_(order, order)]
    cum = np.zeros((n, n + 1))
    np.cumsum(ordered, axis=1, out=cum[:, 1:])
    scored: dict[int, tuple[float, float]] = {}

    def score(k: int) -> float:
        if k not in scored:
            bounds = np.concatenate(([0], np.sort(splits[: k - 1]), [n]))
            s = _silhouettes(cum, bounds)
            scored[k] = (_silhouette_score(s, criterion), float(s.mean()))
        return scored[k][0]

    grid = _candidate_counts(n)
    best = int(np.argmax([score(k) for k in grid]))
    for k in range(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)] + 1):
        score(k)
    best_k = max(scored, key=lambda k: (scored[k][0], -k))
    best_sil = scored[best_k][1]
    if best_sil <= _NO_STRUCTURE_SILHOUETTE:
        return np.arange(n, dtype=np.intp), "none", best_sil, len(scored)
    return _cut(order, splits, best_k, n), "silhouette", best_sil, len(scored)


# --------------------------------------------------------------------------------------------------
# Power of a Sharpe-ratio gate
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectableSharpe:
    """Smallest true SR a one-sided test of SR > 0 detects, per period and annualized (``* sqrt(ppy)``)."""

    per_period: float
    annualized: float
    n_obs: int
    alpha: float
    power: float


def _check_prob(value: float, name: str, source: str) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {value}", source=source, key=name)


def _positive_root(quad: float, lin: float, const: float) -> float:
    """Positive root of ``quad x^2 + lin x + const = 0`` (const < 0); ``inf`` if there is none (quad <= 0)."""
    if quad <= 0.0:
        disc = lin * lin - 4.0 * quad * const
        if quad == 0.0 and lin > 0.0:
            return -const / lin
        if quad < 0.0 and lin > 0.0 and disc >= 0.0:
            return (-lin + math.sqrt(disc)) / (2.0 * quad)
        return math.inf
    return (-lin + math.sqrt(lin * lin - 4.0 * quad * const)) / (2.0 * quad)


def minimum_detectable_sharpe(
    n_obs: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> DetectableSharpe:
    """Minimum detectable Sharpe ratio of a one-sided test of SR > 0 at level ``alpha`` with ``power``.

    Solves ``SR = (z_{1-alpha} + z_{power}) * se(SR)`` with the Lo (2002) / Mertens (2002) standard error
    ``se(SR) = sqrt((1 - skew SR + (kurtosis - 1)/4 SR^2) / (T - 1))`` exactly (a quadratic in SR, so no
    iteration): ``SR^2 (1 - c (kurtosis-1)/4) + c skew SR - c = 0``, ``c = (z_{1-alpha} + z_power)^2/(T-1)``.
    ``per_period`` is that SR, ``annualized = per_period * sqrt(periods_per_year)``; ``kurtosis`` is
    non-excess (normal = 3), ``n_obs`` = T counts flat days. For normal returns, alpha 0.05, power 0.8:
    about ``2.49 / sqrt(T - 1)`` per day, 0.79 annualized over T = 2,520 days and 1.91 over 433.
    ``inf`` when no finite SR reaches the power (very fat tails with tiny T). This uses se(SR) for
    both terms; :func:`psr_power` uses the PSR gate's own critical value, so
    ``psr_power(minimum_detectable_sharpe(T).per_period, T)`` is within 0.01 of ``power``, not equal.
    """
    src = "minimum_detectable_sharpe"
    _check_prob(alpha, "alpha", src)
    _check_prob(power, "power", src)
    if n_obs < 2:
        raise ConfigError(f"n_obs must be >= 2, got {n_obs}", source=src, key="n_obs")
    if not (math.isfinite(skew) and math.isfinite(kurtosis)):
        raise ConfigError(
            f"skew and kurtosis must be finite, got {skew}, {kurtosis}", source=src, key="kurtosis"
        )
    c = (float(sps.norm.ppf(1.0 - alpha)) + float(sps.norm.ppf(power))) ** 2 / (n_obs - 1)
    sr = _positive_root(1.0 - c * (kurtosis - 1.0) / 4.0, c * skew, -c)
    return DetectableSharpe(
        per_period=sr, annualized=sr * math.sqrt(periods_per_year), n_obs=n_obs, alpha=alpha, power=power
    )


def psr_power(
    sr_true: float, n_obs: int, *, alpha: float = 0.05, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probability that the gate ``PSR(0) >= 1 - alpha`` passes when the true per-period SR is ``sr_true``.

    Analytic: the estimate is taken as ``N(sr_true, se(sr_true)^2)``, ``se(SR) = sqrt(v(SR) / (T - 1))``,
    ``v(SR) = 1 - skew SR + (kurtosis - 1)/4 SR^2`` (kurtosis non-excess), with skew and kurtosis
    known (the gate estimates them; that extra noise is ignored). The gate passes when the
    estimate exceeds ``sr_crit``, the positive root of ``sr^2 (T - 1) = z_{1-alpha}^2 v(sr)``, so
    power ``= Phi((sr_true - sr_crit) / se(sr_true))``. ``sr_true = 0`` gives about ``alpha``. 0.0 if no
    estimate can pass (``sr_crit = inf``); ``nan`` if ``v(sr_true) <= 0`` or an input is non-finite.
    """
    src = "psr_power"
    _check_prob(alpha, "alpha", src)
    if n_obs < 2:
        raise ConfigError(f"n_obs must be >= 2, got {n_obs}", source=src, key="n_obs")
    if not all(math.isfinite(x) for x in (sr_true, skew, kurtosis)):
        return math.nan
    v_true = 1.0 - skew * sr_true + (kurtosis - 1.0) / 4.0 * sr_true**2
    if not v_true > 0.0:
        return math.nan
    z2 = float(sps.norm.ppf(1.0 - alpha)) ** 2
    sr_crit = _positive_root((n_obs - 1) - z2 * (kurtosis - 1.0) / 4.0, z2 * skew, -z2)
    if math.isinf(sr_crit):
        return 0.0
    return float(sps.norm.cdf((sr_true - sr_crit) / math.sqrt(v_true / (n_obs - 1))))


def binomial_interval(
    successes: int,
    trials: int,
    level: float = 0.95,
    *,
    method: Literal["clopper-pearson", "wilson"] = "clopper-pearson",
) -> Interval:
    """Two-sided interval for a binomial proportion, e.g. the false-approval rate of a simulated gate.

    ``estimate = successes / trials``. ``method="clopper-pearson"`` (default) is the exact interval from
    beta quantiles, conservative (coverage >= ``level`` for every true rate), with ``low = 0`` at 0
    successes and ``high = 1`` at ``trials``; ``"wilson"`` is the Wilson score interval, shorter and
    closer to nominal on average. Raises ``ConfigError`` unless ``0 <= successes <= trials``,
    ``trials >= 1`` and ``0 < level < 1``.
    """
    src = "binomial_interval"
    _check_prob(level, "level", src)
    if int(trials) != trials or trials < 1:
        raise ConfigError(f"trials must be an integer >= 1, got {trials}", source=src, key="trials")
    if int(successes) != successes or not 0 <= successes <= trials:
        raise ConfigError(
            f"successes must be an integer in [0, trials={trials}], got {successes}",
            source=src,
            key="successes",
        )
    k, n = int(successes), int(trials)
    p = k / n
    tail = (1.0 - level) / 2.0
    if method == "clopper-pearson":
        low = 0.0 if k == 0 else float(sps.beta.ppf(tail, k, n - k + 1))
        high = 1.0 if k == n else float(sps.beta.ppf(1.0 - tail, k + 1, n - k))
    elif method == "wilson":
        z = float(sps.norm.ppf(1.0 - tail))
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denom
        low, high = max(0.0, centre - half), min(1.0, centre + half)
    else:
        raise ConfigError(
            f"unknown method {method!r}; use 'clopper-pearson' or 'wilson'", source=src, key="method"
        )
    return Interval(estimate=p, low=low, high=high, level=level)
