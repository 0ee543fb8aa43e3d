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
            # Table(data=...) rather than Table.from_dataframe: that one truncates long tables to their
            # head and clips long strings by default; and it would show the index as a column.
            frame = payload.astype(object).where(payload.notna(), "")
            components.append(
                Table(data=[[str(v) for v in row] for row in frame.to_numpy().tolist()],
                      headers=[str(c) for c in frame.columns])
            )  # fmt: skip
        elif kind == "figure":
            components.append(Image.from_matplotlib(payload))
        else:
            raise ValueError(f"unknown card item kind {kind!r}")
    return components
