"""How much a Sharpe-ratio gate can detect: the minimum detectable Sharpe for a track length, the
analytic power of the PSR test, binomial intervals for simulated error rates, and the measured error
rates looked up for a run's own number of trials and track length."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import stats as sps

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.errors import ConfigError
from spylib.stats.performance import Interval

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


# --------------------------------------------------------------------------------------------------
# The gate's measured error rates, looked up for a run's own number of trials and track length
# --------------------------------------------------------------------------------------------------


def minimum_detectable_edge(curve: Sequence[tuple[float, float]], *, power: float = 0.8) -> float | None:
    """The smallest planted edge approved with probability ``power``: the first crossing of ``power``
    by the measured approval rates ``curve`` ((edge, rate) pairs; edge 0 is the null), linear between
    neighbouring edges. ``None`` when no measured edge reaches it (the edge is above the largest one)."""
    points = sorted((float(e), float(r)) for e, r in curve)
    for (e0, r0), (e1, r1) in itertools.pairwise(points):
        if r0 < power <= r1:
            return e0 + (power - r0) / (r1 - r0) * (e1 - e0)
    if points and points[0][1] >= power:
        return points[0][0]
    return None


@dataclass(frozen=True)
class RunErrorRate:
    """One family's measured false-approval rate and minimum detectable edge, from the table row
    nearest to a run's number of trials and track length (``distance`` 0 = the run's own setting)."""

    family: str
    trials: int
    track_days: int
    replications: int
    approved: int
    rate: float
    ci_low: float
    ci_high: float
    min_detectable_edge: float | None  # None: no measured edge reached the power, or too few replications
    min_detectable_sharpe: float | None
    power_replications: int  # the fewest replications of any planted edge of the power curve
    distance: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_error_rates(rows: Sequence[Mapping[str, Any]], n_trials: int, track_days: int) -> list[RunErrorRate]:
    """Per family, the row of the measured table nearest to this run: the one minimizing
    ``|ln(N / N_row)| + |ln(T / T_row)|`` (N trials, T track days; a factor of 2 in either counts the
    same). Nearest rather than interpolated: the table has few settings, and a false-approval rate is
    not a smooth function of N that two points pin down; the row's own N and T are reported, so a
    reader sees how far the figure is from the run's setting. Families in the table's order."""
    best: dict[str, tuple[float, Mapping[str, Any]]] = {}
    for row in rows:
        d = abs(math.log(max(n_trials, 1) / row["trials"])) + abs(
            math.log(max(track_days, 1) / row["track_days"])
        )
        family = str(row["family"])
        if family not in best or d < best[family][0]:
            best[family] = (d, row)
    return [
        RunErrorRate(
            family=family,
            trials=int(row["trials"]),
            track_days=int(row["track_days"]),
            replications=int(row["replications"]),
            approved=int(row["approved"]),
            rate=float(row["rate"]),
            ci_low=float(row["ci_low"]),
            ci_high=float(row["ci_high"]),
            min_detectable_edge=row.get("min_detectable_edge"),
            min_detectable_sharpe=row.get("min_detectable_sharpe"),
            power_replications=int(row.get("power_replications", 0)),
            distance=round(d, 6),
        )
        for family, (d, row) in best.items()
    ]
