"""The verdict in words: what the track did against buy-and-hold, phrased by the gate's own test.

Shared by the evaluation card and the line the flow prints at the end of a run; kept apart from the
card (matplotlib, the diagnostics) so the ``end`` step imports only this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from spylib.evaluation.gate import BEAT_BUY_AND_HOLD, GateDecision
from spylib.reporting.format import fmt


def buy_and_hold_clause(gate: GateDecision, metrics: Mapping[str, Any]) -> str:
    """What the track did against buy-and-hold, in words that follow the gate's own test: "beats" only
    when the gate's test passed (or, without that check, never more than "has a higher Sharpe ratio")."""
    m = metrics
    figures = (
        f"net Sharpe ratio {fmt(m.get('sharpe_net'))} against {fmt(m.get('buy_and_hold_sharpe_net'))}, "
        f"annualized; one-sided p = {fmt(m.get('vs_buy_and_hold_p_value'))}"
    )
    check = next((c for c in gate.checks if c.name == BEAT_BUY_AND_HOLD), None)
    higher = float(m.get("sharpe_net", math.nan)) > float(m.get("buy_and_hold_sharpe_net", math.nan))
    if check is not None and check.passed:
        return f"beats buy-and-hold after costs ({figures}; the gate's test passes)"
    if higher and check is not None:
        return (
            f"has a higher net Sharpe ratio than buy-and-hold but does not beat it significantly ({figures}; "
            f"the gate needs p {check.requirement})"
        )
    if higher:
        return f"has a higher net Sharpe ratio than buy-and-hold, not tested by this gate ({figures})"
    return f"does NOT beat buy-and-hold after costs ({figures})"
