"""Ingest: layouts, normalization, adjusted prices, alignment, fingerprints (valid inputs; the bad-input
matrix is in test_bad_input.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spylib.core.config import DEFAULT_DATA_CHECKS, parse_data_checks
from spylib.core.errors import DataValidationError
from spylib.core.schema import PRICE_COLUMNS
from spylib.data.prices import PriceData, prices_fingerprint
from spylib.data.sources import EMBEDDED, ingest, load_embedded, load_price_file, read_embedded_frame
from tests.helpers.flow_defaults import load_json_config
from tests.helpers.paths import CONFIG_DIR, SEED_DATA
from tests.helpers.price_files import seed_csv, write_pair, write_parquet, yahoo_csv, yfinance_csv
from tests.helpers.synthetic import TODAY, one_symbol, synthetic_prices


@pytest.fixture
def spy() -> pd.DataFrame:
    return one_symbol(synthetic_prices(300), "SPY")


@pytest.mark.parametrize(
    ("writer", "layout"), [(seed_csv, "seed"), (yahoo_csv, "yahoo"), (yfinance_csv, "yfinance")]
)
def test_each_layout_is_detected_and_normalized(
    tmp_path: Path, spy: pd.DataFrame, writer, layout: str
) -> None:
    path = tmp_path / "spy.csv"
    path.write_text(writer(spy))
    data = load_price_file(str(path), "SPY", today=TODAY)
    assert data.layout == layout
    assert list(data.frame.columns) == list(PRICE_COLUMNS)
    assert data.frame["date"].tolist() == spy["date"].tolist()
    np.testing.assert_allclose(data.frame["close"], spy["close"], rtol=1e-12)


def test_layouts_with_the_same_rows_have_the_same_fingerprint(tmp_path: Path, spy: pd.DataFrame) -> None:
    (tmp_path / "a.csv").write_text(seed_csv(spy))
    (tmp_path / "b.csv").write_text(yfinance_csv(spy))
    a = load_price_file(str(tmp_path / "a.csv"), "SPY", today=TODAY)
    b = load_price_file(str(tmp_path / "b.csv"), "SPY", today=TODAY)
    assert a.fingerprint == b.fingerprint
    changed = a.frame.copy()
    changed.loc[10, "close"] *= 1.0001
    assert prices_fingerprint(changed) != a.fingerprint


def test_yahoo_adjusted_close_is_kept_and_features_use_it(tmp_path: Path, spy: pd.DataFrame) -> None:
    (tmp_path / "y.csv").write_text(yahoo_csv(spy, adj_factor=0.5))
    data = load_price_file(str(tmp_path / "y.csv"), "SPY", today=TODAY)
    np.testing.assert_allclose(data.frame["adj_close"], data.frame["close"] * 0.5)


def test_parquet_file_is_read(tmp_path: Path, spy: pd.DataFrame) -> None:
    path = write_parquet(tmp_path / "spy.parquet", spy, layout="yahoo")
    data = load_price_file(str(path), "SPY", today=TODAY)
    assert data.layout == "yahoo"
    assert len(data.frame) == len(spy)


def test_dates_out_of_order_are_sorted_and_logged(
    tmp_path: Path, spy: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    shuffled = spy.sample(frac=1.0, random_state=1)
    (tmp_path / "s.csv").write_text(seed_csv(shuffled))
    with caplog.at_level(logging.WARNING):
        data = load_price_file(str(tmp_path / "s.csv"), "SPY", today=TODAY)
    assert data.frame["date"].is_monotonic_increasing
    assert "out of order" in caplog.text


def test_ingest_aligns_on_common_dates(tmp_path: Path) -> None:
    prices = synthetic_prices(300)
    spy = one_symbol(prices, "SPY")
    qqq = one_symbol(prices, "QQQ").drop(index=[100, 150, 200]).reset_index(drop=True)
    (tmp_path / "spy.csv").write_text(seed_csv(spy))
    (tmp_path / "qqq.csv").write_text(seed_csv(qqq))
    market = ingest(str(tmp_path / "{symbol_lower}.csv"), "SPY", "QQQ", today=TODAY)
    assert (market.dropped_dates, market.trimmed_rows) == (3, 0)
    counts = market.prices.groupby("symbol").size()
    assert counts["SPY"] == counts["QQQ"] == 297


def test_a_span_only_one_file_covers_is_trimmed_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SPY's file starts 120 rows (30% of it) before QQQ's and QQQ's ends 10 rows after SPY's: the share
    # rule would refuse the pair if it counted the spans only one file covers.
    template = write_pair(tmp_path, 400, cut={"QQQ": (120, 0), "SPY": (0, 10)})
    with caplog.at_level(logging.WARNING):
        market = ingest(template, "SPY", "QQQ", today=TODAY)
    spy_file, qqq_file = template.format(symbol_lower="spy"), template.format(symbol_lower="qqq")
    first, last = market.prices["date"].min(), market.prices["date"].max()
    assert (market.dropped_dates, market.trimmed_rows) == (0, 130)
    assert len(market.prices) == 2 * 270
    assert f"{spy_file}: trimmed to the common span {first}..{last} of SPY and QQQ: 120 rows" in caplog.text
    assert f"before {qqq_file} starts" in caplog.text
    assert f"{qqq_file}: trimmed to the common span {first}..{last} of QQQ and SPY: 10 rows" in caplog.text
    assert f"after {spy_file} ends" in caplog.text
    assert market.provenance()["rows_trimmed_to_common_span"] == 130


def test_the_share_rule_applies_within_the_common_span(tmp_path: Path) -> None:
    # trimmed lead, then 30 of the common span's dates missing from QQQ's file (every other day)
    template = write_pair(tmp_path, 400, cut={"QQQ": (100, 0)})
    qqq_path = Path(template.format(symbol_lower="qqq"))
    lines = qqq_path.read_text().splitlines()
    kept = [line for i, line in enumerate(lines) if not (50 <= i < 110 and i % 2 == 0)]
    qqq_path.write_text("\n".join(kept) + "\n")
    with pytest.raises(DataValidationError) as info:
        ingest(template, "SPY", "QQQ", today=TODAY)
    message = str(info.value)
    spy_file = template.format(symbol_lower="spy")
    assert message.startswith(f"{spy_file}, line ")  # the file that holds the date quoted
    assert "30 of the 300 dates of SPY within the common span" in message
    assert f"are missing from {qqq_path}" in message


def test_embedded_data_is_the_arch_indices_and_named_as_stand_ins() -> None:
    data = load_embedded("SPY")
    assert data.frame["date"].min().isoformat() == "1999-01-04"
    assert len(data.frame) == 5031
    assert "stand-in" in data.description
    with pytest.raises(DataValidationError, match="stand-ins only for SPY, QQQ"):
        load_embedded("IWM")
    assert ingest(EMBEDDED, "SPY", "QQQ").prices["symbol"].nunique() == 2


@pytest.mark.parametrize("module_name", ["arch.data.sp500", "arch.data.nasdaq"])
def test_embedded_file_is_read_as_arch_loads_it_without_importing_arch(module_name: str) -> None:
    import importlib
    import subprocess
    import sys

    code = (
        "import sys; from spylib.data.sources import read_embedded_frame; "
        f"read_embedded_frame({module_name!r}); print('arch' in sys.modules)"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"  # the ingest task does not pay arch's imports
    pd.testing.assert_frame_equal(
        read_embedded_frame(module_name), importlib.import_module(module_name).load()
    )


@pytest.mark.skipif(not SEED_DATA.is_dir(), reason="../shared/data/seed is not present")
def test_seed_project_files_load() -> None:
    data = load_price_file(str(SEED_DATA / "spy_daily.csv"), "SPY")
    assert data.layout == "seed"
    assert len(data.frame) == 5033
    assert data.frame["date"].iloc[0].isoformat() == "2005-04-15"


def test_the_data_checks_file_holds_the_documented_defaults() -> None:
    shipped = parse_data_checks(load_json_config(CONFIG_DIR / "data_checks.json"))
    assert shipped == DEFAULT_DATA_CHECKS
    assert (shipped.max_daily_move, shipped.max_dropped_share, shipped.max_gap_days) == (0.25, 0.05, 14)


def test_rows_keep_their_physical_lines(tmp_path: Path, spy: pd.DataFrame) -> None:
    lines = seed_csv(spy.iloc[:6]).splitlines()
    text = (
        "\n".join([lines[0], lines[1], "", lines[2], '"' + lines[3].replace(",", '",', 1), *lines[4:]]) + "\n"
    )
    path = tmp_path / "gaps.csv"
    path.write_text(text.replace("\n\n", "\n\n\n"))  # two blank lines after line 2
    data = load_price_file(str(path), "SPY", today=TODAY)
    assert data.lines is not None
    assert data.lines.tolist() == [2, 5, 6, 7, 8, 9]
    parquet = load_price_file(str(write_parquet(tmp_path / "p.parquet", spy.iloc[:6])), "SPY", today=TODAY)
    assert parquet.lines is not None
    assert parquet.lines.tolist() == [1, 2, 3, 4, 5, 6]


def test_the_real_data_passes_every_default_rule() -> None:
    market = ingest(
        EMBEDDED, "SPY", "QQQ"
    )  # the largest real moves: 2008-10-13 (+11.6%), 2001-01-03 (+14.2%)
    assert market.dropped_dates == 0
    assert len(market.prices) == 2 * 5031


def test_a_volatile_synthetic_market_is_not_held_to_real_moves() -> None:
    market = ingest("synthetic:edge=0,years=3,vol=0.1", "SPY", "QQQ")
    moves = market.prices[market.prices["symbol"] == "QQQ"]["adj_close"].pct_change().abs()
    assert moves.max() > DEFAULT_DATA_CHECKS.max_daily_move  # a file with such moves would be refused


def test_ingest_runs_the_rules_on_another_loader_too(tmp_path: Path, spy: pd.DataFrame) -> None:
    weekly = spy.iloc[::5].reset_index(drop=True)

    def loader(source: str, symbol: str, *, today: object = None) -> PriceData:
        frame = weekly.assign(symbol=symbol)
        return PriceData(
            symbol, frame, f"live:{symbol}", "yfinance", "a test loader", prices_fingerprint(frame)
        )

    with pytest.raises(
        DataValidationError, match=r"^live:SPY, date 2001-01-09, column 'date': the bars are not daily"
    ):
        ingest("live", "SPY", "QQQ", loader=loader)
