"""The defaults of a flow's Parameters and Configs, read from the flow class itself (never restated)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from metaflow import Config, FlowSpec, Parameter

from spylib.stages.settings import config_from_text


def load_flow_module(path: Path) -> ModuleType:
    """Import a flow file (``flows/`` is not a package) without running it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the flow file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flow_class(path: Path) -> type[FlowSpec]:
    """The one FlowSpec subclass defined in the flow file ``path``."""
    module = load_flow_module(path)
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, FlowSpec) and value.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{path}: expected one flow class, found {found}"
    return found[0]


def parameter_defaults(flow: type[FlowSpec]) -> dict[str, Any]:
    """``{attribute name: default}`` of every Parameter (not Config) of ``flow``.

    Metaflow resolves a Parameter's keyword arguments in ``init()`` (as its CLI does); the flow's own
    declaration is the only source of the values.
    """
    defaults: dict[str, Any] = {}
    for name, value in vars(flow).items():
        if isinstance(value, Parameter) and not isinstance(value, Config):
            value.init()
            default = value.kwargs["default"]
            # A callable default (wrapped by Metaflow in a DeployTimeField) is resolved when a run
            # starts; the flows' own functions ignore the context Metaflow passes them.
            fun = getattr(default, "fun", None)
            defaults[name] = fun(None) if callable(fun) else default
    return defaults


def config_defaults(flow: type[FlowSpec]) -> dict[str, Path]:
    """``{config name: default file}`` of every Config of ``flow`` (``--config NAME FILE``)."""
    return {
        value.name: Path(str(value.kwargs["default"]))
        for value in vars(flow).values()
        if isinstance(value, Config)
    }


def load_json_config(path: str | Path) -> dict[str, Any]:
    """A config file as a dict, parsed as the flows parse it (``config_from_text``, named by its file)."""
    return config_from_text(Path(path).name, Path(path).read_text(encoding="utf-8"))
