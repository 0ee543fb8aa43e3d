"""ingest: see spylib.stages.training.evaluate."""

from __future__ import annotations

from spylib.data.sources import data_note, ingest, require_history
from spylib.features.table import (
    WARMUP_ROWS,
)
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import Ingested
from spylib.stages.training.evaluate import plain_text
from spylib.stages.training.features import check_walk_forward


def run_ingest(settings: TrainingSettings) -> Ingested:
    """Load, validate and align the data, then check, before anything is written, that the walk-forward
    can be cut from it (the same rules as ``split``: ``min_train_days``, the blocks, the holdout)."""
    market = ingest(settings.source, settings.symbol, settings.benchmark, checks=settings.data_checks)
    wf = settings.sweep.walk_forward
    blocks = wf.min_selection_blocks + 1
    require_history(
        len(market.prices) // 2,
        WARMUP_ROWS
        + wf.min_train_days
        + wf.embargo_days
        + settings.label_horizon
        + blocks * 21 * wf.block_months,
        market.symbol.source,
        f"{WARMUP_ROWS} warm-up rows, {wf.min_train_days} training days, an embargo of {wf.embargo_days} and "
        f"{blocks} blocks of {wf.block_months} months",
        span=(market.prices["date"].min(), market.prices["date"].max()),
    )
    check_walk_forward(market.prices, settings)
    provenance = market.provenance()
    print(plain_text(data_note(provenance)))
    return Ingested(market.prices, provenance)
