"""register: compare with the champion, then register the model with its evidence, the gate's reasons,
the reference profile and the track."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.core.jsonio import dumps_strict, to_json_safe
from spylib.core.runtime import code_version
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import RegisterResult, TrainingData

if TYPE_CHECKING:
    from spylib.evaluation.gate import GateDecision
    from spylib.evaluation.record import Evidence
    from spylib.modelling.strategy import ModelBundle
    from spylib.registry.provenance import Provenance


def build_provenance(settings: TrainingSettings, data_provenance: Mapping[str, Any]) -> Provenance:
    """What trained this run's model: the source, the data's fingerprint and span, the symbols, the
    configurations' sha256, the code version, the seed and ``shuffle_labels``."""
    from spylib.registry.provenance import Provenance, config_sha256, source_kind

    return Provenance(
        source_kind=source_kind(settings.data.source),
        source=settings.data.source,
        data_fingerprint=str(data_provenance["fingerprint"]),
        first_date=str(data_provenance["first_date"]),
        last_date=str(data_provenance["last_date"]),
        symbols=(str(data_provenance["symbol"]), str(data_provenance["benchmark"])),
        sweep_config_sha256=config_sha256(settings.plan.sweep),
        gate_config_sha256=config_sha256(settings.gate),
        code_version=code_version(),
        seed=settings.plan.seed,
        shuffle_labels=settings.plan.shuffle_labels,
    )


@dataclass(frozen=True)
class EvaluationVerdict:
    """What the evaluation found, as registration needs it: the evidence, the gate's decision, the
    walk-forward track, and the chosen trial's own out-of-sample record (monitoring's reference; None
    or empty for a run made before the record existed, when the track stands in)."""

    evidence: Evidence
    gate: GateDecision
    track: pd.DataFrame
    reference_record: pd.DataFrame | None = None


def registration_profile(data: TrainingData, verdict: EvaluationVerdict) -> dict[str, Any]:
    """Monitoring's reference profile: the final training window, and the chosen trial's own
    out-of-sample record (not the track, which mixes the trials chosen at each refit); the track's
    predictions and the evidence's figures only for a run made before the record existed."""
    from spylib.monitoring import reference_profile

    evidence, track, record = verdict.evidence, verdict.track, verdict.reference_record
    has_record = record is not None and len(record) > 0
    return reference_profile(
        data.features.iloc[data.splits.final_train_rows()],
        list(data.feature_columns),
        record=record if has_record else None,
        test_probability=track["probability"].to_numpy(),
        test_signal=(track["position"].to_numpy() > 0).astype("int8"),
        test_metrics={"hit_rate": evidence.hit_rate, "auc": evidence.auc, "net_sharpe": evidence.sharpe_net},
    )


def run_register(
    bundle: ModelBundle,
    verdict: EvaluationVerdict,
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    *,
    pathspec: str,
) -> RegisterResult:
    """Compare with the champion (the latest Approved version), then register with the status that
    follows (see :mod:`spylib.evaluation.champion`), the metrics, the comparison, the track and the
    provenance. A control (synthetic data or shuffled labels) registers under ``<group>-control``.
    ``pathspec`` names the origin run (a resumed run's registration is its origin's)."""
    from spylib.evaluation.champion import TRACK_FILE, challenge, track_csv
    from spylib.monitoring import PROFILE_FILE
    from spylib.registry import RegistrationRequest, open_registry
    from spylib.registry.provenance import registration_group

    evidence, gate, track = verdict.evidence, verdict.gate, verdict.track
    target = settings.registry
    origin = build_provenance(settings, provenance)
    group = registration_group(target.group, origin)
    if group != target.group:
        print(f"register: a control ({origin.control_reason}) registers under {group}, never {target.group}")
    registry = open_registry(target.kind, target.location, image_uri=target.image_uri or None)
    rule = settings.gate
    status, comparison = challenge(
        registry,
        group,
        track,
        gate.status,
        days=rule.champion_days,
        margin=rule.champion_margin,
        alpha=rule.champion_alpha,
    )
    profile = registration_profile(data, verdict)
    request = RegistrationRequest(
        group=group,
        bundle=bundle,
        approval_status=status,
        metrics=to_json_safe({**evidence.to_dict(), "champion_comparison": comparison.to_dict()}),
        gate_reasons=gate.reasons,
        run_pathspec=pathspec,
        data_fingerprint=str(provenance["fingerprint"]),
        code_version=origin.code_version,
        extra_files={PROFILE_FILE: dumps_strict(profile).encode(), TRACK_FILE: track_csv(track)},
        description=f"{settings.data.symbol} next-day direction ({settings.plan.execution}), {pathspec}",
        provenance=origin,
    )
    registration = asdict(registry.register(request))
    again = "" if registration["created"] else " (already registered: the same run or the same content)"
    print(
        f"registered {registration['group']} v{registration['version']}{again}: {registration['status']} "
        f"(gate {gate.status}; against the champion: {comparison.verdict.replace('_', ' ')})"
    )
    return RegisterResult(registration, comparison.to_dict())
