"""S3 access for every module: ``s3://`` URI parsing and one client with one endpoint rule and one
timeout and retry budget.

Endpoint rule (the same for the data source, the lake, the SQL engine and the registry's artifacts):
an explicit ``endpoint_url`` argument, else ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (boto3's
own variables), else ``METAFLOW_S3_ENDPOINT_URL`` (so a flow pointed at an S3 emulator for its
datastore reads and writes its data there too), else AWS itself.

Timeouts and retries (environment variables, read each time a client is made):

===============================  =======  ===========================================================
variable                         default  meaning
===============================  =======  ===========================================================
``SPYFLOW_S3_CONNECT_TIMEOUT``   3        seconds to open a connection (per attempt)
``SPYFLOW_S3_READ_TIMEOUT``      10       seconds without a byte from an open connection (per attempt)
``SPYFLOW_S3_MAX_ATTEMPTS``      3        attempts per request, the first included (botocore's
                                          ``standard`` retry mode: timeouts, connection errors,
                                          5xx and throttling are retried)
===============================  =======  ===========================================================

Every failed attempt is logged (logger ``spylib.storage.s3``, WARNING): the operation, the attempt,
the error, and whether it is retried.

The bound of one request: each attempt waits at most ``connect + read`` seconds, plus 1 s for a request
with a body (PutObject: botocore sends ``Expect: 100-continue`` and waits up to a fixed 1 s for the
answer before sending the body); before each retry k the ``standard`` mode sleeps (botocore 1.44)
``random() x min(scale x 2**(k-1), 20)`` with ``scale`` 1 s for throttling and 0.05 s otherwise, raised
to an ``x-amz-retry-after`` header by at most 5 s. So one request takes at most
``attempts x (connect + read + 1) + sum over k < attempts of (min(2**(k-1), 20) + 5)`` seconds
(:func:`request_time_bound`): 55 s with the defaults. An endpoint that accepts the connection and never
answers sends no header and no throttling error: a read fails after about ``attempts x read`` (30 s
with the defaults; measured 30.1 s), a write after ``attempts x (read + 1)`` (33 s; measured 33.2 s).
The connect timeout applies to each
address a host name resolves to; a body that keeps trickling bytes is bounded per read, not in total;
a paginated listing is one request per page.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from spylib.core.errors import ConfigError

log = logging.getLogger(__name__)

S3_SCHEME = "s3://"
ENDPOINT_VARIABLES: tuple[str, ...] = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "METAFLOW_S3_ENDPOINT_URL")
CONNECT_TIMEOUT_VARIABLE = "SPYFLOW_S3_CONNECT_TIMEOUT"
READ_TIMEOUT_VARIABLE = "SPYFLOW_S3_READ_TIMEOUT"
MAX_ATTEMPTS_VARIABLE = "SPYFLOW_S3_MAX_ATTEMPTS"
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_ATTEMPTS = 3
# botocore's standard retry mode: retry k sleeps at most min(2 ** (k - 1), 20) seconds (throttling),
# raised by at most 5 seconds by an x-amz-retry-after header.
_MAX_BACKOFF = 20.0
_RETRY_AFTER_EXTRA = 5.0
# botocore waits up to this long (fixed) for the "100 Continue" of a request with a body.
_EXPECT_CONTINUE_WAIT = 1.0


def is_s3_uri(uri: str) -> bool:
    return uri.startswith(S3_SCHEME)


def split_s3_uri(uri: str, *, source: str = "s3") -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``; anything else is a :class:`ConfigError`."""
    if not is_s3_uri(uri):
        raise ConfigError(f"not an s3:// URI: {uri}", source=source)
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"no bucket in {uri}", source=source)
    return bucket, key


def check_endpoint(value: str, source: str) -> str:
    """An endpoint must be an ``http://`` or ``https://`` URL with a host, else a one-line
    :class:`ConfigError` naming where it came from (boto3 would fail later with a long traceback)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"not an endpoint URL: {value!r} (expected http://HOST[:PORT] or https://HOST[:PORT])",
            source=source,
        )
    return value


def check_endpoint_variables() -> None:
    """Every endpoint variable that is set is a URL (boto3 reads some of them itself, whichever wins)."""
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            check_endpoint(value, f"${name}")


def s3_endpoint(endpoint_url: str | None = None) -> str | None:
    """The endpoint every S3 client of spy-flow uses (see the module docstring); None = AWS. A value
    that is not an http(s) URL is a :class:`ConfigError` naming the variable."""
    if endpoint_url:
        return check_endpoint(endpoint_url, "endpoint_url")
    for name in ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            return check_endpoint(value, f"${name}")
    return None


def _env_number(name: str, default: float, *, integer: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = -1
    if not value > 0 or value == float("inf"):
        kind = "a positive integer" if integer else "a positive number of seconds"
        raise ConfigError(f"must be {kind}, got {text!r}", source=f"${name}")
    return value


def s3_timeouts() -> tuple[float, float, int]:
    """``(connect_timeout, read_timeout, max_attempts)`` from the environment (see the module docstring)."""
    return (
        _env_number(CONNECT_TIMEOUT_VARIABLE, DEFAULT_CONNECT_TIMEOUT),
        _env_number(READ_TIMEOUT_VARIABLE, DEFAULT_READ_TIMEOUT),
        int(_env_number(MAX_ATTEMPTS_VARIABLE, DEFAULT_MAX_ATTEMPTS, integer=True)),
    )


def request_time_bound() -> float:
    """The longest one S3 request can take with the current settings, backoff included (seconds)."""
    connect, read, attempts = s3_timeouts()
    backoff = sum(min(2.0 ** (k - 1), _MAX_BACKOFF) + _RETRY_AFTER_EXTRA for k in range(1, attempts))
    return attempts * (connect + read + _EXPECT_CONTINUE_WAIT) + backoff


def client_config() -> Any:
    """The botocore ``Config`` of every spy-flow AWS client: the timeouts and the retry budget."""
    from botocore.config import Config

    connect, read, attempts = s3_timeouts()
    return Config(
        connect_timeout=connect,
        read_timeout=read,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )


class RetryLogger:
    """A botocore ``needs-retry`` handler that logs every failed attempt, and whether botocore's
    ``standard`` retry mode will retry it (the same conditions; it decides nothing itself)."""

    def __init__(self, max_attempts: int, service: str = "S3") -> None:
        from botocore.retries import standard

        self.max_attempts = max_attempts
        self.service = service
        self._adapter = standard.RetryEventAdapter()
        self._conditions = standard.StandardRetryConditions(max_attempts=max_attempts)

    def __call__(self, **kwargs: Any) -> None:
        exception = kwargs.get("caught_exception")
        response = kwargs.get("response")
        status = response[0].status_code if response is not None else None
        if exception is None and (status is None or status < 400):
            return None
        context = self._adapter.create_retry_context(**kwargs)
        retried = self._conditions.is_retryable(context)
        if exception is None and not retried:
            return None  # an ordinary error answer (404, 403...): the caller reports it
        operation = kwargs["operation"].name if kwargs.get("operation") is not None else "request"
        attempt = int(kwargs.get("attempts", 0))
        error = str(exception) if exception is not None else f"HTTP {status} {context.get_error_code() or ''}"
        log.warning(
            "%s %s attempt %d of %d failed (%s); %s",
            self.service,
            operation,
            attempt,
            self.max_attempts,
            error.strip(),
            "retrying" if retried else "giving up",
        )
        return None


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client on :func:`s3_endpoint`'s endpoint, with the timeouts, retry budget and retry
    log of the module docstring."""
    import boto3  # local import: keeps the library light for local-only users

    config = client_config()
    client = boto3.client("s3", endpoint_url=s3_endpoint(endpoint_url), config=config)
    client.meta.events.register("needs-retry.s3", RetryLogger(config.retries["total_max_attempts"]))
    return client


def read_s3_bytes(uri: str, client: Any | None = None) -> bytes:
    """The whole object at ``uri`` (errors are boto3's: callers say what the object was for)."""
    bucket, key = split_s3_uri(uri)
    body: bytes = (client or s3_client()).get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def write_s3_bytes(uri: str, data: bytes, client: Any | None = None) -> None:
    """One PutObject: S3 makes the object visible all at once (no multipart, no partial object)."""
    bucket, key = split_s3_uri(uri)
    (client or s3_client()).put_object(Bucket=bucket, Key=key, Body=data)


def head_s3_object(uri: str, client: Any | None = None) -> dict[str, Any]:
    """The metadata of the object at ``uri`` (a HEAD request; errors are boto3's)."""
    bucket, key = split_s3_uri(uri)
    head: dict[str, Any] = (client or s3_client()).head_object(Bucket=bucket, Key=key)
    return head


def delete_s3_object(uri: str, client: Any | None = None) -> None:
    bucket, key = split_s3_uri(uri)
    (client or s3_client()).delete_object(Bucket=bucket, Key=key)


def copy_s3_object(source: str, target: str, client: Any | None = None) -> None:
    """A server-side copy (objects up to 5 GB: the lake's files are far smaller)."""
    src_bucket, src_key = split_s3_uri(source)
    bucket, key = split_s3_uri(target)
    (client or s3_client()).copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": src_key}
    )
