"""Turn card items (:mod:`spylib.reporting.evaluation_card`, :mod:`spylib.monitoring.card`) into Metaflow card
components. The only Metaflow import in spylib, done lazily so the library stays usable without a flow.

What each kind becomes, and why (checked in the rendered card, Metaflow 2.19):

* ``banner`` -> ``ValueBox`` with theme success / warning / danger: the one component that shows colour
  (``Markdown`` does not keep inline HTML styles);
* ``markdown`` -> ``Markdown``; ``caption`` -> ``Markdown`` in italics, under its figure;
* ``table`` -> ``Table(data=..., headers=...)``: ``Table.from_dataframe`` truncates long tables to their
  head, clips long strings and shows the index;
* ``figure`` -> ``Image`` of a PNG at :data:`FIGURE_DPI`, sharp at the card's width (the card scales
  images to its column and caps them at 500 px high).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

FIGURE_DPI = 160
THEMES = {"good": "success", "warn": "warning", "bad": "danger"}


def figure_png(figure: Any, dpi: int = FIGURE_DPI) -> bytes:
    """A matplotlib figure as PNG bytes on a white background."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def to_card_components(items: Iterable[tuple[str, Any]]) -> list[Any]:
    """Metaflow card components for ``items``, in order."""
    from metaflow.cards import Image, Markdown, Table, ValueBox

    components: list[Any] = []
    for kind, payload in items:
        if kind == "banner":
            components.append(
                ValueBox(title=payload.title, value=payload.value, subtitle=payload.subtitle or None,
                         theme=THEMES[payload.tone])
            )  # fmt: skip
        elif kind == "markdown":
            components.append(Markdown(payload))
        elif kind == "caption":
            components.append(Markdown(f"*{payload}*"))
        elif kind == "table":
            frame = payload.astype(object).where(payload.notna(), "")
            components.append(
                Table(data=[[str(v) for v in row] for row in frame.to_numpy().tolist()],
                      headers=[str(c) for c in frame.columns])
            )  # fmt: skip
        elif kind == "figure":
            components.append(Image(src=figure_png(payload)))
        else:
            raise ValueError(f"unknown card item kind {kind!r}")
    return components
