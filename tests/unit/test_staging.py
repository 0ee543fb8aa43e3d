"""Staged lake writes: a run's rows are invisible to every reader until the run is published, and
published exactly once however often it is published again (on S3 against moto:
``tests/aws/test_catalog_sql.py``; whole flow runs killed or failing: ``tests/flow/test_faults.py``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from spylib.core.errors import ConfigError
from spylib.storage.lake import list_lake_files, list_partitions, read_table, write_table
from spylib.storage.sql import query
from spylib.storage.staging import (
    discard_run,
    is_published,
    list_staged_runs,
    publish_run,
    record_uri,
    stage_table,
    staged_files,
)
from spylib.storage.tables import LAKE_TABLES, MERGE_WRITE
from tests.helpers.lake_frames import make_frame

FRAMES = {t: make_frame(t, seed=i) for i, t in enumerate(sorted(LAKE_TABLES))}


def stage_all(root: str, run_id: str) -> dict[str, list[str]]:
    return {t: stage_table(f, t, root, run_id) for t, f in FRAMES.items()}


def visible_rows(root: str) -> dict[str, int]:
    """What every reader sees: read_table, list_lake_files, list_partitions and the DuckDB views."""
    out = {}
    for table in LAKE_TABLES:
        rows = len(read_table(table, root))
        assert (rows == 0) == (not list_lake_files(table, root)), table
        sql = int(query(f"SELECT count(*) AS n FROM {table}", root)["n"].iloc[0])
        assert sql == rows, table
        out[table] = rows
    return out


def test_staged_rows_are_invisible_to_every_reader(tmp_path: Path) -> None:
    root = str(tmp_path)
    write_table(FRAMES["prices"], "prices", root, "1")  # an earlier, published run (written directly)
    uris = stage_all(root, "2")
    assert visible_rows(root) == {"features": 0, "predictions": 0, "prices": len(FRAMES["prices"])}
    assert {f.run_id for f in list_lake_files("prices", root)} == {"1"}
    assert list_partitions("features", root) == []
    assert list_staged_runs(root) == ["2"]
    assert not is_published(root, "2")
    # The URIs returned are where the files will be once published (none exists yet).
    assert uris["prices"] == [str(tmp_path / f"prices/symbol={s}/year={y}/run_id=2.parquet")
                              for s in ("QQQ", "SPY") for y in (2019, 2020)]  # fmt: skip
    assert not any(Path(u).exists() for us in uris.values() for u in us)


def test_publishing_moves_the_files_once_and_again_changes_nothing(tmp_path: Path) -> None:
    root = str(tmp_path)
    uris = stage_all(root, "7")
    first = publish_run(root, "7")
    assert first.moved == 12
    assert not first.already_published
    assert sorted(first.files) == sorted(u for us in uris.values() for u in us)
    assert visible_rows(root) == {t: len(f) for t, f in FRAMES.items()}
    assert staged_files(root, "7") == []
    assert not (tmp_path / "_staging").exists()  # emptied directories are removed
    assert Path(record_uri(root, "7")).is_file()

    again = publish_run(root, "7")  # e.g. a resumed run publishing the same run id
    assert again.moved == 0
    assert again.already_published
    assert again.files == first.files
    assert visible_rows(root) == {t: len(f) for t, f in FRAMES.items()}


def test_a_resume_restaging_the_run_still_publishes_each_row_once(tmp_path: Path) -> None:
    root = str(tmp_path)
    stage_all(root, "3")  # the origin run: every table staged, then it fails
    stage_table(FRAMES["predictions"], "predictions", root, "3")  # the resumed run rewrites one table
    publish_run(root, "3")
    for table, frame in FRAMES.items():
        back = read_table(table, root)
        assert len(back) == len(frame), table
        assert not back.duplicated(["date", "symbol"]).any(), table


def test_a_published_run_writes_straight_to_the_tables(tmp_path: Path) -> None:
    root = str(tmp_path)
    stage_table(FRAMES["prices"], "prices", root, "5")
    publish_run(root, "5")
    changed = FRAMES["prices"].assign(close=FRAMES["prices"]["close"] + 1)
    stage_table(changed, "prices", root, "5")  # a retried step of a published run: replaces its files
    assert staged_files(root, "5") == []
    back = read_table("prices", root)
    assert back["close"].sort_values().tolist() == pytest.approx(changed["close"].sort_values().tolist())


def test_a_crash_in_the_middle_of_a_publication_is_completed_by_the_next(tmp_path: Path) -> None:
    root = str(tmp_path)
    stage_all(root, "9")
    staged = staged_files(root, "9")
    first = staged[0]
    target = Path(root) / first[len(str(tmp_path / "_staging" / "run_id=9")) + 1 :]
    target.parent.mkdir(parents=True)
    Path(first).rename(target)  # one file moved, then the process died: no publication record
    assert not is_published(root, "9")
    publication = publish_run(root, "9")
    assert publication.moved == len(staged) - 1
    assert len(publication.files) == len(staged) - 1  # the record lists what this call moved...
    assert visible_rows(root) == {t: len(f) for t, f in FRAMES.items()}  # ...and every row is there once


def test_a_failed_run_can_be_discarded(tmp_path: Path) -> None:
    root = str(tmp_path)
    stage_all(root, "11")
    stage_all(root, "12")
    assert list_staged_runs(root) == ["11", "12"]
    assert discard_run(root, "11") == 12
    assert list_staged_runs(root) == ["12"]
    assert visible_rows(root) == dict.fromkeys(LAKE_TABLES, 0)


def test_a_run_id_that_is_not_a_path_segment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run_id"):
        stage_table(FRAMES["prices"], "prices", str(tmp_path), "../1")
    with pytest.raises(ConfigError, match="run_id"):
        publish_run(str(tmp_path), "a/b")
    assert list(tmp_path.iterdir()) == []


def test_merge_writes_of_the_daily_flow_stay_direct(tmp_path: Path) -> None:
    """PredictFlow merges its predictions into the table itself (write_table, not staged)."""
    root = str(tmp_path)
    stage_table(FRAMES["predictions"], "predictions", root, "20")
    daily = make_frame("predictions", symbols=("SPY",), start="2024-01-02", days=2)
    write_table(daily, "predictions", root, "daily-1", policy=MERGE_WRITE)
    back = read_table("predictions", root)
    assert set(back["run_id"]) == {"daily-1"}
    assert len(back) == 2


# --- two sources, several runs: one answer per question and source ----------------------------------


def prices_of(template: str) -> tuple[pd.DataFrame, str]:
    """A source's aligned prices (the lake's columns) and its data fingerprint, as SpyFlow's ingest
    makes them."""
    from spylib.data.sources import ingest

    market = ingest(template, "SPY", "QQQ")
    return market.prices[list(LAKE_TABLES["prices"].data_schema.names)], market.fingerprint


def one_query(root: str, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in query(sql, root).itertuples(index=False)]


def test_a_lake_with_two_sources_and_several_runs_answers_once_per_source(tmp_path: Path) -> None:
    from tests.helpers.price_files import write_pair

    root = str(tmp_path / "lake")
    embedded, embedded_fp = prices_of("embedded")
    files, files_fp = prices_of(write_pair(tmp_path / "files", 1200, start="2013-01-02"))
    day = pd.Timestamp("2015-06-01").date()
    # runs 1 and 2 on the embedded index (run 2 after a data revision of that day), run 3 on the files
    revised = embedded.copy()
    revised.loc[(revised["date"] == day) & (revised["symbol"] == "SPY"), "close"] += 1.0
    for run, frame, fp in (("1", embedded, embedded_fp), ("2", revised, embedded_fp), ("3", files, files_fp)):
        stage_table(frame, "prices", root, run, source_fingerprint=fp)
        publication = publish_run(root, run)
        assert publication.moved > 0
    # run 4 on the embedded index fails before publishing: it changes nothing anyone reads
    stage_table(
        embedded.assign(close=embedded["close"] * 2), "prices", root, "4", source_fingerprint=embedded_fp
    )
    # a resume of run 2 publishes it once more: nothing moves, run 2 stays the embedded source's answer
    assert publish_run(root, "2").moved == 0

    spy_close = embedded.loc[(embedded["date"] == day) & (embedded["symbol"] == "SPY"), "close"].item()
    file_close = files.loc[(files["date"] == day) & (files["symbol"] == "SPY"), "close"].item()
    got = one_query(
        root,
        "SELECT source_fingerprint, run_id, close FROM prices WHERE symbol = 'SPY' AND date = '2015-06-01' "
        "ORDER BY close DESC",
    )
    want = sorted([(embedded_fp, "2", spy_close + 1.0), (files_fp, "3", file_close)], key=lambda r: -r[2])
    assert got == want
    read = read_table("prices", root, [("symbol", "=", "SPY"), ("date", "=", "2015-06-01")])
    assert sorted(zip(read["source_fingerprint"], read["run_id"], strict=True)) == sorted(
        (w[0], w[1]) for w in want
    )
    # every run's rows stay in the *_runs view (the failed run's never)
    assert one_query(root, "SELECT run_id, count(*) FROM prices_runs GROUP BY 1 ORDER BY 1") == [
        ("1", len(embedded)), ("2", len(embedded)), ("3", len(files)),
    ]  # fmt: skip
    # the storage README's example query: rows per year = the embedded index's plus the files', once each
    years = query("SELECT year, count(*) AS n FROM prices WHERE symbol = 'SPY' GROUP BY 1 ORDER BY 1", root)
    by_year = dict(zip(years["year"], years["n"], strict=True))
    spy = pd.concat([embedded, files])
    spy = spy[spy["symbol"] == "SPY"]
    assert by_year == pd.to_datetime(spy["date"]).dt.year.value_counts().sort_index().to_dict()
    file_days_2015 = int(((files["symbol"] == "SPY") & (pd.to_datetime(files["date"]).dt.year == 2015)).sum())
    assert by_year[2015] == 252 + file_days_2015  # the index's 252 sessions of 2015, once
    assert one_query(root, "SELECT count(*) FROM prices") == [(len(embedded) + len(files),)]
    assert len(read_table("prices", root)) == len(embedded) + len(files)
    assert list_staged_runs(root) == ["4"]
