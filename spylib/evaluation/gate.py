"""The quality gate: every check with its measured value and requirement; Approved only if all hold.

Each check tests the hypothesis that belongs to its sample (see :mod:`spylib.evaluation.evidence`): the
deflated Sharpe ratio on the out-of-fold selection; on the walk-forward track, the tests against
buy-and-hold and against the volatility-targeted always-long rule (the sweep's own sizing with no
model: the model must add something beyond it), both by the studentized block bootstrap; the track's
activity and its AUC interval. PSR(0), the CSCV probability of an out-of-sample loss and the PBO are
gated only when configured: the first two ask whether returns are positive, which a long-biased rule
with no model achieves whenever the market rose (buy-and-hold passes PSR(0) on the default track, and
a shuffled-labels run scores like the real one on both). NaN never passes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from spylib.core.config import GateConfig
from spylib.core.jsonio import json_float

if TYPE_CHECKING:
    from spylib.evaluation.record import Evidence


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


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<": operator.lt,
    "<=": operator.le,
}
# One check: (name, what it measures in words, the measured value, operator, bound, the bound as shown).
CheckRow = tuple[str, str, float | None, str, float, str]


def evaluate_check(name: str, label: str, raw: float | None, op: str, bound: float, shown: str) -> GateCheck:
    """A check holds when ``value op bound``; NaN (or a missing value) never passes."""
    value = math.nan if raw is None else float(raw)
    passed = not math.isnan(value) and _OPERATORS[op](value, bound)
    return GateCheck(name, value, f"{op} {shown}", bool(passed), label)


# The check the verdict's wording follows (spylib.reporting.verdict): "beats buy-and-hold" only when it passed.
BEAT_BUY_AND_HOLD = "track_beats_buy_and_hold"


def apply_gate(evidence: Evidence, gate: GateConfig) -> GateDecision:
    """Approved only if every check holds, on the run's evidence: the selection's figures (``dsr``,
    ``dsr_effective``, ``prob_oos_loss``, ``pbo``) and the track's."""
    effective = gate.dsr_trials == "effective"
    n_trials = evidence.n_trials_effective if effective else evidence.n_trials
    dsr_label = (
        f"deflated Sharpe ratio of the selection over {int(n_trials)} "
        f"{'effective ' if effective else ''}trials (out-of-fold)"
    )
    dsr = evidence.dsr_effective if effective else evidence.dsr
    rows: list[CheckRow] = [("dsr_selection", dsr_label, dsr, ">=", gate.min_dsr, f"{gate.min_dsr}")]
    if gate.min_psr is not None:
        rows.append(("psr_track", "probability that the walk-forward track's Sharpe ratio is above 0",
                     evidence.psr, ">=", gate.min_psr, f"{gate.min_psr}"))  # fmt: skip
    bootstrap = "Ledoit-Wolf studentized block bootstrap, one-sided"
    if gate.require_beat_buy_and_hold:
        rows.append((BEAT_BUY_AND_HOLD,
                     f"p-value of the track's net Sharpe above buy-and-hold's ({bootstrap})",
                     evidence.vs_buy_and_hold_p_value, "<=", gate.max_difference_p_value,
                     f"{gate.max_difference_p_value}"))  # fmt: skip
    if gate.require_beat_vol_target:
        rows.append(("track_beats_vol_target_long",
                     "p-value of the track's net Sharpe above the volatility-targeted always-long rule's "
                     f"(the sweep's sizing with no model; {bootstrap})",
                     evidence.vs_vol_target_long_p_value, "<=", gate.max_difference_p_value,
                     f"{gate.max_difference_p_value}"))  # fmt: skip
    if gate.max_prob_oos_loss is not None:
        rows.append(("cscv_oos_loss",
                     "probability that the sweep's in-sample best trial loses out of sample (CSCV)",
                     evidence.prob_oos_loss, "<", gate.max_prob_oos_loss,
                     f"{gate.max_prob_oos_loss}"))  # fmt: skip
    rows += [
        ("trades_per_year", "trades per year on the track", evidence.trades_per_year, ">=",
         gate.min_trades_per_year, f"{gate.min_trades_per_year:g}"),
        ("exposure", "share of track days in the market", evidence.exposure, ">=", gate.min_exposure,
         f"{gate.min_exposure:g}"),
        ("auc_track_ci_low", "lower bound of the track AUC's 95% DeLong interval", evidence.auc_ci_low, ">",
         gate.min_auc_lower, f"{gate.min_auc_lower}"),
    ]  # fmt: skip
    if gate.max_pbo is not None:
        rows.append(("pbo", "probability of backtest overfitting of the sweep (CSCV)", evidence.pbo, "<",
                     gate.max_pbo, f"{gate.max_pbo}"))  # fmt: skip
    checks = tuple(evaluate_check(*row) for row in rows)
    return GateDecision("Approved" if all(c.passed for c in checks) else "Rejected", checks)
