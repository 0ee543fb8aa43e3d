"""Is one strategy's Sharpe ratio above another's on the same days: Memmel's correction of Jobson-Korkie,
Ledoit and Wolf's HAC test and their studentized block bootstrap.

Conventions (as in :mod:`spylib.stats.performance`): returns are 1-D float arrays of simple per-period
(daily) returns on the same days, flat days are zeros and count; Sharpe ratios are PER-PERIOD,
``mean / std(ddof=1)``. Malformed input raises :class:`~spylib.core.errors.DataValidationError`
or :class:`~spylib.core.errors.ConfigError` (ValueErrors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from spylib.core.errors import ConfigError, DataValidationError
from spylib.stats.performance import _ZERO_STD_RTOL, FloatArray, as_returns, sharpe_ratio

Kernel = Literal["parzen", "qs", "bartlett"]

# An influence series this small relative to its parts means the two Sharpe ratios are the same
# statistic up to rounding (identical series, or one a positive multiple of the other).
_SAME_RTOL = 1e-9
# Andrews and Monahan (1992): singular values of the prewhitening VAR(1) are capped at 0.97.
_PREWHITEN_CAP = 0.97

_MIN_OBS = {"memmel": 3, "hac": 8, "bootstrap": 8}

# The bootstrap's default block-length rule: lengths from a week to half a year of trading days,
# and the most conservative (largest) p-value among them. Daily strategy returns carry volatility
# clusters lasting weeks to months; one length from a T^(1/3) rule (14 days on 11 years) is too short
# for them and over-rejects on resampled real pairs (tests/bench/bench_sharpe_test_size.py measures
# it), while Ledoit and Wolf's calibration (a VAR(1) model, K x M bootstraps per candidate) costs
# minutes per test. The largest p rejects only when every length rejects: its size is at most the
# smallest of theirs.
DEFAULT_BLOCK_LENGTHS: tuple[int, ...] = (5, 10, 20, 40, 60, 120)


# --------------------------------------------------------------------------------------------------
# Sharpe-ratio difference of two strategies on the same days
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharpeDifferenceTest:
    """One-sided test of H0: SR_a <= SR_b against H1: SR_a > SR_b.

    ``sr_a``/``sr_b`` are per-period Sharpe ratios (ddof=1, :func:`~spylib.stats.performance.sharpe_ratio`),
    ``difference = sr_a - sr_b``, ``se`` its standard error, ``z = difference / se`` and ``p_value`` the
    one-sided p-value (normal for ``memmel``/``hac``, bootstrap for ``bootstrap``). ``bandwidth`` is the
    HAC kernel bandwidth actually used (``nan`` for ``memmel``); ``block_length``/``n_boot`` are 0 unless
    ``method="bootstrap"``, where ``block_length`` is the length whose p-value was reported (the most
    conservative of those tried) and ``block_p_values`` every ``(length, p)`` tried.
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
    block_p_values: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class HacOptions:
    """How the HAC standard error (``method="hac"``, and the reported se of ``"bootstrap"``) is estimated:
    the ``kernel``, a fixed ``bandwidth`` (None: Andrews' automatic rule) and VAR(1) prewhitening."""

    kernel: Kernel = "parzen"
    bandwidth: float | None = None
    prewhiten: bool = True


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


def _block_se(active: list[FloatArray], signs: list[float], block_length: int) -> float:
    """The standard error of the difference (ddof=1 scale) from the overlapping-block estimate of its
    long-run variance with blocks of ``block_length``: the Bartlett kernel with bandwidth
    ``block_length``, no prewhitening. The observed statistic is studentized by it, so that it and
    the bootstrap's ``se*`` (from the same blocks) estimate the same thing (Goetze and Kuensch 1996)."""
    n = active[0].size
    se0, _ = _hac_se(active, signs, "bartlett", float(block_length), prewhiten=False)
    return se0 * math.sqrt((n - 1) / n)


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
    ``d* = (Delta* - Delta) / se* >= d = Delta / se``. ``p = (1 + count) / (n_boot + 1)``. ``se`` is
    the block standard error of :func:`_block_se` for the same ``block_length``. A replicate
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


def bootstrap_block_lengths(n: int, block_length: int | Sequence[int] | None = None) -> tuple[int, ...]:
    """The block lengths the bootstrap tries on T = ``n`` days: ``block_length`` itself, each length of a
    sequence, or by default :data:`DEFAULT_BLOCK_LENGTHS` that fit in T/2 (``max(1, round(T^(1/3)))``
    when none does). Every length must lie in ``[1, T/2]`` (else ``ConfigError``)."""
    src = "sharpe_difference_test"
    if block_length is None:
        fitting = tuple(b for b in DEFAULT_BLOCK_LENGTHS if b <= n // 2)
        return fitting or (max(1, min(round(n ** (1.0 / 3.0)), n // 2)),)
    lengths = (block_length,) if isinstance(block_length, int) else tuple(block_length)
    if not lengths:
        raise ConfigError("block_length must name at least one length", source=src, key="block_length")
    for length in lengths:
        if isinstance(length, bool) or not isinstance(length, int | np.integer) or not 1 <= length <= n // 2:
            raise ConfigError(
                f"block_length must be in [1, T/2 = {n // 2}], got {length}", source=src, key="block_length"
            )
    return tuple(int(b) for b in lengths)


def sharpe_difference_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["hac", "memmel", "bootstrap"] = "hac",
    hac: HacOptions = HacOptions(),
    block_length: int | Sequence[int] | None = None,
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
      ``hac.kernel`` (:class:`HacOptions`) is ``"parzen"`` (default, as in Wolf's R code), ``"qs"``
      (quadratic spectral) or ``"bartlett"`` (Newey-West). ``hac.bandwidth=None`` selects S by Andrews
      (1991) from AR(1) fits to each moment column with equal weights: Parzen
      ``S = 2.6614 (alpha(2) T)^(1/5)``, QS ``1.3221 (alpha(2) T)^(1/5)``, Bartlett
      ``1.1447 (alpha(1) T)^(1/3)``, capped at T - 1 (Wolf's ``compute.alpha.hat``); a number fixes S.
      ``hac.prewhiten=True`` (default) first fits a VAR(1) to the moment vector (Andrews and Monahan
      1992; singular values capped at 0.97), selects S and computes the kernel estimate on its
      residuals and recolours it with ``(I - A)^-1``: Wolf's ``compute.se.Parzen.pw``. The p-value is
      ``1 - Phi(z)``. Each series is first divided by its sample std (the Sharpe ratio and its
      influence are unchanged): otherwise the bandwidth weights and the 0.97 cap, which mix the units
      of r and r^2, make the se depend on whether returns are in decimals or percent (Wolf's code
      does; it equals this on standardized returns).
    - ``"bootstrap"``: the studentized circular block bootstrap of Ledoit and Wolf (section 3.2):
      Wolf's R code ``boot.time.inference`` made one-sided, ``n_boot`` replicates seeded by ``seed``,
      with one change: the observed statistic ``d = difference / se_b`` is studentized by the
      overlapping-block standard error of the same block length b as the replicates' ``se*``
      (Bartlett kernel, bandwidth b, no prewhitening), not by the prewhitened Parzen one. On fat-tailed
      returns whose volatility clusters last months the prewhitened se is the smaller: studentized by
      it, the default rule rejected 21 of 150 true nulls (14%) at 5% on the default track resampled in
      60-day blocks, studentized by the block se 28 of 500 (5.6%; tests/bench/bench_sharpe_test_size.py). ``p_value = (1 + #{d* >= d}) / (n_boot + 1)``
      with ``d* = (difference* - difference) / se*`` per replicate; the reported ``se`` and ``z`` stay
      the HAC ones. ``block_length``: an int, or a sequence of ints whose largest p-value is reported;
      by default the documented rule :data:`DEFAULT_BLOCK_LENGTHS` (5, 10, 20, 40, 60 and 120 days, those
      up to T/2) and the most conservative p (:func:`bootstrap_block_lengths`), not the paper's
      calibration, which costs minutes per test.

    The delta method works on ddof=0 moments; the reported ``difference`` and ``se`` are both on the
    ddof=1 scale (the ddof=0 ones times ``sqrt((T-1)/T)``), so ``z`` is the ddof=0 delta-method z.
    (Wolf's R code divides the ddof=1 difference by the ddof=0 se: a z smaller by that factor.)

    Edge cases:

    - a constant all-zero series (a strategy that never trades) has SR 0 (as
      :func:`~spylib.stats.performance.sharpe_ratio`) with no estimation error, so the test becomes a
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
    _check_method_and_hac(method, hac)
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

    se0, bw = _hac_se(active, signs, hac.kernel, hac.bandwidth, hac.prewhiten)
    se = se0 * math.sqrt((n - 1) / n)
    z, p = _z_and_p(difference, se)
    result = SharpeDifferenceTest(sr_a, sr_b, difference, se, z, p, method, n, bandwidth=bw)
    if method == "hac":
        return result
    return _with_bootstrap_p_value(result, active, signs, block_length, n_boot, seed)


def _check_method_and_hac(method: str, hac: HacOptions) -> None:
    """Raise ``ConfigError`` for an unknown method or kernel, or a negative or non-finite bandwidth."""
    src = "sharpe_difference_test"
    if method not in _MIN_OBS:
        raise ConfigError(
            f"unknown method {method!r}; use 'hac', 'memmel' or 'bootstrap'", source=src, key="method"
        )
    if hac.kernel not in ("parzen", "qs", "bartlett"):
        raise ConfigError(
            f"unknown kernel {hac.kernel!r}; use 'parzen', 'qs' or 'bartlett'", source=src, key="kernel"
        )
    if hac.bandwidth is not None and not (math.isfinite(hac.bandwidth) and hac.bandwidth >= 0.0):
        raise ConfigError(f"bandwidth must be >= 0 or None, got {hac.bandwidth}", source=src, key="bandwidth")


def _with_bootstrap_p_value(
    hac_result: SharpeDifferenceTest,
    active: list[FloatArray],
    signs: list[float],
    block_length: int | Sequence[int] | None,
    n_boot: int,
    seed: int,
) -> SharpeDifferenceTest:
    """The HAC test ``hac_result`` with the bootstrap's p-value: the largest over the block lengths."""
    lengths = bootstrap_block_lengths(hac_result.n, block_length)
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}", source="sharpe_difference_test", key="n_boot")
    result = replace(hac_result, block_length=max(lengths), n_boot=n_boot)
    if not result.se > 0.0:  # (a zero HAC se keeps the normal answer: nothing to studentize by)
        return result
    by_length = tuple(
        (b, _bootstrap_pvalue(active, signs, result.difference, _block_se(active, signs, b), b, n_boot, seed))
        for b in lengths
    )
    # The most conservative: the largest p (on a tie, the longer block).
    p, length = max((p_b, b_len) for b_len, p_b in by_length)
    return replace(result, p_value=p, block_length=length, block_p_values=by_length)
