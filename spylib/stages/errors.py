"""Expected errors as one clear line: a step's :class:`~spylib.core.errors.SpyFlowError` reaches the
console as its message, without a traceback.

Metaflow prints any other exception of a step as "Internal error" and a 50-line traceback; an exception
derived from its ``MetaflowException`` is printed as a headline and the message alone. Every step of
both flows carries ``one_line_step_errors`` (:mod:`spylib.stages.flow_decorators`, applied by the flows'
mutator), which turns the errors spy-flow raises on purpose (bad input, bad settings, a look-ahead, an
integrity failure) into that kind with :func:`one_line_error`; anything else, a bug, keeps its traceback.
"""

from __future__ import annotations

import functools

from spylib.core.errors import SpyFlowError


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
