"""Expected errors as one clear line: a step's :class:`~spylib.core.errors.SpyFlowError` reaches the
console as its message, without a traceback.

Metaflow prints any other exception of a step as "Internal error" and a 50-line traceback; an exception
derived from its ``MetaflowException`` is printed as a headline and the message alone. Steps decorated
with :func:`one_line_errors` (under ``@step``) turn the errors spy-flow raises on purpose (bad input, bad
settings, a look-ahead, an integrity failure) into that kind; anything else, a bug, keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from spylib.core.errors import SpyFlowError

Step = TypeVar("Step", bound=Callable[..., Any])


@functools.cache
def _step_error_class() -> type[Exception]:
    from metaflow.exception import MetaflowException

    class SpyFlowStepError(MetaflowException):
        headline = "spy-flow stopped"

    return SpyFlowStepError


def one_line_error(exc: SpyFlowError) -> Exception:
    """The Metaflow exception that prints ``exc`` as one line: its qualified class name and message."""
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    return _step_error_class()(f"{kind}: {exc}")


def one_line_errors(step: Step) -> Step:
    """Decorate a flow step (below ``@step``) so its expected errors print as one line."""

    @functools.wraps(step)
    def wrapper(self: Any, *args: Any) -> Any:
        try:
            return step(self, *args)
        except SpyFlowError as exc:
            raise one_line_error(exc) from None

    return wrapper  # type: ignore[return-value]
