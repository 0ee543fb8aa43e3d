"""What the end of a SpyFlow run prints: the verdict in one sentence, a short results table, and where
the card, the predictions, the lake and the registry entry are."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spylib.evaluation.gate import GateDecision
from spylib.evaluation.record import Evidence
from spylib.reporting.verdict import buy_and_hold_clause


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
    """One honest sentence: the verdict, the track against buy-and-hold in the words of the gate's own
    test (never "beats" when it failed), where it was registered."""
    m = evidence
    failed = [c.name for c in gate.checks if not c.passed]
    return (
        f"Gate: {gate.status}{' (failed: ' + ', '.join(failed) + ')' if failed else ''}. "
        f"On the walk-forward track ({m.track_start}..{m.track_end}, {m.years:.1f} years, "
        f"selection included, {m.cost_bps:g} bp per side) the model "
        f"{buy_and_hold_clause(gate, m.to_dict())}, AUC {m.auc:.3f}. "
        f"Registered {registration['group']} v{registration['version']} ({registration['status']}) at "
        f"{registration['location']}."
    )


def client_one_liner(flow: str, run_id: str, artifact: str) -> str:
    """A shell line that reads an artifact with the Client as anyone, root included: Metaflow refuses
    the user root (METAFLOW_USER sets who reads) and looks only in the reader's namespace by default
    (``namespace(None)`` looks in every one)."""
    user = os.environ.get("METAFLOW_USER") or "spyflow"
    return (
        f'METAFLOW_USER={user} python -c "from metaflow import Run, namespace; namespace(None); '
        f"print(Run('{flow}/{run_id}').data.{artifact})\""
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
        f"  {'strategy':<22}{'net Sharpe (ann.)':>18}{'AUC':>8}{'max drawdown':>14}{'exposure':>10}",
    ]
    for name in ("walk_forward_model", "buy_and_hold", "logistic_regression", "momentum_20"):
        if name in rows.index:
            r = rows.loc[name]
            lines.append(
                f"  {name:<22}{fmt(r['sharpe_net']):>18}{fmt(r['auc']):>8}{fmt(r['max_drawdown_net']):>14}"
                f"{fmt(r['exposure']):>10}"
            )
    lines += [
        "",
        f"  card file:   python {flow_file} card get {run_id}/evaluate/{task} card.html --id evaluation",
        f"  card server: python {flow_file} card server  (then open http://localhost:8324)",
        f"  compare:     spy-flow runs; spy-flow compare {run_id} OTHER_RUN",
        f"  predictions: {outputs.prediction_files.get('parquet', '')}",
        f"  lake:        {outputs.lake_root or '(off)'}",
        f"  registry:    {outputs.registration['location']}",
        f"  artifacts:   {client_one_liner('SpyFlow', run_id, 'metrics')}",
    ]
    return "\n".join(lines)
