"""Local files written atomically, with the permissions the user's umask asks for.

Readers (a teammate, a cron job, the daily flow) see the old file or the new one, never half of one,
and on any error the old file is left untouched; a failed write (disk full, permission) is a
:class:`~spylib.core.errors.WriteError`, one line naming the file. ``tempfile.mkstemp`` creates files readable by the
owner only (0600); the final file gets the mode a plain ``open()`` would have given it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from spylib.core.errors import WriteError


def current_umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(handle)`` on a hidden temp file beside ``path``, fsync it, then rename it over
    ``path`` (atomic within one file system). Parent directories are created as needed."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hidden name: never matched by the '*.parquet' or '*.csv' globs of readers.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise WriteError(str(target), exc.strerror or str(exc), exc.errno) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(str(target), exc.strerror or str(exc), exc.errno) from exc
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda handle: handle.write(data))
