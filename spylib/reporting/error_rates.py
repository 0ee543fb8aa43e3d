"""The card's sentence on the gate's measured error rates: per market family, the false approvals and
the minimum detectable edge of the simulated setting nearest to the run's own number of trials and
track length (``tests/bench/bench_gate_nulls.py`` writes the table;
:func:`spylib.stats.power.run_error_rates` looks it up)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spylib.reporting.format import count, fmt, pct

_FAMILY_NAMES = {
    "garch": "GJR-GARCH-t",
    "regimes": "calm/turbulent regimes with crashes",
    "bootstrap": "block bootstrap of the index",
    "gaussian": "Gaussian",
}


def error_rates_sentence(rates: Sequence[Mapping[str, Any]]) -> str:
    """The measured rates of the settings nearest to this run, one clause per market family."""

    def setting(r: Mapping[str, Any]) -> str:
        return f"{_FAMILY_NAMES.get(r['family'], r['family'])}, {count(r['trials'])} trials, {count(r['track_days'])} days"

    nulls = "; ".join(
        f"{setting(r)}: {count(r['approved'])} of {count(r['replications'])} ({pct(r['rate'])}, 95% interval "
        f"{pct(r['ci_low'])} to {pct(r['ci_high'])})"
        for r in rates
    )
    power = "; ".join(
        f"{_FAMILY_NAMES.get(r['family'], r['family'])}: "
        + (
            f"E = {fmt(r['min_detectable_edge'], 2)} (ideal Sharpe {fmt(r['min_detectable_sharpe'])})"
            if r["min_detectable_edge"] is not None
            else "above the largest edge simulated"
            if r["power_replications"] >= 10
            else "not measured (too few replications)"
        )
        for r in rates
    )
    return (
        " The whole selection and gate, run on simulated markets with no edge (the measured settings "
        f"nearest to this run's), approved: {nulls}. The smallest planted edge approved 80% of the time: "
        f"{power}."
    )
