"""The walk-forward selection: at each refit date, choose a trial from the blocks before it only.

Every trial (configuration x threshold x filter x sizing) has out-of-fold net returns on every
walk-forward block (:mod:`spylib.modelling.scoring`). At the start of each traded block the whole
choice is made again, using only the blocks before that date: among the trials active enough to pass
the gate's activity rule (trades per year and exposure, the same numbers the gate uses), the best by
the selection metric; the chosen trial then trades the block. The concatenation of the traded blocks
is the walk-forward *track*: one long out-of-sample record of the process that would be deployed,
selection included. The final choice (made on every block) is the trial whose configuration is
refit on all labelled data and registered.

**A choice is not decided by a hair (the one-standard-error rule).** Hundreds of trials share their
models and differ by a threshold step or a filter, so the best and the runner-up are often equally
good within their noise: two vendors' copies of the same prices (daily returns within 2e-6) then
pick different trials. At each refit, the trials *indistinguishable from the best* are the eligible
ones whose per-period net Sharpe is within ``STANDARD_ERRORS`` standard errors of the best's, the
standard error being that of the paired difference of the two Sharpe ratios on the same days
(Jobson and Korkie 1981 with Memmel's 2003 correction:
``(2 - 2 rho + (sr_a^2 + sr_b^2 - 2 sr_a sr_b rho^2) / 2) / T``). If the previous refit's trial is
among them, it is kept; otherwise the best is taken. The final choice applies the same rule with the
last refit's trial as the previous one, so the registered trial is the one the track ended with unless
another is clearly better. :func:`choice_stability` measures what remains: how often a refit's choice
changes when the asset's returns get the noise of a +-1e-6 relative price error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from spylib.core.config import GateConfig
from spylib.modelling.scoring import ConfigResult, filter_columns
from spylib.modelling.strategy import Strategy, TradeContext
from spylib.modelling.trading import strategy_returns
from spylib.modelling.walk_forward import Block, Splits
from spylib.stats import performance as stats


@dataclass(frozen=True)
class TrialSet:
    """Every trial of the sweep on the predicted rows, ordered by configuration id (so nothing depends
    on the join's input order): ``trial_id`` is the column of the matrices."""

    trials: pd.DataFrame
    rows: np.ndarray  # predicted rows of the feature table, time order
    block: np.ndarray  # block index of each predicted row
    positions: np.ndarray  # T x N
    net_returns: np.ndarray  # T x N
    probability: np.ndarray  # T x n_configs
    config_of_trial: np.ndarray  # N: column of ``probability``

    @property
    def n_trials(self) -> int:
        return self.net_returns.shape[1]

    @cached_property
    def _activity_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Entries from flat and days in the market of each trial, cumulated over the rows."""
        in_market = self.positions > 0
        entries = in_market.copy()
        entries[1:] &= ~in_market[:-1]
        return np.cumsum(entries, axis=0), np.cumsum(in_market, axis=0)

    def prefix_activity(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`activity` of the first ``n_rows`` rows (the blocks before a refit), from cumulative
        counts: the same integers and divisions, without rescanning every earlier row at each refit."""
        entries, in_market = (counts[n_rows - 1] for counts in self._activity_counts)
        return entries / (n_rows / stats.PERIODS_PER_YEAR), in_market / n_rows


def combine_trials(results: Sequence[ConfigResult], splits: Splits) -> TrialSet:
    ordered = sorted(results, key=lambda r: r.spec.config_id)
    rows = ordered[0].rows
    for r in ordered[1:]:
        if not np.array_equal(r.rows, rows):
            raise ValueError(f"configuration {r.spec.config_id} was scored on different rows than the others")
    trials = pd.concat([r.trials for r in ordered], ignore_index=True)
    trials.insert(0, "trial_id", np.arange(len(trials)))
    block = np.concatenate([np.full(b.n_rows, b.index) for b in splits.blocks])
    config_of_trial = np.concatenate([np.full(len(r.rules), i) for i, r in enumerate(ordered)])
    return TrialSet(
        trials=trials,
        rows=rows,
        block=block,
        positions=np.column_stack([r.positions for r in ordered]),
        net_returns=np.column_stack([r.net_returns for r in ordered]),
        probability=np.column_stack([r.probability for r in ordered]),
        config_of_trial=config_of_trial,
    )


def activity(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(trades per year, exposure) of each column of a positions matrix (entries from flat)."""
    in_market = positions > 0
    previous = np.vstack([np.zeros((1, positions.shape[1]), dtype=bool), in_market[:-1]])
    entries = (in_market & ~previous).sum(axis=0)
    years = max(positions.shape[0], 1) / stats.PERIODS_PER_YEAR
    return entries / years, in_market.mean(axis=0)


@dataclass(frozen=True)
class ColumnMoments:
    """Each column's mean and standard deviation (ddof 1; 0 with a single row), computed once for the
    score and the one-standard-error rule."""

    n: int
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, net_returns: np.ndarray) -> ColumnMoments:
        n = net_returns.shape[0]
        mean = net_returns.mean(axis=0)
        std = net_returns.std(axis=0, ddof=1) if n > 1 else np.zeros_like(mean)
        return cls(n, mean, std)


def selection_scores(
    net_returns: np.ndarray, metric: str, moments: ColumnMoments | None = None
) -> np.ndarray:
    """Per-column score: per-period net Sharpe (``sharpe_net``) or PSR(0) with each column's own skew
    and kurtosis (``psr``). Columns with no variance score 0 (a flat trial earns nothing)."""
    if moments is None:
        mean, std = net_returns.mean(axis=0), net_returns.std(axis=0, ddof=1)
    else:
        mean, std = moments.mean, moments.std
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(std > 0, mean / std, 0.0)
    if metric == "sharpe_net":
        return sr
    n = net_returns.shape[0]
    skew = np.nan_to_num(scipy_stats.skew(net_returns, axis=0), nan=0.0)
    kurt = np.nan_to_num(scipy_stats.kurtosis(net_returns, axis=0, fisher=False), nan=3.0)
    var_term = np.maximum(1 - skew * sr + (kurt - 1) / 4 * sr**2, 1e-12)
    return np.asarray(scipy_stats.norm.cdf(sr * np.sqrt(n - 1) / np.sqrt(var_term)))


# The one-standard-error rule's width (see the module docstring).
STANDARD_ERRORS = 1.0


@dataclass(frozen=True)
class Choice:
    trial_id: int
    score: float
    n_eligible: int
    best_trial_id: int = -1  # the best by the selection metric (trial_id unless the previous was kept)
    n_indistinguishable: int = 1  # trials within STANDARD_ERRORS of the best, the best included


def indistinguishable_from(
    net_returns: np.ndarray, best: int, standard_errors: float, moments: ColumnMoments | None = None
) -> np.ndarray:
    """Columns whose per-period Sharpe is within ``standard_errors`` standard errors of column
    ``best``'s, by the paired difference's standard error (Jobson-Korkie, Memmel 2003). A column of
    no variance is distinguishable only by its Sharpe of 0."""
    moments = ColumnMoments.of(net_returns) if moments is None else moments
    n, mean, std = moments.n, moments.mean, moments.std
    # Covariances with the best column by one matrix-vector product (no T x N temporary).
    cov = (net_returns.T @ net_returns[:, best] - n * mean * mean[best]) / max(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(std > 0, mean / std, 0.0)
        rho = cov / (std * std[best])
    rho = np.clip(np.nan_to_num(rho, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
    a = sr[best]
    variance = (2 - 2 * rho + 0.5 * (a**2 + sr**2 - 2 * a * sr * rho**2)) / max(n, 1)
    within = a - sr <= standard_errors * np.sqrt(np.maximum(variance, 0.0))
    within[best] = True
    return np.asarray(within)


def choose_trial(
    trialset: TrialSet,
    row_mask: np.ndarray,
    metric: str,
    gate: GateConfig,
    *,
    previous: int | None = None,
    standard_errors: float = STANDARD_ERRORS,
    net_returns: np.ndarray | None = None,
) -> Choice:
    """The trial to trade on the predicted rows in ``row_mask``: the best among those meeting the
    activity rule (all trials when none does: the gate then rejects on activity), ties to the lowest
    id; but ``previous`` when it is eligible and within ``standard_errors`` of the best (module
    docstring). ``net_returns`` replaces the trial set's (the stability measurement's perturbed copy)."""
    rows: slice | np.ndarray = row_mask
    if row_mask.all() or not row_mask[np.argmin(row_mask) :].any():  # a prefix: a view, no copy
        rows = slice(0, int(row_mask.sum()))
    net = (trialset.net_returns if net_returns is None else net_returns)[rows]
    if isinstance(rows, slice) and rows.stop > 0:
        trades_per_year, exposure = trialset.prefix_activity(rows.stop)
    else:
        trades_per_year, exposure = activity(trialset.positions[rows])
    eligible = (trades_per_year >= gate.min_trades_per_year) & (exposure >= gate.min_exposure)
    moments = ColumnMoments.of(net)
    score = selection_scores(net, metric, moments)
    pool = np.where(eligible, score, -np.inf) if eligible.any() else score
    best = int(np.argmax(pool))  # argmax returns the first (lowest id) of ties
    allowed = eligible if eligible.any() else np.ones_like(eligible)
    tied = indistinguishable_from(net, best, standard_errors, moments) & allowed
    chosen = previous if previous is not None and bool(tied[previous]) else best
    return Choice(chosen, float(score[chosen]), int(eligible.sum()), best, int(tied.sum()))


def refit_choices(
    trialset: TrialSet,
    splits: Splits,
    metric: str,
    gate: GateConfig,
    net_returns: np.ndarray | None = None,
    standard_errors: float = STANDARD_ERRORS,
) -> tuple[list[Choice], Choice]:
    """The choice at each traded block's start (each from the blocks before it, the previous one kept
    when still indistinguishable from the best) and the final choice on every block."""
    choices: list[Choice] = []
    previous: int | None = None
    for block in splits.traded_blocks:
        before = trialset.block < block.index
        choice = choose_trial(
            trialset,
            before,
            metric,
            gate,
            previous=previous,
            standard_errors=standard_errors,
            net_returns=net_returns,
        )
        choices.append(choice)
        previous = choice.trial_id
    everything = np.ones(len(trialset.rows), dtype=bool)
    final = choose_trial(
        trialset,
        everything,
        metric,
        gate,
        previous=previous,
        standard_errors=standard_errors,
        net_returns=net_returns,
    )
    return choices, final


@dataclass(frozen=True)
class ChoiceStability:
    """How often the selection's choices change when the asset's daily returns carry the error of a
    +-``relative_price_noise`` price error (uniform, independent per price), over ``replications``."""

    relative_price_noise: float
    replications: int
    refit_change_rate: float  # share of (refit, replication) pairs whose choice differs
    final_change_rate: float  # share of replications whose final choice differs
    median_indistinguishable: float  # trials within the rule's width of the best, median over refits

    def to_dict(self) -> dict[str, float | int]:
        return {
            "stability_relative_price_noise": self.relative_price_noise,
            "stability_replications": self.replications,
            "choice_change_rate": self.refit_change_rate,
            "final_choice_change_rate": self.final_change_rate,
            "median_indistinguishable_trials": self.median_indistinguishable,
        }


@dataclass(frozen=True)
class PriceNoise:
    """The price error :func:`choice_stability` applies: uniform in +-``relative_price_noise``, each
    price its own, drawn ``replications`` times."""

    relative_price_noise: float = 1e-6
    replications: int = 8


# The error of two vendors' copies of the same prices (daily returns within 2e-6: module docstring).
VENDOR_PRICE_NOISE = PriceNoise()


def choice_stability(
    trialset: TrialSet,
    splits: Splits,
    fwd_return: np.ndarray,
    settings: tuple[str, GateConfig],
    *,
    seed: int,
    noise: PriceNoise = VENDOR_PRICE_NOISE,
    standard_errors: float = STANDARD_ERRORS,
) -> ChoiceStability:
    """Redo the selection (choices only) on perturbed out-of-fold net returns, ``noise.replications``
    times.

    A price error ``u_t`` (uniform in +-``noise.relative_price_noise``, each price its own) moves the
    asset's return from t to t+1 by ``(1 + r_t)(u_{t+1} - u_t)``; a trial's net return moves by its
    position times that. The models' probabilities are left as they are: this is the selection's own
    sensitivity (``tests/bench/bench_stability.py`` measures the whole run's, refits included)."""
    metric, gate = settings
    relative, replications = noise.relative_price_noise, noise.replications
    base, base_final = refit_choices(trialset, splits, metric, gate, standard_errors=standard_errors)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20_061]))
    changed = final_changed = 0
    for _ in range(replications):
        u = rng.uniform(-relative, relative, len(fwd_return) + 1)
        return_noise = (1 + fwd_return) * (u[1:] - u[:-1])
        perturbed = trialset.net_returns + trialset.positions * return_noise[:, None]
        choices, final = refit_choices(trialset, splits, metric, gate, perturbed, standard_errors)
        changed += sum(a.trial_id != b.trial_id for a, b in zip(base, choices, strict=True))
        final_changed += int(final.trial_id != base_final.trial_id)
    return ChoiceStability(
        relative_price_noise=relative,
        replications=replications,
        refit_change_rate=changed / max(replications * len(base), 1),
        final_change_rate=final_changed / max(replications, 1),
        median_indistinguishable=float(np.median([c.n_indistinguishable for c in base])) if base else 0.0,
    )


@dataclass(frozen=True)
class WalkForward:
    """The track (daily rows of the traded blocks), the choice made at each refit date, and the final
    choice on every block (what gets registered)."""

    track: pd.DataFrame
    refits: pd.DataFrame
    final: Choice


def walk_forward_selection(
    trialset: TrialSet,
    features: pd.DataFrame,
    splits: Splits,
    metric: str,
    gate: GateConfig,
    cost_bps: float,
    context: TradeContext | None = None,
) -> WalkForward:
    """Make the selection again at each traded block's start from the blocks before it, trade the block
    with the chosen trial, and concatenate the blocks (costs charged on every position change,
    including a switch of trial at a block boundary). With ``context``, each block is traded by
    applying the chosen trial's :class:`Strategy` to the block's rows (the same rule the trials were
    scored with, so the positions are the trial's own)."""
    parts: list[pd.DataFrame] = []
    refits: list[dict[str, Any]] = []
    choices, final = refit_choices(trialset, splits, metric, gate)
    for block, choice in zip(splits.traded_blocks, choices, strict=True):
        parts.append(traded_block(trialset, features, block, choice, context))
        refits.append(refit_row(trialset, block, choice))
    track = with_track_returns(pd.concat(parts, ignore_index=True), cost_bps)
    return WalkForward(track, pd.DataFrame(refits), final)


def traded_block(
    trialset: TrialSet, features: pd.DataFrame, block: Block, choice: Choice, context: TradeContext | None
) -> pd.DataFrame:
    """The track's rows of one traded block: the chosen trial's probability and position on each day
    (by its :class:`Strategy` with ``context``, else the trial's scored positions) and the outcome."""
    here = trialset.block == block.index
    row = trialset.trials.iloc[choice.trial_id]
    frame = features.iloc[trialset.rows[here]]
    probability = trialset.probability[here, trialset.config_of_trial[choice.trial_id]]
    position = (
        context.strategy(row.to_dict()).positions(frame, probability)
        if context is not None
        else trialset.positions[here, choice.trial_id]
    )
    return pd.DataFrame(
        {
            "date": frame["date"].to_numpy(),
            "block": block.name,
            "trial_id": choice.trial_id,
            "config_id": row["config_id"],
            "probability": probability,
            "position": position,
            "fwd_return": frame["fwd_return"].to_numpy("float64"),
            "target_up": frame["target_up"].to_numpy("int8"),
        }
    )


def refit_row(trialset: TrialSet, block: Block, choice: Choice) -> dict[str, Any]:
    """One row of the ``refits`` table: the choice made at ``block``'s start (from the blocks before
    it) and how the chosen trial's out-of-fold returns went on the block."""
    before = trialset.block < block.index
    here = trialset.block == block.index
    row = trialset.trials.iloc[choice.trial_id]
    block_net = trialset.net_returns[here, choice.trial_id]
    return {
        "refit_date": block.start,
        "block": block.name,
        "block_end": block.end,
        "blocks_used": int(np.unique(trialset.block[before]).size),
        "trial_id": choice.trial_id,
        "config_id": row["config_id"],
        "threshold": float(row["threshold"]),
        "filter": row["filter"],
        "sizing": row["sizing"],
        "selection_score": choice.score,
        "eligible_trials": choice.n_eligible,
        "best_trial_id": choice.best_trial_id,
        "indistinguishable_trials": choice.n_indistinguishable,
        "block_sharpe_net": stats.sharpe_ratio(block_net),
        "block_return_net": float(np.prod(1 + block_net) - 1),
    }


def with_track_returns(track: pd.DataFrame, cost_bps: float) -> pd.DataFrame:
    """The track with its gross and net returns, and buy-and-hold's on the same days (costs charged on
    every position change)."""
    gross, net = strategy_returns(track["position"].to_numpy(), track["fwd_return"].to_numpy(), cost_bps)
    _, bh_net = strategy_returns(np.ones(len(track)), track["fwd_return"].to_numpy(), cost_bps)
    return track.assign(
        strategy_gross=gross, strategy_net=net, buy_and_hold=track["fwd_return"], buy_and_hold_net=bh_net
    )


def chosen_trial(trialset: TrialSet, choice: Choice) -> dict[str, Any]:
    """The final choice as the ``best`` artifact: its trials-table row plus its filter columns."""
    row = trialset.trials.iloc[choice.trial_id].to_dict()
    return {
        **row,
        "filter_columns": filter_columns(str(row["filter"])),
        "selection_score": choice.score,
        "eligible_trials": choice.n_eligible,
    }


def chosen_strategy(trialset: TrialSet, choice: Choice, context: TradeContext) -> Strategy:
    """The final choice as a :class:`Strategy` (what the bundle stores and every consumer applies)."""
    return context.strategy(trialset.trials.iloc[choice.trial_id].to_dict())
