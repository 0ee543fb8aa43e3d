"""Ingest: layouts, normalization, adjusted prices, alignment, fingerprints (valid inputs; the bad-input
matrix is in test_bad_input.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spylib.core.errors import DataValidationError
from spylib.core.schema import PRICE_COLUMNS
from spylib.research.data import EMBEDDED, ingest, load_embedded, load_price_file, prices_fingerprint
from tests.helpers.paths import SEED_DATA
from tests.helpers.price_files import seed_csv, write_parquet, yahoo_csv, yfinance_csv
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
    qqq = one_symbol(prices, "QQQ").iloc[5:].reset_index(drop=True)
    (tmp_path / "spy.csv").write_text(seed_csv(spy))
    (tmp_path / "qqq.csv").write_text(seed_csv(qqq))
    market = ingest(str(tmp_path / "{symbol_lower}.csv"), "SPY", "QQQ", today=TODAY)
    assert market.dropped_dates == 5
    counts = market.prices.groupby("symbol").size()
    assert counts["SPY"] == counts["QQQ"] == 295


def test_embedded_data_is_the_arch_indices_and_named_as_stand_ins() -> None:
    data = load_embedded("SPY")
    assert data.frame["date"].min().isoformat() == "1999-01-04"
    assert len(data.frame) == 5031
    assert "stand-in" in data.description
    with pytest.raises(DataValidationError, match="stand-ins only for SPY, QQQ"):
        load_embedded("IWM")
    assert ingest(EMBEDDED, "SPY", "QQQ").prices["symbol"].nunique() == 2


@pytest.mark.skipif(not SEED_DATA.is_dir(), reason="../shared/data/seed is not present")
def test_seed_project_files_load() -> None:
    data = load_price_file(str(SEED_DATA / "spy_daily.csv"), "SPY")
    assert data.layout == "seed"
    assert len(data.frame) == 5033
    assert data.frame["date"].iloc[0].isoformat() == "2005-04-15"
