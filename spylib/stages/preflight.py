"""Checks ``start`` runs so that a run fails before any work, not after it: the documented minimums of
the sweep, and the registry opened the way ``register`` will open it."""

from __future__ import annotations

from spylib.core.config import SweepConfig
from spylib.core.errors import ConfigError


def check_embargo(sweep: SweepConfig, source: str = "config 'sweep'") -> None:
    """The documented minimum: the embargo spans at least the longest feature window, so no feature of
    a predicted block's first day reaches back into the rows its fit trained on."""
    from spylib.features.table import LONGEST_WINDOW

    embargo = sweep.walk_forward.embargo_days
    if embargo < LONGEST_WINDOW:
        raise ConfigError(
            f"must be at least the longest feature window ({LONGEST_WINDOW} days), got {embargo}",
            source=source,
            key="walk_forward.embargo_days",
        )


def check_registry_readable(kind: str, location: str, group: str, image_uri: str = "") -> None:
    """Open the registry the way ``register`` will: list the model group and read every version's
    manifest (``register`` reads them all to find this run's version). A corrupt old version stops the
    run here, naming the file, instead of after training."""
    from spylib.registry import open_registry

    open_registry(kind, location, image_uri=image_uri or None).list_versions(group)
