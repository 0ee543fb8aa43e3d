"""Errors that tell the user exactly what is wrong and where: file, row or date, column or key."""

from __future__ import annotations


class SpyFlowError(Exception):
    """Base class of every error spy-flow raises on purpose."""


class DataValidationError(SpyFlowError, ValueError):
    """Input data is unusable. The message names the source, the row or date, and the column."""

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        column: str | None = None,
        row: int | None = None,
        date: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.column = column
        self.row = row
        self.date = date
        where = [source]
        if row is not None:
            where.append(f"line {row}")
        if date is not None:
            where.append(f"date {date}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {problem}")


class ConfigError(SpyFlowError, ValueError):
    """A parameter or config file is invalid. The message names the source and the key."""

    def __init__(self, problem: str, *, source: str, key: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        where = source if key is None else f"{source}, key '{key}'"
        super().__init__(f"{where}: {problem}")


class LookaheadError(SpyFlowError):
    """A feature used information from after its own day (found by the truncation audit)."""


class IntegrityError(SpyFlowError):
    """A stored file does not match its recorded sha256: it is refused, never loaded."""


class WriteError(SpyFlowError, OSError):
    """A file could not be written (disk full, permission...). The message names the path; it stays an
    :class:`OSError` (with the original ``errno``) for callers that handle those."""

    def __init__(self, path: str, reason: str, errno: int | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write {path}: {reason}")
        self.errno = errno
        self.strerror = reason
        self.filename = path

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"
