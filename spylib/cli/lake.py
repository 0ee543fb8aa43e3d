"""``spy-flow sql | ddl``: SQL over the Parquet lake with DuckDB, and the Athena DDL of its tables.

Thin wrappers of :mod:`spylib.storage.sql`.
"""

from __future__ import annotations

import argparse
from typing import Any

from spylib.cli.table import SQL_DIGITS, render_table
from spylib.core.outputs import LAKE_ENV, env_or
from spylib.storage.s3 import is_s3_uri, split_s3_uri

PLACEHOLDER_LOCATION = "s3://YOUR-BUCKET/lake"
# spylib.storage.sql.DEFAULT_DATABASE, written out so that building the parser imports no pandas.
DEFAULT_DATABASE = "spy_flow"


def require_local_lake(root: str) -> None:
    """A local lake root must exist and hold at least one table (prices, features, predictions)."""
    from pathlib import Path

    from spylib.core.errors import ConfigError
    from spylib.storage.sql import LAKE_TABLES

    if is_s3_uri(root):
        return
    path = Path(root).expanduser()
    problem = "does not exist" if not path.is_dir() else "holds no lake table"
    if not path.is_dir() or not any((path / table).is_dir() for table in LAKE_TABLES):
        raise ConfigError(
            f"no lake here (the directory {problem}): give --lake the --lake-root of a SpyFlow run "
            f"({', '.join(LAKE_TABLES)} under it)",
            source=root,
            key="--lake",
        )


def cmd_sql(args: argparse.Namespace) -> int:
    """Run the statement over the lake's views and print the rows as an aligned table."""
    from spylib.storage.sql import query

    root = args.lake or env_or(LAKE_ENV)
    require_local_lake(root)
    frame = query(args.statement, root, s3_mode=args.s3_mode)
    shown = frame.head(args.max_rows)
    print(render_table([str(c) for c in frame.columns], shown.astype(object).to_numpy().tolist(), SQL_DIGITS))
    if len(frame) > args.max_rows:
        print(f"... {len(frame)} rows in total, first {args.max_rows} shown (--max-rows)")
    else:
        print(f"({len(frame)} row{'' if len(frame) == 1 else 's'})")
    return 0


def cmd_ddl(args: argparse.Namespace) -> int:
    """Print ``CREATE EXTERNAL TABLE`` for every lake table at ``--location``."""
    from spylib.storage.sql import all_ddl

    lake = env_or(LAKE_ENV)
    location = args.location or (lake if is_s3_uri(lake) else PLACEHOLDER_LOCATION)
    split_s3_uri(location, source="spy-flow ddl --location")  # Athena reads S3 only
    print(all_ddl(args.database, location), end="")
    return 0


def add_parsers(commands: Any) -> None:
    """The lake subcommands, on the ``add_subparsers`` object of the main parser."""
    sql = commands.add_parser(
        "sql",
        help="SQL over the Parquet lake (DuckDB)",
        description="SQL over the Parquet lake with DuckDB. Views: prices, features, predictions "
        "(each with run_id and year).",
    )
    sql.add_argument("statement", metavar="SQL", help='e.g. "SELECT symbol, count(*) FROM prices GROUP BY 1"')
    sql.add_argument(
        "--lake",
        default=None,
        help=f"lake root, a directory or s3://... (default ${LAKE_ENV[0]} or {LAKE_ENV[1]})",
    )
    sql.add_argument(
        "--s3-mode", choices=["auto", "httpfs", "sync"], default="auto", help="how an s3:// lake is read"
    )
    sql.add_argument("--max-rows", type=int, default=200, help="print at most this many rows (default 200)")
    sql.set_defaults(handler=cmd_sql)

    ddl = commands.add_parser(
        "ddl",
        help="Athena CREATE EXTERNAL TABLE statements for the lake",
        description="The Athena DDL of every lake table, then the MSCK REPAIR TABLE lines.",
    )
    ddl.add_argument(
        "--location",
        default=None,
        help=f"S3 lake root (default ${LAKE_ENV[0]} if it is s3://, else {PLACEHOLDER_LOCATION})",
    )
    ddl.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"Athena database (default {DEFAULT_DATABASE})"
    )
    ddl.set_defaults(handler=cmd_ddl)
