"""The :class:`Evidence` value: every figure a run's gate reads and its reports print (the ``metrics``
artifact), as a plain frozen dataclass.

It lives apart from :mod:`spylib.evaluation.evidence`, which computes the figures with scikit-learn and
scipy, so that what only reads them (the flow's ``end`` step, the CLI, an unpickled artifact) imports
no more than this file: the statistics' imports cost a fresh process over a second.
:mod:`spylib.evaluation.evidence` re-exports the class, so artifacts pickled under that name load too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """Every figure the gate reads and the reports print (the run's ``metrics``), by attribute: a
    misspelt name is a type error. :meth:`to_dict` gives the public ``metrics`` artifact (same keys, same
    order, same values). Sharpe-like figures are annualized with ``annualization`` (252) unless their
    name says ``per_period``; ``*_net`` figures are after ``cost_bps`` per side."""

    # classification on the track (the chosen configuration's probability)
    auc: float
    log_loss: float
    brier: float
    accuracy: float
    f1: float
    base_rate: float
    auc_ci_low: float
    auc_ci_high: float
    # trading on the track (see spylib.modelling.trading)
    n_days: float
    n_trades: float
    exposure: float
    mean_position: float
    turnover: float
    hit_rate: float
    break_even_cost_bps: float
    sharpe_gross: float
    sortino_gross: float
    max_drawdown_gross: float
    cagr_gross: float
    calmar_gross: float
    total_return_gross: float
    mean_return_gross: float
    sharpe_net: float
    sortino_net: float
    max_drawdown_net: float
    cagr_net: float
    calmar_net: float
    total_return_net: float
    mean_return_net: float
    years: float
    trades_per_year: float
    buy_and_hold_sharpe_gross: float
    buy_and_hold_sharpe_net: float
    buy_and_hold_cagr_net: float
    buy_and_hold_max_drawdown_net: float
    buy_and_hold_total_return_net: float
    vol_target_long_sharpe_gross: float
    vol_target_long_sharpe_net: float
    vol_target_long_cagr_net: float
    vol_target_long_max_drawdown_net: float
    vol_target_long_total_return_net: float
    track_start: str
    track_end: str
    n_blocks: int
    # inference on the track
    track_sr_per_period: float
    track_skew: float
    track_kurtosis: float
    psr: float
    min_track_record_days: float
    sharpe_ci_low: float
    sharpe_ci_high: float
    vs_buy_and_hold_difference: float
    vs_buy_and_hold_se: float
    vs_buy_and_hold_p_value: float  # the gate's: the studentized block bootstrap
    vs_buy_and_hold_method: str
    vs_buy_and_hold_p_value_memmel: float
    vs_buy_and_hold_correlation: float
    vs_buy_and_hold_p_value_hac: float
    vs_buy_and_hold_block_length: int
    vs_vol_target_long_difference: float
    vs_vol_target_long_se: float
    vs_vol_target_long_p_value: float
    vs_vol_target_long_p_value_hac: float
    vs_vol_target_long_block_length: int
    vs_vol_target_long_method: str
    vs_vol_target_long_correlation: float
    # the selection (out-of-fold)
    oof_sr_per_period: float
    oof_sharpe_net: float
    n_trials: int
    trials_sr_variance: float
    expected_max_sr: float
    dsr: float
    n_trials_effective: int
    n_trials_effective_eigen: float
    trials_sr_variance_effective: float
    dsr_effective: float
    pbo: float
    prob_oos_loss: float
    # conventions of the run
    cost_bps: float
    annualization: int
    selection_metric: str
    # the DSR's N: this run's trials, and the two effective-N estimates (the gate's is the lower DSR)
    n_trials_run: int | None = None
    n_trials_effective_cluster: int | None = None
    dsr_effective_cluster: float | None = None
    dsr_effective_eigen: float | None = None
    dsr_effective_rule: str | None = None  # "clustering" or "eigenvalue": whose DSR the gate reads
    # the seed spread: each seed member of the averaged forests alone (median, min, max over members)
    seed_members: int | None = None
    seed_track_sharpe_net_median: float | None = None
    seed_track_sharpe_net_min: float | None = None
    seed_track_sharpe_net_max: float | None = None
    seed_p_value_median: float | None = None
    seed_p_value_min: float | None = None
    seed_p_value_max: float | None = None
    # the choices' stability under a relative price error (selection redone on perturbed returns)
    stability_relative_price_noise: float | None = None
    stability_replications: int | None = None
    choice_change_rate: float | None = None
    final_choice_change_rate: float | None = None
    median_indistinguishable_trials: float | None = None
    # set by the training stage (not known to :func:`assess`); left out of :meth:`to_dict` while None
    ledger_n_trials: int | None = None
    ledger_run_trials: int | None = None
    ledger_entries: int | None = None
    ledger_location: str | None = None
    execution: str | None = None
    shuffle_labels: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The public ``metrics`` artifact: every figure under its field's name, in declaration order
        (an optional figure that was not computed, None, is left out)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(self):
            if f.default is None and out[f.name] is None:
                del out[f.name]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Evidence:
        """The inverse of :meth:`to_dict` (a run's ``metrics`` artifact, a registered version's metrics);
        keys that are not figures (e.g. the registry's ``champion_comparison``) are ignored. A missing
        figure raises ``KeyError`` naming it."""
        names = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in raw]
        if missing:
            raise KeyError(f"metrics lack {', '.join(missing)}")
        return cls(**{k: v for k, v in raw.items() if k in names})

    def baseline_figures(self, columns: Iterable[str]) -> dict[str, Any]:
        """The figures named in ``columns`` (the baselines table's columns), in this evidence's order."""
        wanted = set(columns)
        return {k: v for k, v in self.to_dict().items() if k in wanted}
