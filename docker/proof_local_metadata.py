"""Emulator-only (installed by docker/test-layer.Dockerfile, never by docker/Dockerfile).

Stands in, inside the proof's Batch containers, for Metaflow's metadata service.

A real deployment runs Batch tasks with the metadata service (``METAFLOW_DEFAULT_METADATA=service``,
see the README's "AWS Batch" section), where every task can look up its own flow, run, step and task. The
proof has no metadata service: it runs with local metadata, and a Batch container's local metadata
holds no record of the run, step or task it executes (the host created those when it scheduled
the task). Metaflow's card renderer looks its task up through the Client, so without these records
``@card`` fails with "Task(...) does not exist" and no card is saved.

This hook makes ``LocalMetadataProvider.register_task_id`` (called once when a task starts) write
the missing ``_self.json`` records first, dated 1970-01-01: Metaflow copies a container's local
metadata back to the host only where it is newer, so these records never replace the host's own.
It is imported at interpreter start by a ``.pth`` file and patches the class when Metaflow imports it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any

TARGET = "metaflow.plugins.metadata_providers.local"


def patch_local_provider(module: ModuleType) -> None:
    cls = module.LocalMetadataProvider
    original = cls.register_task_id
    if getattr(original, "_spyflow_proof", False):
        return

    def register_task_id(
        self: Any, run_id: Any, step_name: Any, task_id: Any, *args: Any, **kwargs: Any
    ) -> Any:
        for obj_type, ids in (
            ("flow", (None, None, None)),
            ("run", (run_id, None, None)),
            ("step", (run_id, step_name, None)),
            ("task", (run_id, step_name, task_id)),
        ):
            if self._ensure_meta(obj_type, *ids):
                meta_dir = cls._create_and_get_metadir(self._flow_name, *ids)
                os.utime(os.path.join(meta_dir, "_self.json"), (0, 0))
        return original(self, run_id, step_name, task_id, *args, **kwargs)

    register_task_id._spyflow_proof = True  # type: ignore[attr-defined]
    cls.register_task_id = register_task_id


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of TARGET so the class is patched once loaded."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            patch_local_provider(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


if not any(isinstance(f, PatchOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, PatchOnImport())
