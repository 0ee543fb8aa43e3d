"""What the end of a SpyFlow run prints: the verdict in one sentence, a short results table, and where
the card, the predictions, the lake and the registry entry are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spylib.evaluation.evidence import Evidence
from spylib.evaluation.gate import GateDecision


@dataclass(frozen=True)
class RunOutputs:
    """Where a finished run's outputs are: the flow file and run, the evaluate task (its card), the
    prediction files, the lake root ('' = off) and the registration."""

    flow_file: str
    run_id: str
    evaluate_task: str
    prediction_files: Mapping[str, str]
    lake_root: str
    registration: Mapping[str, Any]


def summary_line(gate: GateDecision, evidence: Evidence, registration: Mapping[str, Any]) -> str:
    """One honest sentence: the verdict, the track against buy-and-hold, where it was registered."""
    m = evidence
    verdict = "beats" if m.sharpe_net > m.buy_and_hold_sharpe_net else "does NOT beat"
    failed = [c.name for c in gate.checks if not c.passed]
    return (
        f"Gate: {gate.status}{' (failed: ' + ', '.join(failed) + ')' if failed else ''}. "
        f"On the walk-forward track ({m.track_start}..{m.track_end}, {m.years:.1f} years, "
        f"selection included) the model {verdict} buy-and-hold after costs: net Sharpe {m.sharpe_net:.2f} "
        f"against {m.buy_and_hold_sharpe_net:.2f} ({m.cost_bps:g} bp per side; difference "
        f"p = {m.vs_buy_and_hold_p_value:.2f}), AUC {m.auc:.3f}. Registered {registration['group']} "
        f"v{registration['version']} ({registration['status']}) at {registration['location']}."
    )


def run_summary(gate: GateDecision, evidence: Evidence, baselines: pd.DataFrame, outputs: RunOutputs) -> str:
    """What the end of a run prints: the verdict, a short table, and where everything is."""
    from spylib.reporting.format import fmt

    rows = baselines.set_index("strategy")
    run_id, flow_file, task = outputs.run_id, outputs.flow_file, outputs.evaluate_task
    lines = [
        f"SpyFlow run {run_id} finished.",
        summary_line(gate, evidence, outputs.registration),
        "",
        f"  {'strategy':<22}{'net Sharpe':>11}{'AUC':>8}{'max drawdown':>14}{'exposure':>10}",
    ]
    for name in ("walk_forward_model", "buy_and_hold", "logistic_regression", "momentum_20"):
        if name in rows.index:
            r = rows.loc[name]
            lines.append(
                f"  {name:<22}{fmt(r['sharpe_net']):>11}{fmt(r['auc']):>8}{fmt(r['max_drawdown_net']):>14}"
                f"{fmt(r['exposure']):>10}"
            )
    lines += [
        "",
        f"  card:        python {flow_file} card view {run_id}/evaluate/{task} --id evaluation",
        f"  card file:   python {flow_file} card get {run_id}/evaluate/{task} card.html --id evaluation",
        f"  predictions: {outputs.prediction_files.get('parquet', '')}",
        f"  lake:        {outputs.lake_root or '(off)'}",
        f"  registry:    {outputs.registration['location']}",
        f"  artifacts:   from metaflow import Run; Run('SpyFlow/{run_id}').data.metrics",
    ]
    return "\n".join(lines)
