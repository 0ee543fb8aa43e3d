"""Tests of spylib.stats.hypothesis: known answers, a port of Ledoit and Wolf's R code, size under H0
and power by simulation (fixed seeds, small), brute-force clustering references and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.cluster import hierarchy
from scipy.signal import lfilter

from spylib.core.errors import ConfigError, DataValidationError
from spylib.stats.hypothesis import (
    DEFAULT_BLOCK_LENGTHS,
    HacOptions,
    bootstrap_block_lengths,
    sharpe_difference_test,
)
from spylib.stats.performance import probabilistic_sharpe_ratio, sharpe_ratio, sharpe_stats
from spylib.stats.power import binomial_interval, minimum_detectable_sharpe, psr_power
from spylib.stats.trials import effective_number_of_trials

METHODS = ("memmel", "hac", "bootstrap")


# ------------------------------------------------------------------------------------------------
# Simulation helpers
# ------------------------------------------------------------------------------------------------


def _ar_garch(rng: np.random.Generator, n_series: int, n_obs: int, phi: float, sr: float) -> np.ndarray:
    """(n_series, n_obs) daily returns: AR(1) over GARCH(1,1) t(5) shocks, true per-period Sharpe ``sr``.

    The GARCH(0.05, 0.10, 0.85) shocks have unconditional variance 1; the AR(1) filter is rescaled by
    sqrt(1 - phi^2), so every series has variance 1 (times 1e-4) and mean ``sr`` (times 0.01).
    """
    burn = 200
    shocks = rng.standard_t(5, size=(n_obs + burn, n_series)) / math.sqrt(5.0 / 3.0)
    x = np.empty_like(shocks)
    h = np.ones(n_series)
    prev = np.zeros(n_series)
    for t in range(n_obs + burn):
        h = 0.05 + 0.10 * prev**2 + 0.85 * h
        prev = np.sqrt(h) * shocks[t]
        x[t] = prev
    y = lfilter([1.0], [1.0, -phi], x, axis=0)[burn:] * math.sqrt(1.0 - phi**2)
    return 0.01 * (sr + y.T)


def _rejections(pairs_a: np.ndarray, pairs_b: np.ndarray, **kwargs: object) -> int:
    return sum(
        sharpe_difference_test(a, b, **kwargs).p_value < 0.05  # type: ignore[arg-type]
        for a, b in zip(pairs_a, pairs_b, strict=True)
    )


def _covers_nominal(rejected: int, n: int, nominal: float = 0.05) -> bool:
    ci = binomial_interval(rejected, n, level=0.99)
    return ci.low <= nominal <= ci.high


# ------------------------------------------------------------------------------------------------
# Sharpe difference: known answers
# ------------------------------------------------------------------------------------------------


def test_memmel_matches_the_formula_by_hand() -> None:
    a = np.array([0.010, -0.004, 0.006, 0.002, -0.001, 0.008, -0.003, 0.005])
    b = np.array([0.004, -0.002, 0.001, 0.003, -0.004, 0.002, 0.001, -0.001])
    n = a.size
    sr_a = a.mean() / a.std(ddof=1)
    sr_b = b.mean() / b.std(ddof=1)
    rho = np.corrcoef(a, b)[0, 1]
    theta = 2 - 2 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)
    z = (sr_a - sr_b) / math.sqrt(theta / n)
    res = sharpe_difference_test(a, b, method="memmel")
    assert res.sr_a == pytest.approx(sr_a, rel=1e-12)
    assert res.sr_b == pytest.approx(sr_b, rel=1e-12)
    assert res.difference == pytest.approx(sr_a - sr_b, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(theta / n), rel=1e-12)
    assert res.z == pytest.approx(z, rel=1e-12)
    assert res.p_value == pytest.approx(1 - sps.norm.cdf(z), rel=1e-12)
    assert (res.method, res.n) == ("memmel", n)
    # One-sided: swapping the series flips z and gives the complementary p-value.
    swapped = sharpe_difference_test(b, a, method="memmel")
    assert swapped.z == pytest.approx(-z, rel=1e-12)
    assert swapped.p_value == pytest.approx(1 - res.p_value, rel=1e-12)


def _wolf_psi(v: np.ndarray) -> np.ndarray:
    # compute.Psi.hat + compute.alpha.hat + kernel.Parzen of Wolf's R code, loop for loop.
    n, p = v.shape
    num = den = 0.0
    for i in range(p):
        x = v[:, i] - v[:, i].mean()
        design = np.column_stack([np.ones(n - 1), x[:-1]])
        coef, *_ = np.linalg.lstsq(design, x[1:], rcond=None)
        sig2 = np.mean((x[1:] - design @ coef) ** 2)
        rho = coef[1]
        num += 4 * rho**2 * sig2**2 / (1 - rho) ** 8
        den += sig2**2 / (1 - rho) ** 4
    s_star = min(2.6614 * (num / den * n) ** 0.2, n - 1)

    def gamma(j: int) -> np.ndarray:
        return sum(np.outer(v[i], v[i - j]) for i in range(j, n)) / n

    def parzen(x: float) -> float:
        return 1 - 6 * x**2 + 6 * x**3 if x <= 0.5 else 2 * (1 - x) ** 3 if x <= 1 else 0.0

    psi = gamma(0)
    j = 1
    while j < s_star:
        g = gamma(j)
        psi = psi + parzen(j / s_star) * (g + g.T)
        j += 1
    return n / (n - 4) * psi


def _wolf_se(ret: np.ndarray, prewhiten: bool) -> float:
    # compute.se.Parzen / compute.se.Parzen.pw of Ledoit and Wolf's R code (ddof=0 moments).
    n = ret.shape[0]
    r1, r2 = ret[:, 0], ret[:, 1]
    mu1, mu2, g1, g2 = r1.mean(), r2.mean(), np.mean(r1**2), np.mean(r2**2)
    grad = np.array(
        [
            g1 / (g1 - mu1**2) ** 1.5,
            -g2 / (g2 - mu2**2) ** 1.5,
            -0.5 * mu1 / (g1 - mu1**2) ** 1.5,
            0.5 * mu2 / (g2 - mu2**2) ** 1.5,
        ]
    )
    v = np.column_stack([r1 - mu1, r2 - mu2, r1**2 - g1, r2**2 - g2])
    if prewhiten:
        lagged = v[:-1]
        a_ls = np.vstack([np.linalg.lstsq(lagged, v[1:, j], rcond=None)[0] for j in range(4)])
        u, d, vt = np.linalg.svd(a_ls)
        a_hat = u @ np.diag(np.clip(d, -0.97, 0.97)) @ vt
        recolour = np.linalg.inv(np.eye(4) - a_hat)
        psi = recolour @ _wolf_psi(v[1:] - lagged @ a_hat.T) @ recolour.T
    else:
        psi = _wolf_psi(v)
    return math.sqrt(grad @ psi @ grad / n)


# phi = 0.98 makes the prewhitening VAR's largest singular value exceed 0.97, so the cap binds.
@pytest.mark.parametrize(("prewhiten", "phi"), [(False, 0.3), (True, 0.3), (True, 0.98)])
def test_hac_matches_a_port_of_wolfs_r_code(prewhiten: bool, phi: float) -> None:
    rng = np.random.default_rng(7)
    ret = _ar_garch(rng, 2, 150, phi=phi, sr=0.05).T
    ret[:, 1] = 0.6 * ret[:, 0] + 0.8 * ret[:, 1] - 0.0002
    res = sharpe_difference_test(
        ret[:, 0], ret[:, 1], method="hac", hac=HacOptions("parzen", prewhiten=prewhiten)
    )
    # The module standardizes each series first (unit-free); Wolf's code is run on standardized returns.
    se0 = _wolf_se(ret / ret.std(axis=0), prewhiten)
    ddof_scale = math.sqrt((150 - 1) / 150)
    assert res.se == pytest.approx(se0 * ddof_scale, rel=1e-9)
    assert res.difference == pytest.approx(
        sharpe_ratio(ret[:, 0], annualize=False) - sharpe_ratio(ret[:, 1], annualize=False)
    )
    assert res.z == pytest.approx(res.difference / res.se)
    assert res.p_value == pytest.approx(sps.norm.sf(res.z))
    assert res.bandwidth > 0
    # Unit-free: returns in percent give the same test.
    pct = sharpe_difference_test(100 * ret[:, 0], 100 * ret[:, 1], hac=HacOptions(prewhiten=prewhiten))
    assert (pct.se, pct.z) == (pytest.approx(res.se, rel=1e-9), pytest.approx(res.z, rel=1e-9))
    assert _wolf_se(100 * ret, prewhiten) != pytest.approx(_wolf_se(ret, prewhiten), rel=1e-3)


def test_hac_with_zero_bandwidth_is_the_iid_delta_method() -> None:
    # S = 0 keeps only Gamma_0: se^2 = n/(n-4) * mean(u^2) / n with u the influence of the difference.
    rng = np.random.default_rng(3)
    a, b = 0.01 * (0.05 + rng.standard_normal((2, 400)))
    res = sharpe_difference_test(a, b, hac=HacOptions(bandwidth=0.0, prewhiten=False))

    def infl(r: np.ndarray) -> np.ndarray:
        z = (r - r.mean()) / r.std()
        return z - 0.5 * (r.mean() / r.std()) * (z**2 - 1)

    u = infl(a) - infl(b)
    expected = math.sqrt(400 / 396 * np.mean(u**2) / 400) * math.sqrt(399 / 400)
    assert res.se == pytest.approx(expected, rel=1e-12)
    # For iid normal data every kernel is close to the iid answer and to Memmel's.
    for kernel in ("parzen", "qs", "bartlett"):
        assert sharpe_difference_test(a, b, hac=HacOptions(kernel)).se == pytest.approx(expected, rel=0.1)
    assert sharpe_difference_test(a, b, method="memmel").se == pytest.approx(expected, rel=0.1)


# ------------------------------------------------------------------------------------------------
# Sharpe difference: edge cases
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_identical_and_scaled_series_are_never_a_difference(method: str) -> None:
    a = 0.01 * np.random.default_rng(1).standard_normal(300) + 0.001
    for b in (a.copy(), 2.5 * a):
        res = sharpe_difference_test(a, b, method=method)  # type: ignore[arg-type]
        assert res.difference == pytest.approx(0.0, abs=1e-12)
        assert (res.se, res.z, res.p_value) == (0.0, 0.0, 0.5)


@pytest.mark.parametrize("method", METHODS)
def test_flat_benchmark_turns_into_a_one_sample_test(method: str) -> None:
    rng = np.random.default_rng(5)
    a = 0.01 * (0.08 + rng.standard_normal(1000))
    flat = np.zeros(1000)
    res = sharpe_difference_test(a, flat, method=method)  # type: ignore[arg-type]
    sr = sharpe_ratio(a, annualize=False)
    assert (res.sr_b, res.difference) == (0.0, pytest.approx(sr))
    # iid data: the standard error is the Lo/Mertens one-sample se (exactly so for Memmel).
    one_sample = math.sqrt((1 + 0.5 * sr**2) / 1000)
    assert res.se == pytest.approx(one_sample, rel=1e-12 if method == "memmel" else 0.1)
    assert res.p_value < 0.05
    reverse = sharpe_difference_test(flat, a, method=method)  # type: ignore[arg-type]
    assert reverse.z == pytest.approx(-res.z)
    both_flat = sharpe_difference_test(flat, flat, method=method)  # type: ignore[arg-type]
    assert (both_flat.difference, both_flat.se, both_flat.z, both_flat.p_value) == (0.0, 0.0, 0.0, 0.5)


def test_constant_nonzero_series_gives_nan_not_a_rejection() -> None:
    a = np.full(50, 0.001)
    b = 0.01 * np.random.default_rng(0).standard_normal(50)
    res = sharpe_difference_test(a, b)
    assert math.isnan(res.sr_a)
    assert math.isnan(res.p_value)
    assert math.isnan(res.z)
    assert not res.p_value < 0.05


def test_sharpe_difference_input_errors() -> None:
    x = np.linspace(-0.01, 0.01, 20)
    with pytest.raises(DataValidationError, match="at least 3 observations, got T=2"):
        sharpe_difference_test([0.01, 0.02], [0.0, 0.01], method="memmel")
    with pytest.raises(DataValidationError, match="'hac' needs at least 8 observations, got T=5"):
        sharpe_difference_test(x[:5], x[:5] ** 2)
    with pytest.raises(DataValidationError, match="lengths 20 and 19 differ"):
        sharpe_difference_test(x, x[:-1])
    with pytest.raises(DataValidationError, match="non-finite"):
        sharpe_difference_test(np.r_[x[:-1], np.nan], x)
    with pytest.raises(ConfigError, match="unknown method 'jk'"):
        sharpe_difference_test(x, x, method="jk")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown kernel 'tukey'"):
        sharpe_difference_test(x, x, hac=HacOptions("tukey"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="bandwidth must be >= 0"):
        sharpe_difference_test(x, x, hac=HacOptions(bandwidth=-1.0))
    y = x[::-1] ** 3 + x
    with pytest.raises(ConfigError, match=r"block_length must be in \[1, T/2 = 10\], got 11"):
        sharpe_difference_test(x, y, method="bootstrap", block_length=11)
    with pytest.raises(ConfigError, match="n_boot must be >= 1"):
        sharpe_difference_test(x, y, method="bootstrap", n_boot=0)


def test_bootstrap_is_seeded_and_agrees_with_hac_on_a_clear_edge() -> None:
    rng = np.random.default_rng(11)
    a, b = _ar_garch(rng, 2, 600, phi=0.2, sr=0.0)
    a = a + 0.0025  # per-period Sharpe up by about 0.25
    first = sharpe_difference_test(a, b, method="bootstrap", n_boot=499, seed=4)
    again = sharpe_difference_test(a, b, method="bootstrap", n_boot=499, seed=4)
    other = sharpe_difference_test(a, b, method="bootstrap", n_boot=499, seed=5)
    hac = sharpe_difference_test(a, b)
    assert first == again
    assert first.p_value != other.p_value or first.p_value == 1 / 500
    assert first.n_boot == 499
    # The default rule: every length of DEFAULT_BLOCK_LENGTHS up to T/2, the largest p reported.
    assert [length for length, _ in first.block_p_values] == [5, 10, 20, 40, 60, 120]
    assert first.p_value == max(p for _, p in first.block_p_values)
    assert (first.block_length, first.p_value) in first.block_p_values
    assert (first.se, first.z) == (hac.se, hac.z)
    assert hac.p_value < 0.01
    assert first.p_value < 0.02
    null = sharpe_difference_test(b, a, method="bootstrap", n_boot=499)
    assert null.p_value > 0.9


def test_bootstrap_block_length_rule() -> None:
    assert DEFAULT_BLOCK_LENGTHS == (5, 10, 20, 40, 60, 120)
    assert bootstrap_block_lengths(2767) == DEFAULT_BLOCK_LENGTHS  # the default track: 11 years
    assert bootstrap_block_lengths(100) == (5, 10, 20, 40)  # lengths up to T/2 only
    assert bootstrap_block_lengths(9) == (2,)  # none fits: round(T^(1/3))
    assert bootstrap_block_lengths(500, 7) == (7,)
    assert bootstrap_block_lengths(500, [30, 10]) == (30, 10)
    with pytest.raises(ConfigError, match=r"block_length must be in \[1, T/2 = 250\], got 251"):
        bootstrap_block_lengths(500, [10, 251])
    with pytest.raises(ConfigError, match="at least one length"):
        bootstrap_block_lengths(500, [])


def test_bootstrap_p_on_identical_and_reversed_series() -> None:
    rng = np.random.default_rng(3)
    a, b = _ar_garch(rng, 2, 800, phi=0.1, sr=0.03)
    same = sharpe_difference_test(a, a.copy(), method="bootstrap", n_boot=199)
    assert (same.z, same.p_value) == (0.0, 0.5)  # the same statistic twice: never a rejection
    close = sharpe_difference_test(a, a + 1e-4 * b, method="bootstrap", n_boot=199)
    assert close.p_value > 0.05
    worse = sharpe_difference_test(b - 0.002, b, method="bootstrap", n_boot=199)
    assert worse.p_value > 0.99


def test_bootstrap_reports_the_largest_p_of_its_block_lengths() -> None:
    rng = np.random.default_rng(5)
    a, b = _ar_garch(rng, 2, 1500, phi=0.2, sr=0.04)
    a = a + 0.0006
    single = {
        length: sharpe_difference_test(
            a, b, method="bootstrap", block_length=length, n_boot=299, seed=1
        ).p_value
        for length in (10, 60)
    }
    both = sharpe_difference_test(a, b, method="bootstrap", block_length=[10, 60], n_boot=299, seed=1)
    assert dict(both.block_p_values) == single
    assert both.p_value == max(single.values())
    assert both.block_length == max(single, key=lambda length: (single[length], length))


# ------------------------------------------------------------------------------------------------
# Sharpe difference: size under H0 and power
# ------------------------------------------------------------------------------------------------


def test_size_under_iid_normal_returns() -> None:
    rng = np.random.default_rng(2024)
    n_pairs, n_obs = 300, 500
    shocks = rng.standard_normal((2, n_pairs, n_obs))
    a = 0.01 * (0.05 + shocks[0])
    b = 0.01 * (0.05 + 0.5 * shocks[0] + math.sqrt(0.75) * shocks[1])  # correlation 0.5, same SR
    assert _covers_nominal(_rejections(a, b, method="hac"), n_pairs)
    assert _covers_nominal(_rejections(a, b, method="memmel"), n_pairs)


def test_size_under_autocorrelated_fat_tailed_returns_hac_holds_memmel_over_rejects() -> None:
    rng = np.random.default_rng(99)
    n_pairs, n_obs = 300, 500
    series = _ar_garch(rng, 2 * n_pairs, n_obs, phi=0.4, sr=0.05)
    a, b = series[:n_pairs], series[n_pairs:]
    hac = _rejections(a, b, method="hac")
    memmel = _rejections(a, b, method="memmel")
    assert _covers_nominal(hac, n_pairs), hac
    assert binomial_interval(memmel, n_pairs, level=0.99).low > 0.05, memmel
    assert memmel > hac


def test_bootstrap_size_under_autocorrelation() -> None:
    rng = np.random.default_rng(8)
    n_pairs = 200
    series = _ar_garch(rng, 2 * n_pairs, 400, phi=0.4, sr=0.05)
    rejected = _rejections(series[:n_pairs], series[n_pairs:], method="bootstrap", n_boot=199)
    assert _covers_nominal(rejected, n_pairs), rejected


def test_power_increases_with_the_sharpe_gap() -> None:
    rng = np.random.default_rng(17)
    n_pairs, n_obs = 150, 500
    a0, b = 0.01 * rng.standard_normal((2, n_pairs, n_obs))
    gaps = (0.0, 0.06, 0.12, 0.25)  # se of the difference ~ sqrt(2/500) = 0.063: z ~ 0, 1, 1.9, 4
    power = [_rejections(a0 + 0.01 * gap, b, method="hac") / n_pairs for gap in gaps]
    assert power == sorted(power), power
    assert len(set(power)) == len(power), power
    assert power[0] < 0.1, power
    assert power[-1] > 0.9, power


# ------------------------------------------------------------------------------------------------
# Effective number of trials
# ------------------------------------------------------------------------------------------------


def _silhouettes_by_definition(dist: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # Rousseeuw (1987), point by point: a = mean distance to the rest of its cluster, b = smallest mean
    # distance to another cluster, s = (b - a) / max(a, b); 0 for a singleton.
    out = np.zeros(labels.size)
    for i, own in enumerate(labels):
        mates = (labels == own) & (np.arange(labels.size) != i)
        if not mates.any():
            continue
        a = dist[i, mates].mean()
        b = min(dist[i, labels == c].mean() for c in set(labels.tolist()) - {own})
        out[i] = (b - a) / max(a, b)
    return out


def _clustered(
    rng: np.random.Generator, sizes: list[int], rho: float, n_obs: int, market: float = 0.0
) -> np.ndarray:
    common = rng.standard_normal((n_obs, 1))
    cols = []
    for size in sizes:
        factor = rng.standard_normal((n_obs, 1))
        idio = rng.standard_normal((n_obs, size))
        cols.append(math.sqrt(rho) * factor + math.sqrt(1 - rho) * idio + market * common)
    return 0.01 * np.hstack(cols)


def test_two_hand_made_clusters() -> None:
    m = _clustered(np.random.default_rng(0), [5, 5], rho=0.98, n_obs=1000)
    res = effective_number_of_trials(m)
    assert (res.n_trials, res.n_clusters, res.rule) == (10, 2, "silhouette")
    assert len(set(res.labels[:5])) == 1
    assert len(set(res.labels[5:])) == 1
    assert res.labels[0] != res.labels[5]
    assert res.eigen_n_eff == pytest.approx(2.0, abs=0.1)
    # Each cluster's return is the inverse-variance-weighted mean of its members; V is their ddof=1 variance.
    sharpes = []
    for c in range(2):
        members = m[:, res.labels == c]
        w = 1 / members.var(axis=0)
        sharpes.append(sharpe_ratio(members @ (w / w.sum()), annualize=False))
    np.testing.assert_allclose(res.cluster_sharpes, sharpes, rtol=1e-12)
    assert res.cluster_sr_variance == pytest.approx(np.var(sharpes, ddof=1), rel=1e-12)
    assert (res.n_flat, res.flat_cluster) == (0, -1)


@pytest.mark.parametrize(("criterion", "expected"), [("mean", 5), ("onc", 4)])
def test_cut_choice_matches_brute_force_fcluster_and_silhouettes(criterion: str, expected: int) -> None:
    # Five planted clusters, one of a single trial: ONC's mean/std merges that one into a neighbour.
    m = _clustered(np.random.default_rng(4), [2, 6, 9, 1, 12], rho=0.6, n_obs=400, market=0.5)
    n = m.shape[1]
    corr = np.corrcoef(m, rowvar=False)
    dist = np.sqrt(np.clip(0.5 * (1 - corr), 0, None))
    np.fill_diagonal(dist, 0.0)
    link = hierarchy.linkage(dist[np.triu_indices(n, 1)], method="average")
    best = (-math.inf, 0, np.empty(0))
    for k in range(2, n):
        labels = hierarchy.fcluster(link, k, criterion="maxclust")
        s = _silhouettes_by_definition(dist, labels)
        q = s.mean() if criterion == "mean" else s.mean() / s.std()
        if q > best[0] + 1e-12:
            best = (q, k, labels)
    res = effective_number_of_trials(m, criterion=criterion)  # type: ignore[arg-type]
    assert res.n_clusters == best[1] == expected
    # Same partition (cluster numbers may differ).
    assert len({(a, b) for a, b in zip(res.labels, best[2], strict=True)}) == best[1]


def test_independent_trials_are_not_merged() -> None:
    n_obs, n = 1000, 40
    res = effective_number_of_trials(np.random.default_rng(2).standard_normal((n_obs, n)))
    assert (res.n_clusters, res.rule) == (n, "none")
    assert res.silhouette <= 0.25
    # The participation ratio is biased down by sampling noise: about N / (1 + (N - 1) / T).
    assert res.eigen_n_eff == pytest.approx(n / (1 + (n - 1) / n_obs), rel=0.03)


def test_one_correlated_blob_keeps_every_trial_and_its_small_variance() -> None:
    m = _clustered(np.random.default_rng(6), [30], rho=0.9, n_obs=800)
    res = effective_number_of_trials(m)
    assert (res.n_clusters, res.rule) == (30, "none")
    trial_srs = [sharpe_ratio(col, annualize=False) for col in m.T]
    assert res.cluster_sr_variance == pytest.approx(np.var(trial_srs, ddof=1), rel=1e-12)
    assert res.eigen_n_eff < 1.5


def test_flat_trials_form_one_cluster_and_do_not_crash() -> None:
    live = _clustered(np.random.default_rng(1), [4, 4], rho=0.95, n_obs=500)
    m = np.hstack([live[:, :3], np.zeros((500, 3)), live[:, 3:]])
    res = effective_number_of_trials(m)
    assert (res.n_clusters, res.n_flat) == (3, 3)
    assert set(np.flatnonzero(res.labels == res.flat_cluster)) == {3, 4, 5}
    assert res.cluster_sharpes[res.flat_cluster] == 0.0
    corr = np.corrcoef(live, rowvar=False)
    assert res.eigen_n_eff == pytest.approx(11**2 / (np.sum(corr**2) + 3**2), rel=1e-12)

    only_flat = effective_number_of_trials(np.zeros((50, 4)))
    assert (only_flat.n_clusters, only_flat.cluster_sr_variance, only_flat.eigen_n_eff) == (1, 0.0, 1.0)
    single = effective_number_of_trials(live[:, :1])
    assert (single.n_clusters, single.rule, single.cluster_sr_variance) == (1, "single", 0.0)
    copies = effective_number_of_trials(np.column_stack([live[:, 0], 2 * live[:, 0], 3 * live[:, 0]]))
    assert (copies.n_clusters, copies.rule) == (1, "single")
    two = effective_number_of_trials(live[:, [0, 5]])
    assert (two.n_clusters, two.rule) == (2, "none")


def test_effective_trials_scales_to_hundreds_of_trials() -> None:
    m = _clustered(np.random.default_rng(3), [60, 90, 150, 100], rho=0.7, n_obs=1500, market=0.7)
    res = effective_number_of_trials(m)
    assert res.n_clusters == 4
    assert res.candidates < 400  # the cut counts are subsampled, not all 2..399


def test_effective_trials_input_errors() -> None:
    with pytest.raises(DataValidationError, match="must be 2-D"):
        effective_number_of_trials(np.zeros(10))
    with pytest.raises(DataValidationError, match="at least 2 periods and 1 trial"):
        effective_number_of_trials(np.zeros((1, 3)))
    bad = np.zeros((5, 3))
    bad[2, 1] = np.inf
    with pytest.raises(DataValidationError, match="row 2, trial column 1"):
        effective_number_of_trials(bad)
    with pytest.raises(ConfigError, match="unknown linkage"):
        effective_number_of_trials(np.eye(3), linkage="median")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown criterion"):
        effective_number_of_trials(np.eye(3), criterion="gap")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Power of a Sharpe gate
# ------------------------------------------------------------------------------------------------


def test_minimum_detectable_sharpe_known_figures() -> None:
    ten_years = minimum_detectable_sharpe(2520)
    assert ten_years.per_period * math.sqrt(2519) == pytest.approx(2.49, abs=0.005)
    assert round(ten_years.annualized, 2) == 0.79
    assert round(minimum_detectable_sharpe(433).annualized, 2) == 1.91
    assert minimum_detectable_sharpe(433).annualized == pytest.approx(
        minimum_detectable_sharpe(433).per_period * math.sqrt(252)
    )


def test_minimum_detectable_sharpe_solves_the_fixed_point() -> None:
    za, zb = sps.norm.ppf(0.95), sps.norm.ppf(0.9)
    for skew, kurt in ((0.0, 3.0), (-0.5, 8.0), (0.8, 5.0)):
        sr = minimum_detectable_sharpe(504, power=0.9, skew=skew, kurtosis=kurt).per_period
        se = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / 503)
        assert sr == pytest.approx((za + zb) * se, rel=1e-12)
    # Negative skew and fat tails need a larger edge than normal returns.
    assert (
        minimum_detectable_sharpe(504, skew=-0.5, kurtosis=8.0).per_period
        > minimum_detectable_sharpe(504).per_period
    )
    assert math.isinf(minimum_detectable_sharpe(3, kurtosis=1000.0).per_period)


def test_psr_power_size_consistency_and_monotonicity() -> None:
    assert psr_power(0.0, 500) == pytest.approx(0.05, abs=0.002)
    for n in (252, 433, 2520):
        mds = minimum_detectable_sharpe(n)
        assert psr_power(mds.per_period, n) == pytest.approx(0.8, abs=0.01)
    by_sr = [psr_power(sr, 500) for sr in (0.0, 0.05, 0.1, 0.15)]
    by_n = [psr_power(0.05, n) for n in (250, 500, 1000, 2000)]
    assert by_sr == sorted(by_sr)
    assert by_n == sorted(by_n)
    assert psr_power(0.1, 2, kurtosis=100.0) == 0.0
    assert math.isnan(psr_power(math.nan, 100))


def test_psr_power_matches_a_simulated_psr_gate() -> None:
    rng = np.random.default_rng(12)
    n_sims, n_obs, sr = 1000, 252, 0.12
    r = sr + rng.standard_normal((n_sims, n_obs))
    # The gate as the pipeline runs it: estimated SR, skew and kurtosis (stats' conventions) in the PSR.
    srs = r.mean(axis=1) / r.std(axis=1, ddof=1)
    skews = sps.skew(r, axis=1, bias=True)
    kurts = sps.kurtosis(r, axis=1, fisher=False, bias=True)
    first = sharpe_stats(r[0])
    assert (first.sr, first.skew, first.kurtosis) == pytest.approx((srs[0], skews[0], kurts[0]))
    psr = [probabilistic_sharpe_ratio(x, n_obs, g3, g4) for x, g3, g4 in zip(srs, skews, kurts, strict=True)]
    passed = sum(p >= 0.95 for p in psr)
    ci = binomial_interval(passed, n_sims, level=0.99)
    assert ci.low <= psr_power(sr, n_obs) <= ci.high


def test_power_parameter_errors() -> None:
    with pytest.raises(ConfigError, match=r"alpha must be in \(0, 1\), got 0"):
        minimum_detectable_sharpe(100, alpha=0.0)
    with pytest.raises(ConfigError, match="power must be in"):
        minimum_detectable_sharpe(100, power=1.0)
    with pytest.raises(ConfigError, match="n_obs must be >= 2, got 1"):
        minimum_detectable_sharpe(1)
    with pytest.raises(ConfigError, match="n_obs must be >= 2"):
        psr_power(0.1, 1)


# ------------------------------------------------------------------------------------------------
# Binomial interval
# ------------------------------------------------------------------------------------------------


def test_binomial_interval_known_values() -> None:
    none = binomial_interval(0, 10)  # Clopper-Pearson: [0, 1 - 0.025^(1/10)]
    assert (none.estimate, none.low) == (0.0, 0.0)
    assert none.high == pytest.approx(1 - 0.025**0.1, rel=1e-9)
    every = binomial_interval(10, 10)
    assert (every.low, every.high) == (pytest.approx(0.025**0.1, rel=1e-9), 1.0)
    wilson = binomial_interval(5, 10, method="wilson")
    assert (wilson.low, wilson.high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    exact = binomial_interval(15, 300, level=0.95)
    assert exact.low < 0.05 < exact.high
    assert exact.high - exact.low > wilson.high - wilson.low - 1
    assert binomial_interval(15, 300, method="wilson").high < exact.high  # Clopper-Pearson is wider


def test_binomial_interval_errors() -> None:
    with pytest.raises(ConfigError, match=r"successes must be an integer in \[0, trials=10\], got 11"):
        binomial_interval(11, 10)
    with pytest.raises(ConfigError, match="trials must be an integer >= 1"):
        binomial_interval(0, 0)
    with pytest.raises(ConfigError, match="level must be in"):
        binomial_interval(1, 10, level=1.5)
    with pytest.raises(ConfigError, match="unknown method"):
        binomial_interval(1, 10, method="agresti")  # type: ignore[arg-type]
