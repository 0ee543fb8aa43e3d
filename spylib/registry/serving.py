"""SageMaker's inference-container contract for a spy-flow model: a WSGI app, served by gunicorn.

``docker run IMAGE serve`` (what SageMaker runs, for an endpoint and for a Batch Transform) starts
:func:`serve`: gunicorn on port 8080 (``SAGEMAKER_BIND_TO_PORT``) with
``SAGEMAKER_MODEL_SERVER_WORKERS`` sync workers (default: one per CPU) and a
``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (default 60 s), serving :class:`InferenceApp` over the model
SageMaker unpacked at ``/opt/ml/model``:

* ``GET /ping``: 200 with a small JSON description once the model is loaded (it is loaded before
  gunicorn forks its workers, so a model that cannot be served stops the container at start, with
  the reason in its log, instead of failing every request);
* ``POST /invocations``: ``text/csv`` or ``application/json`` in and out (the handlers of
  ``code/inference.py`` in the model, the file :mod:`spylib.registry.inference` ships; this image's
  copy when the model has none), at most ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` (default 6, Batch
  Transform's default; 0 = no limit) per request;
* ``GET /execution-parameters``: what a Batch Transform asks a container for (MultiRecord batches,
  one concurrent transform per worker, the payload limit).

A request that cannot be scored gets a 4xx JSON ``{"error": ..., "status": ...}`` naming the problem
(400 unreadable or incomplete rows, 406 Accept, 413 size, 415 Content-Type, 404/405); an unexpected
error is a 500 whose body names only the exception type (the traceback goes to the container log).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from spylib.core.errors import ConfigError
from spylib.registry import inference

DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MAX_PAYLOAD_MB = 6
MIB = 1024 * 1024
DRAIN_LIMIT_BYTES = 64 * MIB  # an oversized body is read (and dropped) up to this, so the client sees the 413
READ_CHUNK_BYTES = 1 << 16
HTTP_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}
ROUTES: dict[str, tuple[str, ...]] = {
    "/ping": ("GET",),
    "/execution-parameters": ("GET",),
    "/invocations": ("POST",),
}

StartResponse = Callable[..., Any]


class HttpError(Exception):
    """An answer other than 200, with the status and the message the JSON body carries."""

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


@dataclass(frozen=True)
class ServerSettings:
    """What the container reads from the environment SageMaker sets (see :meth:`from_env`)."""

    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB
    default_accept: str | None = None
    program: str = "inference.py"
    submit_directory: str = ""

    @property
    def max_payload_bytes(self) -> int:
        """The largest request body accepted, in bytes (MB are MiB, as SageMaker counts them); 0 = any."""
        return self.max_payload_mb * MIB

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        """``SAGEMAKER_BIND_TO_PORT`` (8080), ``SAGEMAKER_MODEL_SERVER_WORKERS`` (the CPUs this
        process may use), ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (60 s), ``SAGEMAKER_MAX_PAYLOAD_IN_MB``
        (6; 0 = no limit), ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (the request's own type),
        ``SAGEMAKER_PROGRAM`` and ``SAGEMAKER_SUBMIT_DIRECTORY`` (where the handlers are). A malformed
        value is a ConfigError naming the variable."""
        env = os.environ if env is None else env
        default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "").strip() or None
        if (
            default_accept is not None
            and inference.media_type(default_accept, "") not in inference.MEDIA_TYPES
        ):
            raise ConfigError(
                f"must be one of {inference.MEDIA_TYPES}, got {default_accept!r}",
                source="environment",
                key="SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
            )
        return cls(
            port=int_setting(env, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            workers=int_setting(env, "SAGEMAKER_MODEL_SERVER_WORKERS", usable_cpus(), minimum=1),
            timeout_seconds=int_setting(
                env, "SAGEMAKER_MODEL_SERVER_TIMEOUT", DEFAULT_TIMEOUT_SECONDS, minimum=1
            ),
            # An integer, as SageMaker sets it (a transform job's MaxPayloadInMB); 0: no limit.
            max_payload_mb=int_setting(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", DEFAULT_MAX_PAYLOAD_MB, minimum=0),
            default_accept=inference.media_type(default_accept, "") if default_accept else None,
            program=env.get("SAGEMAKER_PROGRAM", "").strip() or "inference.py",
            submit_directory=env.get("SAGEMAKER_SUBMIT_DIRECTORY", "").strip(),
        )


def usable_cpus() -> int:
    """The CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def int_setting(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    """``env[name]`` as an integer within bounds (``default`` when unset or empty); ConfigError naming it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise ConfigError(f"must be an integer {bounds}, got {raw!r}", source="environment", key=name)
    return value


def load_handlers(model_dir: str | Path, settings: ServerSettings) -> ModuleType:
    """The model's own handlers, as the SageMaker scikit-learn container finds them:
    ``SAGEMAKER_PROGRAM`` in ``SAGEMAKER_SUBMIT_DIRECTORY`` (a local directory; otherwise, and by
    default, ``<model_dir>/code``); :mod:`spylib.registry.inference` when the model has no such file."""
    directory = Path(settings.submit_directory or Path(model_dir) / "code")
    if "://" in settings.submit_directory or not directory.is_dir():
        directory = Path(model_dir) / "code"
    path = directory / settings.program
    if not path.is_file():
        return inference
    spec = importlib.util.spec_from_file_location("spyflow_model_inference", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}", source="model", key="SAGEMAKER_PROGRAM")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("model_fn", "input_fn", "predict_fn", "output_fn"):
        if not callable(getattr(module, name, None)):
            raise ConfigError(f"{path} defines no {name}()", source="model", key="SAGEMAKER_PROGRAM")
    return module


class InferenceApp:
    """The WSGI app: ``/ping``, ``/invocations`` and ``/execution-parameters`` over one loaded model.

    The model is loaded (and checked against this process's scikit-learn) when the app is made; a
    model that cannot be served raises here, never on a request.
    """

    def __init__(
        self,
        model_dir: str | Path = DEFAULT_MODEL_DIR,
        settings: ServerSettings | None = None,
        handlers: ModuleType | None = None,
    ) -> None:
        self.model_dir = str(model_dir)
        self.settings = settings or ServerSettings.from_env()
        self.handlers = handlers or load_handlers(self.model_dir, self.settings)
        self.model = self.handlers.model_fn(self.model_dir)
        self.notes = inference.check_runtime(
            self.model, source=os.path.join(self.model_dir, inference.MODEL_FILE)
        )
        self.description = {
            "status": "healthy",
            "symbol": self.model.get("symbol"),
            "label_convention": self.model.get("label_convention"),
            "threshold": float(self.model["threshold"]),
            "columns": inference.model_columns(self.model),
            "pickled_with": self.model.get(inference.PICKLED_WITH),
            "serving_with": inference.runtime_versions(),
            "notes": self.notes,
        }

    # ---- WSGI ----
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, content_type, body, extra = self.route(environ)
        except HttpError as exc:
            status, content_type, extra = exc.status, inference.JSON, exc.headers
            body = error_body(exc.status, exc.message)
            log(environ, f"{environ.get('PATH_INFO', '')}: {exc.status} {exc.message}")
        except Exception as exc:  # a bug, not a bad request: the log gets the traceback, the client does not
            log(environ, traceback.format_exc())
            status, content_type, extra = 500, inference.JSON, []
            body = error_body(
                500, f"internal error while serving ({type(exc).__name__}); see the container log"
            )
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        start_response(f"{status} {HTTP_REASONS.get(status, '')}".strip(), headers)
        return [body]

    def route(self, environ: Mapping[str, Any]) -> tuple[int, str, bytes, list[tuple[str, str]]]:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        allowed = ROUTES.get(path)
        if allowed is None:
            raise HttpError(404, f"no such path {path!r}: use GET /ping or POST /invocations")
        if method not in allowed:
            raise HttpError(
                405, f"{path} takes {' or '.join(allowed)}, not {method}", [("Allow", ", ".join(allowed))]
            )
        if path == "/ping":
            return 200, inference.JSON, json.dumps(self.description).encode(), []
        if path == "/execution-parameters":
            return 200, inference.JSON, json.dumps(self.execution_parameters()).encode(), []
        return self.invocations(environ)

    def execution_parameters(self) -> dict[str, Any]:
        """The Batch Transform settings this container prefers (SageMaker asks before a job when the
        job does not set them): MultiRecord mini-batches, a transform per worker, the payload limit."""
        return {
            "MaxConcurrentTransforms": self.settings.workers,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": self.settings.max_payload_mb,
        }

    def invocations(self, environ: Mapping[str, Any]) -> tuple[int, str, bytes, list[tuple[str, str]]]:
        content_type = environ.get("CONTENT_TYPE") or None
        request_kind = inference.media_type(content_type, inference.CSV)
        body = read_body(environ, self.settings.max_payload_bytes)  # first: an unread body resets the client
        try:
            if request_kind not in inference.MEDIA_TYPES:
                raise inference.UnsupportedMediaType(
                    f"unsupported content type {content_type!r}: send {inference.CSV} or {inference.JSON}"
                )
            answer_kind = inference.choose_accept(
                environ.get("HTTP_ACCEPT"), self.settings.default_accept or request_kind
            )
            if not body.strip():
                raise inference.RequestError(f"the request body is empty: send {request_kind} rows to score")
            frame = self.handlers.input_fn(body, request_kind)
            prediction = self.handlers.predict_fn(frame, self.model)
            text, out_type = self.handlers.output_fn(prediction, answer_kind)
        except ValueError as exc:  # RequestError and its kinds, and a ValueError from the estimator
            raise HttpError(int(getattr(exc, "status", 400)), str(exc)) from exc
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return 200, str(out_type), data, []


def read_body(environ: Mapping[str, Any], limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (0: any); HttpError 413 beyond it (the body is
    drained first, up to a bound, so the client reads the answer instead of a reset connection)."""
    stream = environ["wsgi.input"]
    raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise HttpError(400, f"invalid Content-Length {raw_length!r}") from None
        if length < 0:
            raise HttpError(400, f"invalid Content-Length {raw_length!r}")
        if limit and length > limit:
            drain(stream, min(length, DRAIN_LIMIT_BYTES))
            raise HttpError(413, too_large(length, limit))
        return bytes(stream.read(length)) if length else b""
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and no chunked framing: PEP 3333 allows no read at all
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(READ_CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if limit and size > limit:
            drain(stream, DRAIN_LIMIT_BYTES - size)
            raise HttpError(413, too_large(size, limit, at_least=True))
    return b"".join(chunks)


def drain(stream: Any, budget: int) -> None:
    while budget > 0 and (chunk := stream.read(min(READ_CHUNK_BYTES, budget))):
        budget -= len(chunk)


def too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    return (
        f"request body of {'more than ' if at_least else ''}{size} bytes exceeds the limit of {limit} bytes "
        f"({limit / MIB:g} MB, SAGEMAKER_MAX_PAYLOAD_IN_MB): split it into smaller requests"
    )


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}).encode()


def log(environ: Mapping[str, Any], message: str) -> None:
    stream = environ.get("wsgi.errors") or sys.stderr
    stream.write(message.rstrip("\n") + "\n")
    stream.flush()


# --- the server ------------------------------------------------------------------------------------
def gunicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """gunicorn's settings for the contract: every interface on the port, sync workers (one request
    each at a time, killed and replaced past the timeout), the app loaded before the fork, logs on
    stdout/stderr (CloudWatch), no control socket."""
    return {
        "bind": [f"0.0.0.0:{settings.port}"],
        "workers": settings.workers,
        "worker_class": "sync",
        "timeout": settings.timeout_seconds,
        "graceful_timeout": settings.timeout_seconds,
        "preload_app": True,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "spy-flow-serve",
        "control_socket_disable": True,
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
    }


def serve(model_dir: str = DEFAULT_MODEL_DIR, env: Mapping[str, str] | None = None) -> int:
    """Load the model, then run gunicorn in the foreground until SIGTERM (returns its exit status)."""
    from gunicorn.app.base import BaseApplication  # the `serve` extra: only the server needs it

    try:
        settings = ServerSettings.from_env(env)
        app = InferenceApp(model_dir, settings)
    except (ValueError, OSError) as exc:  # ConfigError is a ValueError; so is a version mismatch
        print(f"spy-flow serve: cannot serve the model in {model_dir}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"spy-flow serve: {json.dumps(app.description)}", flush=True)
    options = {k: v for k, v in gunicorn_options(settings).items() if v is not None}

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> InferenceApp:
            return app

    Server().run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="serve", description="SageMaker's inference-container contract for a spy-flow model."
    )
    parser.add_argument("command", choices=["serve"], help="what SageMaker runs: `docker run IMAGE serve`")
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="the unpacked model.tar.gz")
    args = parser.parse_args(argv)
    return serve(args.model_dir)


if __name__ == "__main__":
    sys.exit(main())
