"""S3 that never answers: a real local socket that accepts connections and never replies. Every S3 call
of spy-flow fails within the bound of :mod:`spylib.storage.s3`, logging each failed attempt."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from spylib.core.errors import ConfigError, DataValidationError
from spylib.data.sources import load_price_file
from spylib.storage.probe import probe_writable
from spylib.storage.s3 import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_READ_TIMEOUT,
    read_s3_bytes,
    request_time_bound,
    s3_timeouts,
)

LOGGER = "spylib.storage.s3"


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """``http://127.0.0.1:PORT`` of a socket that accepts every connection and never sends a byte; the
    accepted connections (one per attempt)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        server.close()


@pytest.fixture
def short_budget(monkeypatch: pytest.MonkeyPatch, silent_endpoint: tuple[str, list[socket.socket]]) -> str:
    """This process's S3 client on the silent endpoint, with 0.25 s timeouts and 3 attempts (a socket
    that never sends a byte times out whatever the timeout: a short one only makes the test quicker)."""
    endpoint, _ = silent_endpoint
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SPYFLOW_S3_CONNECT_TIMEOUT", "0.25")
    monkeypatch.setenv("SPYFLOW_S3_READ_TIMEOUT", "0.25")
    monkeypatch.setenv("SPYFLOW_S3_MAX_ATTEMPTS", "3")
    return endpoint


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_the_defaults_and_their_bound() -> None:
    assert s3_timeouts() == (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_MAX_ATTEMPTS)
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_MAX_ATTEMPTS) == (3.0, 10.0, 3)
    # 3 x (3 + 10 + 1) + (1 + 5) + (2 + 5): the attempts (with botocore's fixed 1 s wait for a
    # "100 Continue"), then the longest backoff before each retry
    assert request_time_bound() == 55.0


def test_a_silent_endpoint_fails_within_the_bound_logging_each_attempt(
    short_budget: str,
    silent_endpoint: tuple[str, list[socket.socket]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bound = request_time_bound()
    assert bound == 3 * (0.25 + 0.25 + 1) + (1 + 5) + (2 + 5)
    from botocore.exceptions import ReadTimeoutError

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(ReadTimeoutError):
        read_s3_bytes("s3://bucket/prices/spy.csv")
    elapsed = time.monotonic() - started
    assert elapsed < bound
    assert elapsed >= 3 * 0.25  # three attempts, each waiting its read timeout
    assert len(silent_endpoint[1]) == 3  # one connection per attempt
    url = f'"{short_budget}/bucket/prices/spy.csv"'
    assert retry_lines(caplog) == [
        f"S3 GetObject attempt 1 of 3 failed (Read timeout on endpoint URL: {url}); retrying",
        f"S3 GetObject attempt 2 of 3 failed (Read timeout on endpoint URL: {url}); retrying",
        f"S3 GetObject attempt 3 of 3 failed (Read timeout on endpoint URL: {url}); giving up",
    ]


def test_a_silent_source_is_one_located_line(short_budget: str) -> None:
    started = time.monotonic()
    with pytest.raises(DataValidationError) as info:
        load_price_file("s3://bucket/spy.csv", "SPY")
    assert time.monotonic() - started < request_time_bound()
    assert str(info.value) == (
        f's3://bucket/spy.csv: cannot read from S3: Read timeout on endpoint URL: "{short_budget}/bucket/spy.csv"'
    )


def test_a_silent_lake_fails_the_start_probe(short_budget: str, caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(ConfigError) as info:
        probe_writable("s3://bucket/lake", "--lake-root")
    assert time.monotonic() - started < request_time_bound()
    assert str(info.value).startswith(
        "--lake-root: cannot write to s3://bucket/lake: Read timeout on endpoint URL"
    )
    assert [line.split(" (")[0] for line in retry_lines(caplog)] == [
        "S3 PutObject attempt 1 of 3 failed",
        "S3 PutObject attempt 2 of 3 failed",
        "S3 PutObject attempt 3 of 3 failed",
    ]


def test_a_refused_connection_is_retried_and_logged_too(
    monkeypatch: pytest.MonkeyPatch, short_budget: str, caplog: pytest.LogCaptureFixture
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    from botocore.exceptions import EndpointConnectionError

    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(EndpointConnectionError):
        read_s3_bytes("s3://bucket/key")
    lines = retry_lines(caplog)
    assert len(lines) == 3
    assert lines[-1].endswith("; giving up")
