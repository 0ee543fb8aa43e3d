"""The daily track record: one prediction per (date, symbol) in the lake's ``predictions`` table.

The first prediction of a day is kept (never rewritten, even by a newer model); its outcome is filled
once the data holds the day's label; each row stays in the lake file of the run that first predicted
it. A run's writes are staged (:mod:`spylib.storage.staging`) and published by its ``end`` step as a
cumulative run (every PredictFlow run's rows stay visible beside the others). The reasons, and how the
rows coexist with the training flow's, are in ``README.md`` here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import pandas as pd

from spylib.core.errors import DataValidationError
from spylib.core.schema import PREDICTION_COLUMNS
from spylib.modelling.models import apply_bundle
from spylib.modelling.strategy import ModelBundle

log = logging.getLogger(__name__)

DAILY_SEGMENT = "daily"
REPLAY_SEGMENT = "replay"
OUTCOME_COLUMNS = ("target_up", "fwd_return")
RUN_ID = "run_id"
SOURCE = "source_fingerprint"


class ScoringModel(Protocol):
    """What scoring needs of a deployed model: its bundle and its ``<group>/v<version>`` label."""

    @property
    def bundle(self) -> ModelBundle | dict[str, Any]: ...

    @property
    def model_version(self) -> str: ...


@dataclass(frozen=True)
class TrackRecordMerge:
    """The track record after a run (``track``) and its rows that changed and must be written."""

    track: pd.DataFrame
    changed: pd.DataFrame


@dataclass(frozen=True)
class TrackRecordUpdate:
    """The merged track record, the rows that changed, and the lake files that were (re)written."""

    track: pd.DataFrame
    changed: pd.DataFrame
    files: list[str]


def predict_day(model: ScoringModel, features: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One daily row (``PREDICTION_COLUMNS``) for ``as_of``: probability, signal and position (the
    registered strategy applied, :func:`spylib.modelling.models.apply_bundle`), no outcome yet."""
    row = features[features["date"] == as_of]
    if len(row) != 1:
        raise DataValidationError(
            f"{len(row)} feature rows for the as-of day", source="features", date=str(as_of)
        )
    scored = apply_bundle(model.bundle, row)
    return pd.DataFrame(
        {
            "date": [as_of],
            "symbol": [str(row["symbol"].iloc[0])],
            "segment": [DAILY_SEGMENT],
            "probability": scored.probability.astype("float64"),
            "signal": scored.signal.astype("int8"),
            "position": scored.position.astype("float64"),
            "target_up": pd.array([pd.NA], dtype="Int8"),
            "fwd_return": [math.nan],
            "model_version": [model.model_version],
        }
    )[list(PREDICTION_COLUMNS)]


def realized_outcomes(features: pd.DataFrame) -> pd.DataFrame:
    """``date, target_up, fwd_return`` of the days whose label the data already holds."""
    known = features[features["target_up"].notna()]
    return known[["date", *OUTCOME_COLUMNS]].reset_index(drop=True)


def read_daily_rows(lake_root: str, symbol: str) -> pd.DataFrame:
    """The daily track record of ``symbol`` in the lake (``PREDICTION_COLUMNS`` + ``run_id``), by date."""
    from spylib.storage.lake import read_table

    # Every run's daily rows (not only the published runs' views): the track record is cumulative and
    # one row per day by construction, and rows written before runs were recorded stay in it.
    daily = [("symbol", "=", symbol), ("segment", "=", DAILY_SEGMENT)]
    frame = read_table("predictions", lake_root, daily, runs="all")
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame.sort_values("date").reset_index(drop=True)


def merge_daily_rows(
    existing: pd.DataFrame,
    new: pd.DataFrame,
    outcomes: pd.DataFrame,
    run_id: str,
    source_fingerprint: str | None = None,
) -> TrackRecordMerge:
    """The track record after today's run, and the rows that changed (to write).

    ``existing``: the daily rows in the lake (with ``run_id``); ``new``: today's row(s), made by run
    ``run_id``; ``outcomes``: known labels by date. A date already present keeps its first prediction
    and its ``run_id``; null outcomes are filled from ``outcomes``; recorded outcomes are kept (a
    differing value is logged). Both frames have ``PREDICTION_COLUMNS`` + ``run_id`` +
    ``source_fingerprint`` (today's rows get ``source_fingerprint``, the data fingerprint of the run's
    inputs), one row per (date, symbol), sorted by date.
    """
    columns = [*PREDICTION_COLUMNS, RUN_ID, SOURCE]
    old = existing.reindex(columns=columns).copy() if len(existing) else pd.DataFrame(columns=columns)
    if old.duplicated(["date", "symbol"]).any():
        dup = old[old.duplicated(["date", "symbol"])].iloc[0]
        raise DataValidationError("two daily rows for one day in the lake", source="lake table 'predictions'",
                                  date=str(dup["date"]), column="date")  # fmt: skip
    old_keys = set(zip(old["date"], old["symbol"], strict=True))
    is_new = [(d, s) not in old_keys for d, s in zip(new["date"], new["symbol"], strict=True)]
    fresh = new.loc[is_new, list(PREDICTION_COLUMNS)].assign(
        **{RUN_ID: str(run_id), SOURCE: source_fingerprint}
    )
    track = pd.concat([old, fresh], ignore_index=True) if len(old) else fresh.reset_index(drop=True)
    track["target_up"] = track["target_up"].astype("Int8")
    track["fwd_return"] = track["fwd_return"].astype("float64")
    known = outcomes.set_index("date")
    changed = set(fresh["date"])
    for i, day in enumerate(track["date"]):
        if day not in known.index:
            continue
        label, ret = known.at[day, "target_up"], float(known.at[day, "fwd_return"])
        if pd.isna(track.at[i, "target_up"]):
            track.at[i, "target_up"] = int(label)
            track.at[i, "fwd_return"] = ret
            changed.add(day)
        elif not math.isclose(float(track.at[i, "fwd_return"]), ret, rel_tol=1e-9, abs_tol=1e-12):
            log.warning("%s: recorded fwd_return %s differs from today's data (%s); kept the recorded one",
                        day, track.at[i, "fwd_return"], ret)  # fmt: skip
    track = track.sort_values("date").reset_index(drop=True)
    return TrackRecordMerge(track=track, changed=track[track["date"].isin(changed)].reset_index(drop=True))


def write_daily_rows(track: pd.DataFrame, changed: pd.DataFrame, lake_root: str, run_id: str) -> list[str]:
    """Stage, in run ``run_id``'s staging, the lake file of every run that owns a changed row (see
    ``README.md``); return the URIs the files have once the run is published.

    A run's file gets all the track-record rows that run first predicted, so rewriting it never drops
    a row; publishing the run replaces each file whole (no duplicate, training files untouched). Until
    then, readers see the track record as it was.
    """
    from spylib.storage.staging import stage_table

    files: list[str] = []
    for owner in sorted(set(changed[RUN_ID].astype(str))):
        rows = track[track[RUN_ID].astype(str) == owner]
        sources = rows[SOURCE].dropna() if SOURCE in rows else pd.Series(dtype=object)
        source = str(sources.iloc[0]) if len(sources) else None
        files += stage_table(
            rows[list(PREDICTION_COLUMNS)], "predictions", lake_root, str(run_id), owner=owner,
            source_fingerprint=source,
        )  # fmt: skip
    return sorted(files)


def update_track_record(
    lake_root: str,
    symbol: str,
    new: pd.DataFrame,
    outcomes: pd.DataFrame,
    run_id: str,
    source_fingerprint: str | None = None,
) -> TrackRecordUpdate:
    """Read ``symbol``'s daily rows, merge ``new`` (made by run ``run_id`` from data with
    ``source_fingerprint``) and the known ``outcomes`` in, and stage what changed (see
    :func:`merge_daily_rows` and :func:`write_daily_rows`; published by :func:`publish_daily_rows`)."""
    merged = merge_daily_rows(read_daily_rows(lake_root, symbol), new, outcomes, run_id, source_fingerprint)
    files = write_daily_rows(merged.track, merged.changed, lake_root, run_id)
    return TrackRecordUpdate(track=merged.track, changed=merged.changed, files=files)


def publish_daily_rows(lake_root: str, run_id: str, source_fingerprint: str | None) -> dict[str, Any]:
    """Publish what run ``run_id`` staged (a cumulative run of its source: the earlier runs' daily rows
    stay visible); a run that staged nothing is left unrecorded. Returns the publication."""
    from spylib.storage.staging import publish_run, staged_files

    if not staged_files(lake_root, run_id):
        return {"run_id": run_id, "files": [], "moved": 0, "already_published": False}
    return publish_run(lake_root, run_id, source_fingerprint=source_fingerprint, cumulative=True).to_dict()


def monitoring_predictions(
    track: pd.DataFrame,
    model: ScoringModel,
    features: pd.DataFrame,
    replay_days: int = 0,
    as_of: date | None = None,
) -> pd.DataFrame:
    """The predictions monitoring looks at: ``replay_days`` replayed days before the track record, then
    the track record up to ``as_of`` (a replay of an earlier day must not see later predictions made
    by other runs; see ``README.md``). Outcome columns as float (nan = unknown)."""
    columns = list(PREDICTION_COLUMNS)
    if as_of is not None and len(track):
        track = track[track["date"] <= as_of]
    parts = []
    if replay_days > 0:
        first = min(track["date"]) if len(track) else features["date"].iloc[-1]
        before = features[(features["date"] < first) & features["target_up"].notna()].tail(replay_days)
        if len(before):
            scored = apply_bundle(model.bundle, before)
            parts.append(pd.DataFrame({
                "date": before["date"].to_numpy(), "symbol": before["symbol"].to_numpy(),
                "segment": REPLAY_SEGMENT, "probability": scored.probability, "signal": scored.signal,
                "position": scored.position,
                "target_up": before["target_up"].astype("float64").to_numpy(),
                "fwd_return": before["fwd_return"].to_numpy("float64"), "model_version": model.model_version,
            }))  # fmt: skip
    if len(track):
        parts.append(track[columns])
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True)
    frame["target_up"] = frame["target_up"].astype("float64")
    frame["fwd_return"] = frame["fwd_return"].astype("float64")
    return frame.sort_values("date").reset_index(drop=True)
