"""Test-only fault injection for flow subprocesses (``tests/helpers/flowrun.fault_env`` puts this directory
first on their ``PYTHONPATH``).

Inert unless ``SPYFLOW_FAULT_TARGET`` is set. Then, once the target module is imported, its function
is wrapped so that, while the file ``SPYFLOW_FAULT_MARKER`` exists and the repr of the first argument
contains ``SPYFLOW_FAULT_MATCH`` (if set), a call:

* ``SPYFLOW_FAULT_ACTION=raise`` (default): raises ``RuntimeError("injected fault ...")``;
* ``SPYFLOW_FAULT_ACTION=hold``: writes ``<marker>.reached`` and waits until the marker is removed
  (at most ``SPYFLOW_FAULT_HOLD_SECONDS``, default 300), then runs the real function.

``SPYFLOW_FAULT_TARGET`` is ``module:function``, e.g. ``spylib.stages.training.train:run_train``. The product code
is never edited: the wrapper is installed by an import hook, so no module is imported early.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any


def wrap(function: Any) -> Any:
    marker = Path(os.environ["SPYFLOW_FAULT_MARKER"])
    match = os.environ.get("SPYFLOW_FAULT_MATCH", "")
    action = os.environ.get("SPYFLOW_FAULT_ACTION", "raise")
    hold_seconds = float(os.environ.get("SPYFLOW_FAULT_HOLD_SECONDS", "300"))

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if marker.exists() and (not match or (args and match in repr(args[0]))):
            if action == "raise":
                raise RuntimeError(f"injected fault in {function.__qualname__} for {match or 'every call'}")
            Path(f"{marker}.reached").write_text(str(os.getpid()))
            deadline = time.monotonic() + hold_seconds
            while marker.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        return function(*args, **kwargs)

    return wrapper


class PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, attribute: str) -> None:
        self.loader = loader
        self.attribute = attribute

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        setattr(module, self.attribute, wrap(getattr(module, self.attribute)))


class PatchAfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, attribute: str) -> None:
        self.module = module
        self.attribute = attribute

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = PatchingLoader(spec.loader, self.attribute)
                return spec
        return None


def install() -> None:
    target = os.environ.get("SPYFLOW_FAULT_TARGET", "")
    if target and os.environ.get("SPYFLOW_FAULT_MARKER"):
        module, _, attribute = target.partition(":")
        sys.meta_path.insert(0, PatchAfterImport(module, attribute))


install()
