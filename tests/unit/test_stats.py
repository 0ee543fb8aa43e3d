"""Tests of spylib.stats.performance against known answers (shared/notes/evaluation.md) and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.core.errors import ConfigError, DataValidationError
from spylib.stats.overfitting import probability_of_backtest_overfitting
from spylib.stats.performance import (
    Interval,
    auc_with_ci,
    block_bootstrap_sharpe_ci,
    cagr,
    calmar_ratio,
    deflated_sharpe_ratio,
    delong_auc_variance,
    expected_max_sharpe,
    max_drawdown,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
    sharpe_stats,
    sortino_ratio,
    stationary_bootstrap_indices,
)

# The worked example: annualized SR 1.0 over 504 days, skew -0.5, excess kurtosis 5 (non-excess 8).
WORKED_SR = 1.0 / math.sqrt(PERIODS_PER_YEAR)
WORKED_N = 504
WORKED_SKEW = -0.5
WORKED_KURT = 8.0


# ------------------------------------------------------------------------------------------------
# Trading metrics
# ------------------------------------------------------------------------------------------------


def test_sharpe_matches_definition_and_annualizes() -> None:
    r = np.random.default_rng(1).normal(0.001, 0.01, 300)
    per_period = r.mean() / r.std(ddof=1)
    assert sharpe_ratio(r, annualize=False) == pytest.approx(per_period, rel=1e-12)
    assert sharpe_ratio(r) == pytest.approx(per_period * math.sqrt(252), rel=1e-12)
    assert sharpe_ratio(r, periods_per_year=52) == pytest.approx(per_period * math.sqrt(52), rel=1e-12)


def test_sharpe_counts_flat_days() -> None:
    traded = np.array([0.01, -0.005, 0.02, 0.004])
    with_flat = np.concatenate([traded, np.zeros(12)])
    # Flat days lower the mean more than the std: the Sharpe must drop, not stay the traded-days one.
    assert sharpe_ratio(with_flat) < sharpe_ratio(traded)


def test_sortino_known_value() -> None:
    r = [0.01, -0.02, 0.03, -0.01]
    downside = math.sqrt((0.02**2 + 0.01**2) / 4)
    assert sortino_ratio(r, annualize=False) == pytest.approx(0.0025 / downside)
    assert sortino_ratio(r) == pytest.approx(0.0025 / downside * math.sqrt(252))


def test_max_drawdown_on_compounded_curve() -> None:
    # Equity 1, 1.1, 0.55, 0.66: the trough is half the peak.
    assert max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(-0.5)
    # The curve starts at 1 before the first return, so a first-day loss is a drawdown.
    assert max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1)
    # Compounded, not summed: two -10% days give -19%, not -20%.
    assert max_drawdown([-0.1, -0.1]) == pytest.approx(-0.19)
    assert max_drawdown([0.01, 0.02]) == 0.0
    assert max_drawdown([0.1, -1.0, 0.5]) == pytest.approx(-1.0)


def test_cagr_and_calmar_known_values() -> None:
    daily = 1.21 ** (1 / 504) - 1  # 21% over two years of 252 days -> 10% a year
    r = np.full(504, daily)
    assert cagr(r) == pytest.approx(0.10)
    assert cagr([0.5, -1.0]) == -1.0
    assert math.isnan(cagr([]))
    r2 = np.array([0.1, -0.5, 0.2] + [0.0] * 249)  # one year exactly
    assert calmar_ratio(r2) == pytest.approx((1.1 * 0.5 * 1.2 - 1) / 0.5)


# ------------------------------------------------------------------------------------------------
# Edge cases: zero variance, no trades, one trade, n < 2, bad input
# ------------------------------------------------------------------------------------------------


def test_all_zero_returns_no_trades() -> None:
    r = np.zeros(100)
    assert sharpe_ratio(r) == 0.0
    assert sortino_ratio(r) == 0.0
    assert max_drawdown(r) == 0.0
    assert cagr(r) == 0.0
    st = sharpe_stats(r)
    assert st.sr == 0.0
    assert st.n == 100
    assert math.isnan(st.skew)
    assert math.isnan(st.kurtosis)
    assert math.isnan(probabilistic_sharpe_ratio(st.sr, st.n, st.skew, st.kurtosis))
    ci = block_bootstrap_sharpe_ci(r, n_boot=50)
    assert (ci.estimate, ci.low, ci.high) == (0.0, 0.0, 0.0)


def test_zero_variance_nonzero_mean_is_nan() -> None:
    # 0.01 is not exactly representable, so np.std is ~1e-18, not 0: the tolerance must catch it.
    r = np.full(50, 0.01)
    assert math.isnan(sharpe_ratio(r))
    assert math.isnan(sortino_ratio(r))
    assert math.isnan(sharpe_stats(r).skew)


def test_single_nonzero_return_one_trade() -> None:
    # One return x among n periods: mean x/n, std x/sqrt(n) -> per-period Sharpe exactly 1/sqrt(n).
    r = np.zeros(100)
    r[37] = 0.01
    assert sharpe_ratio(r, annualize=False) == pytest.approx(0.1)
    assert sharpe_ratio(r) == pytest.approx(0.1 * math.sqrt(252))
    r[37] = -0.01
    assert sharpe_ratio(r, annualize=False) == pytest.approx(-0.1)
    assert max_drawdown(r) == pytest.approx(-0.01)
    st = sharpe_stats(r)
    assert st.skew < -5  # one big loss among zeros is very left-skewed
    assert 0.0 < probabilistic_sharpe_ratio(st.sr, st.n, st.skew, st.kurtosis) < 0.5


@pytest.mark.parametrize("r", [[], [0.01]])
def test_fewer_than_two_observations(r: list[float]) -> None:
    assert math.isnan(sharpe_ratio(r))
    assert math.isnan(sortino_ratio(r))
    assert math.isnan(sharpe_stats(r).sr)
    ci = block_bootstrap_sharpe_ci(r, n_boot=10)
    assert math.isnan(ci.low)
    assert math.isnan(ci.high)
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0))


def test_non_finite_returns_raise_naming_position() -> None:
    with pytest.raises(DataValidationError, match="position 2"):
        sharpe_ratio([0.01, 0.02, float("nan"), 0.0])
    with pytest.raises(DataValidationError, match="1-D"):
        sharpe_ratio(np.zeros((3, 2)))


# ------------------------------------------------------------------------------------------------
# PSR, DSR, MinTRL
# ------------------------------------------------------------------------------------------------


def test_expected_max_of_ten_standard_normals() -> None:
    assert round(expected_max_sharpe(10, 1.0), 4) == 1.5746
    assert expected_max_sharpe(10, 0.04) == pytest.approx(0.2 * 1.57459830, rel=1e-6)
    assert expected_max_sharpe(1, 1.0) == 0.0
    assert expected_max_sharpe(100, 1.0) > expected_max_sharpe(10, 1.0)
    with pytest.raises(ConfigError, match="n_trials"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ConfigError, match="trials_sr_variance"):
        expected_max_sharpe(10, -1.0)


def test_worked_example_psr_and_dsr() -> None:
    psr = probabilistic_sharpe_ratio(WORKED_SR, WORKED_N, WORKED_SKEW, WORKED_KURT)
    assert round(psr, 3) == 0.917
    dsr10 = deflated_sharpe_ratio(WORKED_SR, WORKED_N, WORKED_SKEW, WORKED_KURT, 10, 0.02**2)
    dsr100 = deflated_sharpe_ratio(WORKED_SR, WORKED_N, WORKED_SKEW, WORKED_KURT, 100, 0.02**2)
    assert round(dsr10, 3) == 0.756
    assert round(dsr100, 3) == 0.607
    # The common bug: an annualized SR in the PSR gives ~1.
    assert probabilistic_sharpe_ratio(1.0, WORKED_N, WORKED_SKEW, WORKED_KURT) > 0.99 > psr


def test_dsr_with_one_trial_is_psr_at_zero() -> None:
    psr = probabilistic_sharpe_ratio(WORKED_SR, WORKED_N, WORKED_SKEW, WORKED_KURT)
    assert deflated_sharpe_ratio(WORKED_SR, WORKED_N, WORKED_SKEW, WORKED_KURT, 1, 0.02**2) == psr


def test_psr_monotone_in_sr_and_n() -> None:
    srs = np.linspace(-0.1, 0.2, 31)
    by_sr = [probabilistic_sharpe_ratio(s, 500, 0.0, 3.0) for s in srs]
    assert np.all(np.diff(by_sr) > 0)
    ns = [10, 50, 100, 500, 1000, 5000]
    by_n = [probabilistic_sharpe_ratio(0.05, n, -0.5, 6.0) for n in ns]
    assert np.all(np.diff(by_n) > 0)
    # Below the benchmark more data makes us MORE sure the true SR is below it.
    below = [probabilistic_sharpe_ratio(-0.05, n, 0.0, 3.0) for n in ns]
    assert np.all(np.diff(below) < 0)
    assert probabilistic_sharpe_ratio(0.05, 500, 0.0, 3.0, sr_benchmark=0.05) == pytest.approx(0.5)


def test_psr_fat_tails_and_negative_skew_lower_confidence() -> None:
    normal = probabilistic_sharpe_ratio(0.08, 500, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.08, 500, -1.0, 3.0) < normal
    assert probabilistic_sharpe_ratio(0.08, 500, 0.0, 10.0) < normal


def test_psr_degenerate_inputs_are_nan() -> None:
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0))
    assert math.isnan(probabilistic_sharpe_ratio(float("nan"), 100, 0.0, 3.0))
    # 1 - skew*sr + (k-1)/4 sr^2 <= 0: skew 20 at sr 0.5 gives 1 - 10 + 0.125 < 0.
    assert math.isnan(probabilistic_sharpe_ratio(0.5, 100, 20.0, 3.0))
    assert math.isnan(min_track_record_length(0.5, 20.0, 3.0))


def test_psr_calibrated_on_normal_returns() -> None:
    # With true SR = 0, PSR(0) is ~Uniform(0, 1): it exceeds 0.95 in about 5% of samples.
    rng = np.random.default_rng(42)
    sims = rng.normal(0.0, 0.01, size=(2000, 250))
    # Moments vectorized with the same conventions as sharpe_stats (checked on one row), for speed.
    srs = sims.mean(axis=1) / sims.std(axis=1, ddof=1)
    skews = sps.skew(sims, axis=1, bias=True)
    kurts = sps.kurtosis(sims, axis=1, fisher=False, bias=True)
    first = sharpe_stats(sims[0])
    assert (first.sr, first.skew, first.kurtosis) == pytest.approx((srs[0], skews[0], kurts[0]), rel=1e-12)
    psrs = [probabilistic_sharpe_ratio(a, 250, b, c) for a, b, c in zip(srs, skews, kurts, strict=True)]
    share = float(np.mean(np.array(psrs) > 0.95))
    assert 0.03 < share < 0.07
    # With a true per-period SR of 0.1 over 1000 days, PSR(0) is close to 1 in nearly every sample.
    r = rng.normal(0.001, 0.01, size=1000)
    st = sharpe_stats(r)
    assert abs(st.skew) < 0.3
    assert abs(st.kurtosis - 3.0) < 0.5
    assert probabilistic_sharpe_ratio(st.sr, st.n, st.skew, st.kurtosis) > 0.95


def test_min_track_record_length_inverts_psr() -> None:
    for sr, skew, kurt, bench, alpha in [
        (WORKED_SR, WORKED_SKEW, WORKED_KURT, 0.0, 0.05),
        (0.1, 0.0, 3.0, 0.02, 0.05),
        (0.05, -1.0, 9.0, 0.0, 0.01),
    ]:
        mintrl = min_track_record_length(sr, skew, kurt, sr_benchmark=bench, alpha=alpha)
        # PSR's sqrt(n - 1) is continuous in n, so evaluate it at the (non-integer) MinTRL directly.
        z = (sr - bench) * math.sqrt(mintrl - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
        assert sps.norm.cdf(z) == pytest.approx(1 - alpha, abs=1e-12)
        # and on the integer grid: one period short is below 1 - alpha, ceil is at or above it.
        n_up = math.ceil(mintrl)
        assert probabilistic_sharpe_ratio(sr, n_up, skew, kurt, bench) >= 1 - alpha - 1e-12
        assert probabilistic_sharpe_ratio(sr, n_up - 1, skew, kurt, bench) < 1 - alpha
    assert min_track_record_length(0.0, 0.0, 3.0) == math.inf
    assert min_track_record_length(0.05, 0.0, 3.0, sr_benchmark=0.1) == math.inf
    with pytest.raises(ConfigError, match="alpha"):
        min_track_record_length(0.1, 0.0, 3.0, alpha=1.5)


def test_cross_check_with_skfolio() -> None:
    measures = pytest.importorskip("skfolio.measures")
    rng = np.random.default_rng(3)
    r = rng.standard_t(4, size=700) * 0.01 + 0.0006
    st = sharpe_stats(r)
    assert probabilistic_sharpe_ratio(st.sr, st.n, st.skew, st.kurtosis, 0.01) == pytest.approx(
        measures.probabilistic_sharpe_ratio(r, benchmark_sharpe_ratio=0.01), rel=1e-9
    )
    trial_srs = rng.normal(0.0, 0.02, size=25)
    dsr = deflated_sharpe_ratio(st.sr, st.n, st.skew, st.kurtosis, 25, float(np.var(trial_srs, ddof=1)))
    assert dsr == pytest.approx(measures.deflated_sharpe_ratio(r, trial_srs), rel=1e-9)


# ------------------------------------------------------------------------------------------------
# PBO (CSCV)
# ------------------------------------------------------------------------------------------------


def test_pbo_one_trial_truly_best_is_near_zero() -> None:
    rng = np.random.default_rng(7)
    m = rng.normal(0.0, 0.01, size=(800, 10))
    m[:, 4] += 0.004  # per-period SR 0.4 above the others: best in every block
    res = probability_of_backtest_overfitting(m, n_blocks=8)
    assert res.n_splits == math.comb(8, 4) == res.logits.size
    assert res.pbo < 0.05
    assert np.all(res.logits > 0)
    assert res.prob_oos_loss == 0.0


def test_pbo_pure_noise_is_near_half() -> None:
    # A single noise matrix has a very variable PBO (0.2-0.9); the average over seeds is ~0.5.
    pbos = [
        probability_of_backtest_overfitting(np.random.default_rng(s).normal(0, 0.01, (1000, 20)), 10).pbo
        for s in range(10)
    ]
    assert 0.3 < float(np.mean(pbos)) < 0.7


def test_pbo_anti_persistent_trials_overfit() -> None:
    # Each trial is good in some blocks and bad in the others (mean-reverting performance): the IS
    # winner is the OOS loser, so PBO must be close to 1.
    rng = np.random.default_rng(11)
    n_blocks, rows, n_trials = 8, 50, 8
    m = rng.normal(0.0, 0.01, size=(n_blocks * rows, n_trials))
    for b in range(n_blocks):
        m[b * rows : (b + 1) * rows, b] += 0.01
    res = probability_of_backtest_overfitting(m, n_blocks=n_blocks)
    assert res.pbo > 0.9


def test_pbo_vectorized_sharpe_matches_loop_with_callable() -> None:
    m = np.random.default_rng(5).normal(0.0002, 0.01, size=(203, 7))  # 203 rows: unequal blocks

    def per_period_sharpe(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=0) / x.std(axis=0, ddof=1)

    fast = probability_of_backtest_overfitting(m, n_blocks=8)
    slow = probability_of_backtest_overfitting(m, n_blocks=8, metric=per_period_sharpe)
    assert fast.pbo == slow.pbo
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.is_best_oos, slow.is_best_oos, rtol=1e-9)
    np.testing.assert_allclose(fast.is_best_is, slow.is_best_is, rtol=1e-9)


def test_pbo_rank_convention_on_two_trials() -> None:
    # Two trials, trial 0 better in blocks 0-1, trial 1 better in blocks 2-3 (strongly): with S = 4
    # the 6 splits have logits +-logit(2/3) or logit(1/3).
    rows = 40
    rng = np.random.default_rng(0)
    m = rng.normal(0, 0.001, size=(4 * rows, 2))
    m[: 2 * rows, 0] += 0.01
    m[2 * rows :, 1] += 0.01
    res = probability_of_backtest_overfitting(m, n_blocks=4)
    np.testing.assert_allclose(np.abs(res.logits), math.log(2.0))  # omega = 1/3 or 2/3
    # Splits {0,1} and {2,3} pick the trial that is worst OOS; the four mixed splits are a coin flip.
    assert res.pbo >= 2 / 6


def test_pbo_indistinguishable_trials_count_as_overfit() -> None:
    # Identical trials tie everywhere: average OOS rank (N + 1)/2, omega 1/2, logit 0 <= 0 in every
    # split. Picking among indistinguishable trials is pure selection, so PBO = 1.
    col = np.random.default_rng(1).normal(0.0, 0.01, size=(200, 1))
    res = probability_of_backtest_overfitting(np.repeat(col, 5, axis=1), n_blocks=4)
    np.testing.assert_allclose(res.logits, 0.0, atol=1e-12)
    assert res.pbo == 1.0
    # All-zero trials (nothing ever traded) have Sharpe 0 everywhere and behave the same way.
    assert probability_of_backtest_overfitting(np.zeros((40, 3)), n_blocks=4).pbo == 1.0


def test_pbo_runs_every_split_at_full_size() -> None:
    # Its speed is measured by the benchmarks, not asserted here (tests check behaviour, not timings).
    m = np.random.default_rng(0).normal(0, 0.01, size=(2500, 200))
    res = probability_of_backtest_overfitting(m, n_blocks=16)
    assert res.n_splits == 12870
    assert res.logits.shape == (12870,)
    assert 0.0 <= res.pbo <= 1.0


@pytest.mark.parametrize(
    ("shape", "n_blocks", "error", "match"),
    [
        ((100, 1), 4, DataValidationError, "at least 2 trials"),
        ((3, 5), 4, DataValidationError, "at least n_blocks=4"),
        ((100, 5), 5, ConfigError, "even"),
        ((100, 5), 0, ConfigError, "even"),
    ],
)
def test_pbo_shape_errors(shape: tuple[int, int], n_blocks: int, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        probability_of_backtest_overfitting(np.zeros(shape), n_blocks=n_blocks)


def test_pbo_rejects_1d_and_nan() -> None:
    with pytest.raises(ValueError, match="2-D"):
        probability_of_backtest_overfitting(np.zeros(100))
    m = np.zeros((40, 3))
    m[7, 2] = np.nan
    with pytest.raises(DataValidationError, match="row 7, trial column 2"):
        probability_of_backtest_overfitting(m, n_blocks=4)


# ------------------------------------------------------------------------------------------------
# Block bootstrap
# ------------------------------------------------------------------------------------------------


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    r = np.random.default_rng(9).normal(0.0005, 0.01, 750)
    a = block_bootstrap_sharpe_ci(r, seed=1)
    b = block_bootstrap_sharpe_ci(r, seed=1)
    c = block_bootstrap_sharpe_ci(r, seed=2)
    assert isinstance(a, Interval)
    assert a.level == 0.95
    assert a == b
    assert a != c
    assert a.estimate == pytest.approx(sharpe_ratio(r))
    assert a.low < a.estimate < a.high
    # Standard error of an annualized Sharpe is ~sqrt(252 / n) = 0.58 for n = 750: width ~ 2 * 1.96 * 0.58.
    assert 1.5 < a.high - a.low < 3.2


def test_bootstrap_ci_narrower_for_longer_series() -> None:
    rng = np.random.default_rng(4)
    short = block_bootstrap_sharpe_ci(rng.normal(0.0005, 0.01, 500), n_boot=1000)
    long = block_bootstrap_sharpe_ci(rng.normal(0.0005, 0.01, 5000), n_boot=1000)
    assert (long.high - long.low) < 0.5 * (short.high - short.low)
    lower_level = block_bootstrap_sharpe_ci(rng.normal(0.0005, 0.01, 500), n_boot=1000, level=0.5)
    assert (lower_level.high - lower_level.low) < (short.high - short.low)


def test_stationary_bootstrap_indices_have_blocks_of_mean_length() -> None:
    idx = stationary_bootstrap_indices(1000, 50, 10.0, np.random.default_rng(0))
    assert idx.shape == (50, 1000)
    assert idx.min() >= 0
    assert idx.max() < 1000
    continues = (idx[:, 1:] == (idx[:, :-1] + 1) % 1000).mean()
    # A new block starts with probability 1/10 (and may by chance continue the old one).
    assert 0.88 < continues < 0.92
    ones = stationary_bootstrap_indices(1000, 5, 1.0, np.random.default_rng(0))
    assert (ones[:, 1:] == (ones[:, :-1] + 1) % 1000).mean() < 0.01


# ------------------------------------------------------------------------------------------------
# AUC with DeLong interval
# ------------------------------------------------------------------------------------------------


def _brute_force_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)


def test_delong_small_hand_example() -> None:
    # Positives 0.9, 0.8, 0.4; negatives 0.7, 0.3. Placements V10 = 1, 1, 0.5; V01 = 2/3, 1.
    # AUC = 5/6; var = var(V10)/3 + var(V01)/2 = (1/12)/3 + (1/18)/2 = 1/36 + 1/36 = 1/18.
    auc, var = delong_auc_variance([1, 1, 1, 0, 0], [0.9, 0.8, 0.4, 0.7, 0.3])
    assert auc == pytest.approx(5 / 6)
    assert var == pytest.approx(1 / 18)


def test_delong_matches_brute_force_and_sklearn_with_ties() -> None:
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, 400)
    s = np.round(y * 0.3 + rng.normal(0, 0.5, 400), 1)  # rounding creates many ties
    auc, var = delong_auc_variance(y, s)
    bf_auc, bf_var = _brute_force_delong(y, s)
    assert auc == pytest.approx(roc_auc_score(y, s), rel=1e-12)
    assert auc == pytest.approx(bf_auc, rel=1e-12)
    assert var == pytest.approx(bf_var, rel=1e-10)


def test_delong_variance_close_to_bootstrap() -> None:
    rng = np.random.default_rng(21)
    n = 300
    y = rng.integers(0, 2, n)
    s = y * 0.8 + rng.normal(0, 1, n)
    _, var = delong_auc_variance(y, s)
    # Bootstrap AUCs by the Mann-Whitney rank formula (continuous scores: no ties), checked once
    # against sklearn; far faster than calling roc_auc_score 2000 times.
    idx = rng.integers(0, n, size=(2000, n))
    yb, sb = y[idx], s[idx]
    # Resampling duplicates scores, so rank with ties averaged, as the AUC needs.
    ranks = sps.rankdata(sb, axis=1, method="average")
    n_pos = yb.sum(axis=1)
    keep = (n_pos > 0) & (n_pos < n)
    boots = ((ranks * yb).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
    assert boots[0] == pytest.approx(roc_auc_score(yb[0], sb[0]), rel=1e-12)
    assert var == pytest.approx(float(np.var(boots[keep], ddof=1)), rel=0.15)


def test_auc_with_ci_interval() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    s = y * 0.5 + rng.normal(0, 1, 500)
    ci = auc_with_ci(y, s)
    assert ci.estimate == pytest.approx(roc_auc_score(y, s))
    assert ci.low < ci.estimate < ci.high
    assert ci.high - ci.low == pytest.approx(2 * 1.959964 * math.sqrt(delong_auc_variance(y, s)[1]), rel=1e-6)
    assert auc_with_ci(y, s, level=0.5).high < ci.high


def test_auc_perfect_separation_and_one_class() -> None:
    ci = auc_with_ci([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0)
    inverted = auc_with_ci([1, 1, 0, 0], [0.1, 0.2, 0.7, 0.8])
    assert inverted.estimate == 0.0
    one_class = auc_with_ci([1, 1, 1], [0.2, 0.5, 0.9])
    assert all(math.isnan(v) for v in (one_class.estimate, one_class.low, one_class.high))
    single_positive = auc_with_ci([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.95])
    assert single_positive.estimate == pytest.approx(2 / 3)
    assert math.isnan(single_positive.low)


def test_auc_rejects_bad_labels() -> None:
    with pytest.raises(DataValidationError, match="binary"):
        auc_with_ci([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(DataValidationError, match="shape"):
        auc_with_ci([0, 1], [0.1, 0.2, 0.3])
