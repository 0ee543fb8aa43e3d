"""Write probes: can this run write where it was told to, checked in ``start`` before any work.

A local location is probed in the nearest directory that exists (the location itself, or the
ancestor the run would create it under): a hidden temporary file is created there and removed at
once, so nothing is left behind and no directory is created. An ``s3://`` location is probed with one
PutObject of an empty hidden object under the prefix, deleted at once (S3 has no directories).
Each problem is one :class:`~spylib.core.errors.ConfigError` naming the parameter and the location.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from spylib.core.errors import ConfigError
from spylib.storage.s3 import delete_s3_object, is_s3_uri, s3_client, write_s3_bytes

PROBE_PREFIX = ".spyflow-probe-"


def _nearest_existing(path: Path) -> Path:
    current = path
    while not os.path.lexists(current):
        if current.parent == current:
            break
        current = current.parent
    return current


def probe_local_directory(location: str, parameter: str) -> None:
    """``location`` is (or can be created as) a directory this process can write in."""
    target = Path(location).expanduser()
    existing = _nearest_existing(target.absolute())
    if os.path.islink(existing) and not existing.exists():
        raise ConfigError(
            f"cannot write to {location}: {existing} is a broken symbolic link", source=parameter
        )
    if not existing.is_dir():
        kind = "a file" if existing.is_file() else "not a directory"
        if existing == target.absolute():
            problem = f"it is {kind}, not a directory"
        else:
            problem = f"{existing} is {kind}: no directory can be created under it"
        raise ConfigError(f"cannot write to {location}: {problem}", source=parameter)
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=existing)
    except OSError as exc:
        raise ConfigError(
            f"cannot write to {location}: {exc.strerror} ({existing})", source=parameter
        ) from None
    os.close(fd)
    os.unlink(name)


def probe_s3_prefix(location: str, parameter: str) -> None:
    """One empty object written under ``location`` and deleted again (timeouts of :mod:`spylib.storage.s3`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    uri = f"{location.rstrip('/')}/{PROBE_PREFIX}{uuid.uuid4().hex}"
    client = s3_client()
    try:
        write_s3_bytes(uri, b"", client)
        delete_s3_object(uri, client)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ConfigError(
            f"cannot write to {location}: {error.get('Code', '')} {error.get('Message', '')}".rstrip(),
            source=parameter,
        ) from None
    except BotoCoreError as exc:
        raise ConfigError(f"cannot write to {location}: {exc}", source=parameter) from None


def probe_writable(location: str, parameter: str) -> None:
    """Probe a local directory or an ``s3://`` prefix (see the module docstring); '' is not probed."""
    if not location:
        return
    if is_s3_uri(location):
        probe_s3_prefix(location, parameter)
    elif "://" in location:
        raise ConfigError(f"unsupported location {location} (a directory or s3://)", source=parameter)
    else:
        probe_local_directory(location, parameter)
