"""Valid frames for every table of the Parquet lake (used by the lake, catalog and SQL tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from spylib.storage.tables import LAKE_TABLES

STRING_VALUES = {"regime": "bull", "segment": "test", "model_version": "v1"}
# Arrow type -> Hive type, written out here (not taken from the catalog module the tests check).
HIVE = {"double": "double", "int8": "tinyint", "string": "string", "date32[day]": "date", "int64": "bigint"}


def expected_columns(table: str) -> list[tuple[str, str]]:
    """(name, Hive type) of the file columns, from spylib.core.schema directly (not via the catalog)."""
    fields = [f for f in LAKE_TABLES[table].data_schema if f.name != "symbol"]
    return [(f.name, HIVE[str(f.type)]) for f in fields] + [
        ("run_id", "string"),
        ("source_fingerprint", "string"),
    ]


def make_frame(
    table: str,
    symbols: tuple[str, ...] = ("SPY", "QQQ"),
    start: str = "2019-12-27",
    days: int = 6,
    seed: int = 0,
) -> pd.DataFrame:
    """A valid frame for ``table``: ``days`` business days per symbol (spanning a year end by default)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=days)
    n = len(dates) * len(symbols)
    cols: dict[str, object] = {}
    for field in LAKE_TABLES[table].data_schema:
        if field.name == "date":
            cols["date"] = np.tile(dates.to_numpy(), len(symbols))
        elif field.name == "symbol":
            cols["symbol"] = np.repeat(symbols, len(dates))
        elif pa.types.is_floating(field.type):
            cols[field.name] = rng.normal(100.0, 5.0, n)
        elif pa.types.is_integer(field.type):
            cols[field.name] = rng.integers(0, 2, n).astype("int8")
        else:
            cols[field.name] = [STRING_VALUES.get(field.name, "x")] * n
    return pd.DataFrame(cols)
