"""Where a registered version comes from, and the rules that follow from it.

:class:`Provenance` is recorded with every version (``manifest.json`` locally, ``metrics.json`` and
``CustomerMetadataProperties`` on SageMaker): the kind of data source (``embedded``, ``file``, ``s3``,
``synthetic``, ``live``), the data's fingerprint and span, the symbols, the sha256 of the sweep and
gate configurations, the code version, the seed and ``shuffle_labels``.

* **Controls never serve.** A version trained on a synthetic market or on shuffled labels is a
  control (:attr:`Provenance.is_control`); it registers under its own group, ``<group>-control``
  (:func:`registration_group`; the registry refuses a control in any other group), and PredictFlow
  refuses to serve a control.
* **Once per content.** :func:`content_key` is the sha256 of the model bytes' sha256, the strategy's
  canonical JSON and the provenance's: registering content that a group already holds returns that
  version (see ``README.md`` in this folder).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from spylib.core.errors import ConfigError

PROVENANCE_FORMAT_VERSION = 1
SOURCE_KINDS = ("embedded", "file", "s3", "synthetic", "live")
CONTROL_SUFFIX = "-control"
GROUP_NAME_MAX = 63


def source_kind(source: str) -> str:
    """The kind of a ``--source`` value: ``embedded``, ``synthetic``, ``live`` (yfinance), ``s3``
    (an ``s3://`` template) or ``file``."""
    from spylib.data.live import LIVE_SOURCE
    from spylib.data.price_files import EMBEDDED
    from spylib.data.synthetic import is_synthetic_source

    if source == EMBEDDED:
        return "embedded"
    if is_synthetic_source(source):
        return "synthetic"
    if source == LIVE_SOURCE:
        return "live"
    return "s3" if source.startswith("s3://") else "file"


def config_sha256(config: Any) -> str:
    """sha256 of a configuration dataclass's canonical JSON (sorted keys)."""
    document = asdict(config) if hasattr(config, "__dataclass_fields__") else config
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Provenance:
    """What trained a version (see the module doc)."""

    source_kind: str
    source: str
    data_fingerprint: str
    first_date: str
    last_date: str
    symbols: tuple[str, ...]
    sweep_config_sha256: str
    gate_config_sha256: str
    code_version: str
    seed: int
    shuffle_labels: bool

    @property
    def is_control(self) -> bool:
        """A synthetic market or shuffled labels: evidence about the method, never a model to serve."""
        return self.source_kind == "synthetic" or self.shuffle_labels

    @property
    def control_reason(self) -> str:
        reasons = [
            *(["a synthetic market"] if self.source_kind == "synthetic" else []),
            *(["shuffled labels"] if self.shuffle_labels else []),
        ]
        return " and ".join(reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provenance_format_version": PROVENANCE_FORMAT_VERSION,
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "provenance") -> Provenance:
        if raw.get("provenance_format_version") != PROVENANCE_FORMAT_VERSION:
            raise ConfigError(
                f"expected {PROVENANCE_FORMAT_VERSION}, got {raw.get('provenance_format_version')!r}",
                source=source,
                key="provenance_format_version",
            )
        missing = [name for name in cls.__dataclass_fields__ if name not in raw]
        if missing:
            raise ConfigError("missing", source=source, key=missing[0])
        if raw["source_kind"] not in SOURCE_KINDS:
            raise ConfigError(f"must be one of {SOURCE_KINDS}", source=source, key="source_kind")
        return cls(
            source_kind=str(raw["source_kind"]),
            source=str(raw["source"]),
            data_fingerprint=str(raw["data_fingerprint"]),
            first_date=str(raw["first_date"]),
            last_date=str(raw["last_date"]),
            symbols=tuple(str(s) for s in raw["symbols"]),
            sweep_config_sha256=str(raw["sweep_config_sha256"]),
            gate_config_sha256=str(raw["gate_config_sha256"]),
            code_version=str(raw["code_version"]),
            seed=int(raw["seed"]),
            shuffle_labels=bool(raw["shuffle_labels"]),
        )

    def describe(self) -> list[str]:
        """The provenance in plain lines (``spy-flow show``)."""
        control = f"yes ({self.control_reason}): never served" if self.is_control else "no"
        return [
            f"data: {self.source_kind} ({self.source}), {self.first_date}..{self.last_date}, "
            f"symbols {' '.join(self.symbols)}",
            f"data fingerprint: {self.data_fingerprint}",
            f"sweep config sha256: {self.sweep_config_sha256}",
            f"gate config sha256: {self.gate_config_sha256}",
            f"code version: {self.code_version}; seed {self.seed}; shuffled labels: "
            f"{'yes' if self.shuffle_labels else 'no'}",
            f"control: {control}",
        ]


def registration_group(group: str, provenance: Provenance | None) -> str:
    """The group a version registers under: ``<group>-control`` for a control (unless ``group`` is
    one already), ``group`` otherwise."""
    if provenance is None or not provenance.is_control or group.endswith(CONTROL_SUFFIX):
        return group
    base = group[: GROUP_NAME_MAX - len(CONTROL_SUFFIX)].rstrip("-")
    return f"{base}{CONTROL_SUFFIX}"


def check_control_group(group: str, provenance: Provenance | None, *, source: str) -> None:
    """ConfigError when a control would register in a group that does not end in ``-control``."""
    if provenance is not None and provenance.is_control and not group.endswith(CONTROL_SUFFIX):
        raise ConfigError(
            f"a control model (trained on {provenance.control_reason}) registers only in a group ending "
            f"in '{CONTROL_SUFFIX}', not {group!r}",
            source=source,
            key="group",
        )


def content_key(model_sha256: str, strategy: Mapping[str, Any], provenance: Provenance) -> str:
    """sha256 of the model bytes' sha256, the strategy's and the provenance's canonical JSON."""
    document = {"model_sha256": model_sha256, "strategy": strategy, "provenance": provenance.to_dict()}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def strategy_metadata(strategy: dict[str, Any]) -> dict[str, str]:
    """The strategy's parameters as SageMaker metadata values (the full JSON is in metrics.json)."""
    sizing = strategy["sizing"]
    return {
        "strategy_model": str(strategy["model"]["config_id"]),
        "strategy_filter": " ".join(strategy["regime_filter"]["columns"]) or "none",
        "strategy_sizing": str(sizing["kind"]),
        "strategy_target_volatility": repr(float(sizing["target_volatility"])),
        "strategy_volatility_window": str(sizing["window"]),
        "strategy_cost_bps": repr(float(strategy["cost_bps"])),
    }


def provenance_metadata(provenance: dict[str, Any], key: str) -> dict[str, str]:
    """The provenance as SageMaker metadata values, and the content key the SageMaker registry looks
    for before it creates a package."""
    return {
        "content_key": key,
        "source_kind": str(provenance["source_kind"]),
        "data_first_date": str(provenance["first_date"]),
        "data_last_date": str(provenance["last_date"]),
        "symbols": " ".join(provenance["symbols"]),
        "sweep_config_sha256": str(provenance["sweep_config_sha256"]),
        "gate_config_sha256": str(provenance["gate_config_sha256"]),
        "seed": str(provenance["seed"]),
        "shuffle_labels": "true" if provenance["shuffle_labels"] else "false",
        "control": "true"
        if provenance["source_kind"] == "synthetic" or provenance["shuffle_labels"]
        else "false",
    }
