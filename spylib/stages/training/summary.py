"""What the end of a SpyFlow run prints: the verdict in one sentence, a short results table, and where
the card, the predictions, the lake and the registry entry are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def summary_line(gate: Mapping[str, Any], metrics: Mapping[str, Any], registration: Mapping[str, Any]) -> str:
    """One honest sentence: the verdict, the track against buy-and-hold, where it was registered."""
    beats = metrics["sharpe_net"] > metrics["buy_and_hold_sharpe_net"]
    verdict = "beats" if beats else "does NOT beat"
    failed = [c["name"] for c in gate["checks"] if not c["passed"]]
    return (
        f"Gate: {gate['status']}{' (failed: ' + ', '.join(failed) + ')' if failed else ''}. "
        f"On the walk-forward track ({metrics['track_start']}..{metrics['track_end']}, {metrics['years']:.1f} years, "
        f"selection included) the model {verdict} buy-and-hold after costs: net Sharpe {metrics['sharpe_net']:.2f} "
        f"against {metrics['buy_and_hold_sharpe_net']:.2f} ({metrics['cost_bps']:g} bp per side; difference "
        f"p = {metrics['vs_buy_and_hold_p_value']:.2f}), AUC {metrics['auc']:.3f}. Registered {registration['group']} "
        f"v{registration['version']} ({registration['status']}) at {registration['location']}."
    )


def run_summary(
    *,
    flow_file: str,
    run_id: str,
    evaluate_task: str,
    gate: Mapping[str, Any],
    metrics: Mapping[str, Any],
    baselines: pd.DataFrame,
    registration: Mapping[str, Any],
    prediction_files: Mapping[str, str],
    lake_root: str,
) -> str:
    """What the end of a run prints: the verdict, a short table, and where everything is."""
    from spylib.reporting.format import fmt

    rows = baselines.set_index("strategy")
    lines = [
        f"SpyFlow run {run_id} finished.",
        summary_line(gate, metrics, registration),
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
        f"  card:        python {flow_file} card view {run_id}/evaluate/{evaluate_task} --id evaluation",
        f"  card file:   python {flow_file} card get {run_id}/evaluate/{evaluate_task} card.html --id evaluation",
        f"  predictions: {prediction_files.get('parquet', '')}",
        f"  lake:        {lake_root or '(off)'}",
        f"  registry:    {registration['location']}",
        f"  artifacts:   from metaflow import Run; Run('SpyFlow/{run_id}').data.metrics",
    ]
    return "\n".join(lines)
