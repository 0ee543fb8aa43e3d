"""The card's paragraph on what the verdict does not hinge on: the seed spread, the choices' stability
under a price error and the trials counted (the DSR's N and its two effective estimates)."""

from __future__ import annotations

from spylib.evaluation.record import Evidence
from spylib.reporting.format import count, fmt


def _two(value: float | None) -> str:
    """A Sharpe ratio or a p-value at the card's two decimals (``fmt`` for a missing one)."""
    return fmt(value) if value is None else f"{value:.2f}"


def robustness_markdown(m: Evidence) -> str:
    """Seeds, stable choices and trials counted: what the verdict does not hinge on (or does)."""
    lines = ["**What does not hinge on a draw.**"]
    if (m.seed_members or 1) > 1 and m.seed_track_sharpe_net_median is not None:
        lines.append(
            f"Seeds: each forest averages {m.seed_members} independently seeded forests. Each of them alone "
            f"(a single-seed run) gives a track net Sharpe of {_two(m.seed_track_sharpe_net_median)} (median; "
            f"range {_two(m.seed_track_sharpe_net_min)} to {_two(m.seed_track_sharpe_net_max)}) and p = "
            f"{_two(m.seed_p_value_median)} against buy-and-hold (range {_two(m.seed_p_value_min)} to "
            f"{_two(m.seed_p_value_max)}); the averaged run varies less "
            "(independent seeds of whole runs: tests/bench/bench_seeds.py)."
        )
    if m.choice_change_rate is not None:
        noise = f"{m.stability_relative_price_noise:.0e}".replace("e-0", "e-")  # 1e-6, not 1e-06
        lines.append(
            f"Stable choices: the selection redone on out-of-fold returns carrying a "
            f"+-{noise} relative price error ({count(m.stability_replications)} "
            f"replications, the models not refitted) changes {m.choice_change_rate:.0%} of the refits' choices "
            f"and the final one in {m.final_choice_change_rate or 0:.0%} of replications; a median of "
            f"{count(m.median_indistinguishable_trials)} trials per refit are within one standard error of the "
            "best, and the previous choice is kept among them. Models refitted on such prices move their "
            "probabilities and change more choices (measured by tests/bench/bench_stability.py)."
        )
    if m.n_trials_effective_cluster is not None:
        ledger = (
            f" ({count(m.n_trials_run)} in this run; the trials ledger counts every trial evaluated on this data)"
            if m.ledger_n_trials is not None
            else ""
        )
        lines.append(
            f"Trials: N = {count(m.n_trials)}{ledger}; effective N {count(m.n_trials_effective_cluster)} by "
            f"clustering, {count(m.n_trials_effective_eigen)} by eigenvalues; the gate uses the "
            f"{m.dsr_effective_rule} estimate (the lower DSR)."
        )
    return "\n\n".join(lines) if len(lines) > 1 else ""
