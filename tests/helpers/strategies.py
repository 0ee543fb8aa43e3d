"""A :class:`Strategy` for tests that fit a model by hand (the flow gets its own from the selection)."""

from __future__ import annotations

from collections.abc import Sequence

from spylib.modelling.strategy import ModelReference, RegimeFilter, Sizing, Strategy


def strategy_for(
    features: Sequence[str],
    threshold: float = 0.5,
    filters: Sequence[str] = (),
    *,
    sizing: str = "long_flat",
    target_volatility: float = 0.15,
    cost_bps: float = 1.0,
    symbol: str = "SPY",
) -> Strategy:
    return Strategy(
        symbol=symbol,
        feature_columns=tuple(features),
        model=ModelReference("logistic_test", "logistic", {}),
        threshold=threshold,
        regime_filter=RegimeFilter(tuple(filters)),
        sizing=Sizing(sizing, target_volatility),
        execution="close_to_close",
        cost_bps=cost_bps,
    )
