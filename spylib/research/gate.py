"""The quality gate: every check with its measured value and requirement; Approved only if all hold.
NaN never passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from spylib.core.config import GateConfig
from spylib.core.jsonio import json_float


# ---------------------------------------------------------------------------------------------
# the gate
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateCheck:
    name: str
    value: float
    requirement: str
    passed: bool

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
                    "value": json_float(c.value),
                    "requirement": c.requirement,
                    "passed": c.passed,
                }
                for c in self.checks
            ],
        }


def apply_gate(test: dict[str, float], buy_and_hold_sharpe_net: float, gate: GateConfig) -> GateDecision:
    """Approved only if every check holds; NaN never passes."""

    def ok(cond: bool, value: float) -> bool:
        return bool(cond) and not math.isnan(value)

    checks = [
        GateCheck(
            "dsr_test", test["dsr"], f">= {gate.min_dsr}", ok(test["dsr"] >= gate.min_dsr, test["dsr"])
        ),
        GateCheck(
            "sharpe_net_vs_buy_and_hold",
            test["sharpe_net"] - buy_and_hold_sharpe_net,
            "> 0 (net Sharpe above buy-and-hold's on the same days)"
            if gate.require_beat_buy_and_hold
            else "not required",
            ok(test["sharpe_net"] > buy_and_hold_sharpe_net, test["sharpe_net"])
            or not gate.require_beat_buy_and_hold,
        ),
        GateCheck("pbo", test["pbo"], f"< {gate.max_pbo}", ok(test["pbo"] < gate.max_pbo, test["pbo"])),
        GateCheck(
            "n_trades_test",
            test["n_trades"],
            f">= {gate.min_trades}",
            ok(test["n_trades"] >= gate.min_trades, test["n_trades"]),
        ),
        GateCheck(
            "auc_test_ci_low",
            test["auc_ci_low"],
            f"> {gate.min_auc_lower} (AUC {test['auc']:.3f}, interval lower bound)",
            ok(test["auc_ci_low"] > gate.min_auc_lower, test["auc_ci_low"]),
        ),
    ]
    return GateDecision("Approved" if all(c.passed for c in checks) else "Rejected", tuple(checks))
