"""The quality gate: every check with its measured value and requirement; Approved only if all hold.

Each check tests the hypothesis that belongs to its sample (see :mod:`spylib.evaluation.evidence`): the
deflated Sharpe ratio on the out-of-fold selection; on the walk-forward track, the tests against
buy-and-hold and against the volatility-targeted always-long rule (the sweep's own sizing with no
model: the model must add something beyond it), both by the studentized block bootstrap; the track's
activity and its AUC interval. PSR(0), the CSCV probability of an out-of-sample loss and the PBO are
gated only when configured: they ask whether returns are positive, which a long-biased rule with no
model achieves whenever the market rose (a shuffled-labels run passes them on a rising market). NaN
never passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from spylib.core.config import GateConfig
from spylib.core.jsonio import json_float


@dataclass(frozen=True)
class GateCheck:
    name: str
    value: float
    requirement: str
    passed: bool
    label: str = ""  # what the check measures, in words

    @property
    def reason(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"{self.name} {verdict}: {self.value:.4g} (required {self.requirement})"


@dataclass(frozen=True)
class GateDecision:
    status: Literal["Approved", "Rejected"]
    checks: tuple[GateCheck, ...]

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks]

    @property
    def failed(self) -> list[str]:
        return [c.reason for c in self.checks if not c.passed]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> GateDecision:
        """The inverse of :meth:`to_dict` (the ``gate`` artifact is stored as a plain dict)."""
        checks = tuple(
            GateCheck(
                c["name"],
                math.nan if c["value"] is None else float(c["value"]),
                c["requirement"],
                bool(c["passed"]),
                c.get("label", ""),
            )
            for c in raw["checks"]
        )
        return cls(raw["status"], checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": self.reasons,
            "failed": self.failed,
            "checks": [
                {
                    "name": c.name,
                    "label": c.label,
                    "value": json_float(c.value),
                    "requirement": c.requirement,
                    "passed": c.passed,
                }
                for c in self.checks
            ],
        }


def apply_gate(evidence: Mapping[str, Any], gate: GateConfig) -> GateDecision:
    """Approved only if every check holds. ``evidence`` is the ``metrics`` of the run: the selection's
    (``dsr``, ``dsr_effective``, ``prob_oos_loss``, ``pbo``) and the track's figures."""

    def value(key: str) -> float:
        raw = evidence.get(key)
        return math.nan if raw is None else float(raw)

    def check(name: str, label: str, key: str, op: str, bound: float, requirement: str) -> GateCheck:
        v = value(key)
        passed = (
            not math.isnan(v) and {">=": v >= bound, ">": v > bound, "<": v < bound, "<=": v <= bound}[op]
        )
        return GateCheck(name, v, requirement, bool(passed), label)

    dsr_key = "dsr_effective" if gate.dsr_trials == "effective" else "dsr"
    n_key = "n_trials_effective" if gate.dsr_trials == "effective" else "n_trials"
    checks = [
        check(
            "dsr_selection",
            f"deflated Sharpe ratio of the selection over {int(value(n_key))} "
            f"{'effective ' if gate.dsr_trials == 'effective' else ''}trials (out-of-fold)",
            dsr_key,
            ">=",
            gate.min_dsr,
            f">= {gate.min_dsr}",
        ),
    ]
    if gate.min_psr is not None:
        checks.append(
            check(
                "psr_track",
                "probability that the walk-forward track's Sharpe ratio is above 0",
                "psr",
                ">=",
                gate.min_psr,
                f">= {gate.min_psr}",
            )
        )
    bootstrap = "Ledoit-Wolf studentized block bootstrap, one-sided"
    if gate.require_beat_buy_and_hold:
        checks.append(
            check(
                "track_beats_buy_and_hold",
                f"p-value of the track's net Sharpe above buy-and-hold's ({bootstrap})",
                "vs_buy_and_hold_p_value",
                "<=",
                gate.max_difference_p_value,
                f"<= {gate.max_difference_p_value}",
            )
        )
    if gate.require_beat_vol_target:
        checks.append(
            check(
                "track_beats_vol_target_long",
                "p-value of the track's net Sharpe above the volatility-targeted always-long rule's "
                f"(the sweep's sizing with no model; {bootstrap})",
                "vs_vol_target_long_p_value",
                "<=",
                gate.max_difference_p_value,
                f"<= {gate.max_difference_p_value}",
            )
        )
    if gate.max_prob_oos_loss is not None:
        checks.append(
            check(
                "cscv_oos_loss",
                "probability that the sweep's in-sample best trial loses out of sample (CSCV)",
                "prob_oos_loss",
                "<",
                gate.max_prob_oos_loss,
                f"< {gate.max_prob_oos_loss}",
            )
        )
    checks += [
        check(
            "trades_per_year",
            "trades per year on the track",
            "trades_per_year",
            ">=",
            gate.min_trades_per_year,
            f">= {gate.min_trades_per_year:g}",
        ),
        check(
            "exposure",
            "share of track days in the market",
            "exposure",
            ">=",
            gate.min_exposure,
            f">= {gate.min_exposure:g}",
        ),
        check(
            "auc_track_ci_low",
            "lower bound of the track AUC's 95% DeLong interval",
            "auc_ci_low",
            ">",
            gate.min_auc_lower,
            f"> {gate.min_auc_lower}",
        ),
    ]
    if gate.max_pbo is not None:
        checks.append(
            check(
                "pbo",
                "probability of backtest overfitting of the sweep (CSCV)",
                "pbo",
                "<",
                gate.max_pbo,
                f"< {gate.max_pbo}",
            )
        )
    return GateDecision("Approved" if all(c.passed for c in checks) else "Rejected", tuple(checks))
