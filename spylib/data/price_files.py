"""Price files before validation: source templates and symbols, the raw bytes (local or ``s3://``), and
the CSV or Parquet frame in one of the three layouts, every row with its physical line.

Rules checked here (each a :class:`~spylib.core.errors.ConfigError` or
:class:`~spylib.core.errors.DataValidationError` naming the source, and the line and column where
there is one):

* a symbol matches :data:`SYMBOL_PATTERN`: letters, digits, ``.``, ``-``, ``^`` and ``=``, at most 20
  characters, at least one letter or digit (``BRK.B``, ``BRK-B``, ``^GSPC``, ``ES=F``), so it can
  never name a path outside the source folder;
* a path or URI template contains ``{symbol}`` or ``{symbol_lower}`` and no other ``{...}`` (a literal
  brace is written ``{{`` or ``}}``); ``embedded``, ``yfinance`` and ``synthetic:...`` are sources,
  not templates;
* a local source is a regular file (a directory, a named pipe, a socket, a device or a broken link is
  named as such) that this process can read; an ``s3://`` source is an object a HEAD request finds;
* line numbers are the file's physical lines (1-based; blank lines and newlines inside quoted
  fields count), the line of a record being the line it starts on; Parquet rows are numbered from 1;
* Parquet dates must be a date, a timestamp or text: integers are refused as such.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spylib.core.errors import ConfigError, DataValidationError
from spylib.storage.s3 import head_s3_object, is_s3_uri, read_s3_bytes

# Header (as written in the file) -> normalized column, per layout.
LAYOUTS: dict[str, dict[str, str]] = {
    "yahoo": {
        "Date": "date", "Open": "open", "High": "high", "Low": "low",
        "Close": "close", "Adj Close": "adj_close", "Volume": "volume",
    },
    "yfinance": {
        "Date": "date", "Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume",
    },
    "seed": {
        "date": "date", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume",
    },
}  # fmt: skip
DATE_FORMATS: dict[str, str] = {"yahoo": "%Y-%m-%d", "yfinance": "%Y-%m-%d", "seed": "%m/%d/%Y"}

EMBEDDED = "embedded"
LIVE_SOURCE = "yfinance"  # the --source of live prices (spylib.data.live)
SYNTHETIC_PREFIX = "synthetic:"
TEMPLATE_FIELDS: tuple[str, ...] = ("symbol", "symbol_lower")
SYMBOL_PATTERN = r"^(?=.*[A-Za-z0-9])[A-Za-z0-9.^=-]{1,20}$"
_SYMBOL_RE = re.compile(SYMBOL_PATTERN)


# ---------------------------------------------------------------------------------------------
# symbols and templates
# ---------------------------------------------------------------------------------------------
def check_symbol(symbol: str, source: str = "--symbol") -> str:
    """``symbol`` upper-cased, or a ConfigError if it does not match :data:`SYMBOL_PATTERN`."""
    text = symbol.strip().upper()
    if not _SYMBOL_RE.match(text):
        raise ConfigError(
            f"{symbol!r} is not a ticker symbol (1 to 20 letters, digits, '.', '-', '^' or '=', "
            "with a letter or digit)",
            source=source,
        )
    return text


def is_template_source(source: str) -> bool:
    """Whether ``source`` is a path/URI template (not ``embedded``, ``yfinance`` or ``synthetic:...``)."""
    return source not in (EMBEDDED, LIVE_SOURCE) and not source.startswith(SYNTHETIC_PREFIX)


def check_source_template(source: str, key: str = "--source") -> None:
    """A template names the symbol (``{symbol}`` or ``{symbol_lower}``) and nothing else in braces."""
    if not source.strip():
        raise ConfigError("empty source: give 'embedded', a path template or a synthetic spec", source=key)
    try:
        fields = [
            (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(source) if name is not None
        ]
    except ValueError as exc:
        raise ConfigError(
            f"unbalanced brace in {source!r} ({exc}); write a literal brace as '{{{{' or '}}}}'", source=key
        ) from None
    for name, spec, conv in fields:
        if name not in TEMPLATE_FIELDS or spec or conv:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(
                f"unknown placeholder {shown} in {source!r}: only {{symbol}} and {{symbol_lower}} are filled",
                source=key,
            )
    if not fields:
        raise ConfigError(
            f"{source!r} does not contain {{symbol}} or {{symbol_lower}}: both symbols would read the same "
            "file (e.g. 'data/{symbol_lower}_daily.csv')",
            source=key,
        )


def resolve_source(source: str, symbol: str) -> str:
    """Fill ``{symbol}`` / ``{symbol_lower}`` in a path template, e.g. ``data/{symbol_lower}_daily.csv``."""
    check_source_template(source)
    sym = check_symbol(symbol)
    return source.format(symbol=sym, symbol_lower=sym.lower())


# ---------------------------------------------------------------------------------------------
# reading raw bytes
# ---------------------------------------------------------------------------------------------
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_local_file(path: str) -> None:
    """A regular, readable file, or a DataValidationError saying what ``path`` is instead."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        what = "a broken symbolic link" if os.path.islink(path) else None
        raise DataValidationError(
            f"is {what}, not a file" if what else "file not found", source=path
        ) from None
    except NotADirectoryError:
        raise DataValidationError("file not found (a parent in the path is a file)", source=path) from None
    except OSError as exc:
        raise DataValidationError(f"cannot read: {exc.strerror}", source=path) from None
    for test, what in _KINDS:
        if test(mode):
            raise DataValidationError(f"is {what}, not a regular file", source=path)
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise DataValidationError(f"cannot read: {exc.strerror}", source=path) from None


def check_source_file(uri: str) -> None:
    """The file or object exists and can be read (a HEAD request for ``s3://``), without reading it."""
    if is_s3_uri(uri):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head_s3_object(uri)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            what = (
                "object not found"
                if code in ("404", "NoSuchKey", "NotFound")
                else f"cannot read from S3: {exc}"
            )
            raise DataValidationError(what, source=uri) from exc
        except BotoCoreError as exc:
            raise DataValidationError(f"cannot read from S3: {exc}", source=uri) from exc
        return
    check_local_file(uri)


def read_source_bytes(uri: str) -> bytes:
    """Read a local path or an ``s3://bucket/key`` URI (endpoint: :func:`spylib.storage.s3.s3_endpoint`)."""
    if is_s3_uri(uri):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return read_s3_bytes(uri)
        except (ClientError, BotoCoreError) as exc:
            raise DataValidationError(f"cannot read from S3: {exc}", source=uri) from exc
    check_local_file(uri)
    return Path(uri).read_bytes()


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------
def _decode_csv(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be decoded",
            source=source,
            row=line,
            column=_column_at(raw, exc.start) if line > 1 else None,
        ) from exc


def _column_at(raw: bytes, offset: int) -> str | None:
    """The header name of the comma-separated field that holds byte ``offset`` (for error messages)."""
    header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    names = [c.strip() for c in header.split(",")]
    line_start = raw.rfind(b"\n", 0, offset) + 1
    index = raw[line_start:offset].count(b",")
    return names[index] if index < len(names) else None


def csv_records(text: str) -> tuple[list[list[str]], list[int]]:
    """The non-blank records of a CSV text and the physical line each starts on (1-based)."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    records: list[list[str]] = []
    lines: list[int] = []
    previous = 0
    for fields in reader:
        start, previous = previous + 1, reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        records.append(fields)
        lines.append(start)
    return records, lines


def detect_layout(columns: list[str], source: str, header_line: int = 1) -> str:
    """Name the layout from the header; the error lists what is missing for the closest layout."""
    seen = [c.strip() for c in columns]
    duplicates = sorted({c for c in seen if seen.count(c) > 1})
    if duplicates:
        raise DataValidationError(
            "duplicate column name in the header", source=source, row=header_line, column=duplicates[0]
        )
    present = set(seen)
    if "Adj Close" in present:
        candidates = ["yahoo"]
    elif "Date" in present or "Close" in present:
        candidates = ["yfinance"]
    elif present & set(LAYOUTS["seed"]):
        candidates = ["seed"]
    else:
        candidates = ["yahoo", "yfinance", "seed"]
    for layout in candidates:
        missing = [c for c in LAYOUTS[layout] if c not in present]
        if not missing:
            return layout
    layout = candidates[0]
    missing = [c for c in LAYOUTS[layout] if c not in present]
    if len(seen) == 1 and any(d in seen[0] for d in (";", "\t", "|")):
        raise DataValidationError(
            f"the header is one column {seen[0]!r}: the file is not comma-separated",
            source=source,
            row=header_line,
        )
    raise DataValidationError(
        f"missing column for the {layout} layout (header has: {', '.join(seen)})",
        source=source,
        row=header_line,
        column=missing[0],
    )


def read_csv_frame(raw: bytes, source: str) -> tuple[pd.DataFrame, str]:
    """The layout's columns renamed to the normalized names, as text, plus ``_line`` (physical lines)."""
    text = _decode_csv(raw, source)
    if not text.strip():
        raise DataValidationError("the file is empty", source=source)
    records, lines = csv_records(text)
    header, header_line = records[0], lines[0]
    layout = detect_layout(header, source, header_line)
    for fields, line in zip(records[1:], lines[1:], strict=True):
        # pandas would fail with its own message on extra fields and pad short lines with empty values.
        if len(fields) != len(header):
            column = header[len(fields)].strip() if len(fields) < len(header) else None
            what = "missing" if len(fields) < len(header) else "extra"
            raise DataValidationError(
                f"{len(fields)} fields where the header has {len(header)} ({what} values)",
                source=source,
                row=line,
                column=column,
            )
    if len(records) < 2:
        raise DataValidationError("the file has a header but no data rows", source=source)
    frame = pd.DataFrame(records[1:], columns=[c.strip() for c in header], dtype=str)
    frame = frame[list(LAYOUTS[layout])].rename(columns=LAYOUTS[layout])
    frame["_line"] = np.asarray(lines[1:], dtype="int64")
    return frame, layout


# ---------------------------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------------------------
def read_parquet_frame(raw: bytes, source: str) -> tuple[pd.DataFrame, str]:
    """As :func:`read_csv_frame`, from a Parquet file (``_line`` is the row number, from 1)."""
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"not a readable Parquet file: {exc}", source=source) from exc
    frame = table.to_pandas()
    if "Date" not in frame.columns and "date" not in frame.columns and frame.index.name in ("Date", "date"):
        frame = frame.reset_index()
    layout = detect_layout([str(c) for c in frame.columns], source)
    frame = frame[list(LAYOUTS[layout])].rename(columns=LAYOUTS[layout])
    if frame.empty:
        raise DataValidationError("the file has no data rows", source=source)
    dates = frame["date"]
    if pd.api.types.is_bool_dtype(dates) or pd.api.types.is_numeric_dtype(dates):
        raise DataValidationError(
            f"the dates are stored as {dates.dtype} numbers (first value {dates.iloc[0]}), not as a date, "
            "a timestamp or text: write the column as a date",
            source=source,
            row=1,
            column="date",
        )
    if pd.api.types.is_datetime64_any_dtype(dates):
        frame["date"] = pd.to_datetime(dates).dt.strftime(DATE_FORMATS[layout])
    else:
        others = [(i, v) for i, v in enumerate(dates) if v is not None and not isinstance(v, str)]
        number = next(((i, v) for i, v in others if isinstance(v, int | float | np.number)), None)
        if number is not None:
            raise DataValidationError(
                f"the date is a number ({number[1]}), not a date, a timestamp or text",
                source=source,
                row=number[0] + 1,
                column="date",
            )
        if others:  # datetime.date objects (a Parquet date32 column)
            frame["date"] = pd.to_datetime(dates).dt.strftime(DATE_FORMATS[layout])
    frame["_line"] = np.arange(1, len(frame) + 1)  # Parquet has no header line: row numbers from 1
    return frame, layout
