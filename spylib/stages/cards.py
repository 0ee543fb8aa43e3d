"""Turn :mod:`spylib.research.report` items into Metaflow card components (the only Metaflow import in spylib,
done lazily so the library stays usable without a flow)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def to_card_components(items: Iterable[tuple[str, Any]]) -> list[Any]:
    from metaflow.cards import Image, Markdown, Table

    components: list[Any] = []
    for kind, payload in items:
        if kind == "markdown":
            components.append(Markdown(payload))
        elif kind == "table":
            frame = payload.astype(object).where(payload.notna(), "")
            components.append(
                Table.from_dataframe(frame)
                if hasattr(Table, "from_dataframe")
                else Table(data=frame.to_numpy().tolist(), headers=[str(c) for c in frame.columns])
            )
        elif kind == "figure":
            components.append(Image.from_matplotlib(payload))
        else:
            raise ValueError(f"unknown card item kind {kind!r}")
    return components
