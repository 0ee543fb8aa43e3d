"""ingest: load, validate and align the symbol and its benchmark; stage the prices in the lake."""

from __future__ import annotations

from spylib.data.sources import data_note, ingest, require_history
from spylib.features.table import WARMUP_ROWS
from spylib.reporting.format import plain_text
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import IngestResult
from spylib.stages.training.publish import stage_step_table
from spylib.stages.training.split import check_walk_forward


def run_ingest(settings: TrainingSettings, run_id: str) -> IngestResult:
    """Load, validate and align the data, then check, before anything is written, that the walk-forward
    can be cut from it (the same rules as ``split``: ``min_train_days``, the blocks, the holdout)."""
    data, plan = settings.data, settings.plan
    market = ingest(data.source, data.symbol, data.benchmark, checks=data.checks)
    wf = plan.sweep.walk_forward
    blocks = wf.min_selection_blocks + 1
    require_history(
        len(market.prices) // 2,
        WARMUP_ROWS
        + wf.min_train_days
        + wf.embargo_days
        + plan.label_horizon
        + blocks * 21 * wf.block_months,
        market.symbol.source,
        f"{WARMUP_ROWS} warm-up rows, {wf.min_train_days} training days, an embargo of {wf.embargo_days} and "
        f"{blocks} blocks of {wf.block_months} months",
        span=(market.prices["date"].min(), market.prices["date"].max()),
    )
    check_walk_forward(market.prices, data.symbol, plan, data.checks.stale_open_tolerance)
    provenance = market.provenance()
    print(plain_text(data_note(provenance)))
    lake_files = stage_step_table(
        "ingest", market.prices, settings.outputs, run_id, {}, source_fingerprint=market.fingerprint
    )
    return IngestResult(market.prices, provenance, lake_files)
