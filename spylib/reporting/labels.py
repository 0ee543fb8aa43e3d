"""Short names for the sweep's configurations (``random_forest 2``), shared by the train log, the
evaluation card and the CLI. Plain text only: the train step's process labels its log lines with it
before it starts its pool, without the card's imports (matplotlib, the statistics)."""

from __future__ import annotations

import re
from collections.abc import Iterable

CONFIG_ID = re.compile(r"^(?P<family>[^(]+)\((?P<params>.*)\)$")


def config_labels(config_ids: Iterable[str]) -> dict[str, str]:
    """Short names for configuration ids: the family alone when it has one configuration, else the
    family and a number (``random_forest 2``), numbered in natural id order (numbers compared as
    numbers: ``min_samples_leaf=50`` before ``=200``, as a sweep file usually lists them). The train
    log, the card and the CLI all name configurations this way."""
    ids = sorted(set(config_ids), key=natural_key)
    families: dict[str, list[str]] = {}
    for cid in ids:
        families.setdefault(config_family(cid), []).append(cid)
    labels = {}
    for family, members in families.items():
        for i, cid in enumerate(members, start=1):
            labels[cid] = family if len(members) == 1 else f"{family} {i}"
    return labels


def natural_key(text: str) -> tuple[tuple[int, float, str], ...]:
    """Sort key comparing the numbers inside a string as numbers."""
    parts = re.split(r"(\d+(?:\.\d+)?)", text)
    return tuple((1, float(p), "") if i % 2 else (0, 0.0, p) for i, p in enumerate(parts) if p)


def config_family(config_id: str) -> str:
    """The model family of a configuration id (``random_forest(...)`` -> ``random_forest``)."""
    match = CONFIG_ID.match(config_id)
    return match["family"] if match else config_id


def config_parameters(config_id: str) -> str:
    """The hyperparameters of a configuration id, comma-and-space separated (so a cell can wrap)."""
    match = CONFIG_ID.match(config_id)
    return match["params"].replace(",", ", ") if match else config_id
