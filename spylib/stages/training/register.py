"""register: compare with the champion, then register the model with its evidence, the gate's reasons,
the reference profile and the track."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pandas as pd

from spylib.core.jsonio import dumps_strict, to_json_safe
from spylib.core.runtime import code_version
from spylib.stages.settings import TrainingSettings
from spylib.stages.training.artifacts import RegisterResult, TrainingData

if TYPE_CHECKING:
    from spylib.evaluation.evidence import Evidence
    from spylib.evaluation.gate import GateDecision


def run_register(
    bundle: dict[str, Any],
    verdict: tuple[Evidence, GateDecision],
    track: pd.DataFrame,
    data: TrainingData,
    settings: TrainingSettings,
    provenance: Mapping[str, Any],
    *,
    pathspec: str,
    reference_record: pd.DataFrame | None = None,
) -> RegisterResult:
    """Compare with the champion (the latest Approved version), then register with the status that
    follows (see :mod:`spylib.evaluation.champion`), the metrics, the comparison and the track."""
    from spylib.evaluation.champion import TRACK_FILE, challenge, track_csv
    from spylib.monitoring import PROFILE_FILE, reference_profile
    from spylib.registry import RegistrationRequest, open_registry

    evidence, gate = verdict
    target = settings.registry
    registry = open_registry(target.kind, target.location, image_uri=target.image_uri or None)
    rule = settings.gate
    status, comparison = challenge(
        registry,
        target.group,
        track,
        gate.status,
        days=rule.champion_days,
        margin=rule.champion_margin,
        alpha=rule.champion_alpha,
    )
    # Monitoring's reference: the chosen trial's own out-of-sample record (not the track, which mixes
    # the trials chosen at each refit); the track only for a run made before the record existed.
    has_record = reference_record is not None and len(reference_record) > 0
    profile = reference_profile(
        data.features.iloc[data.splits.final_train_rows()],
        list(data.feature_columns),
        record=reference_record if has_record else None,
        test_probability=track["probability"].to_numpy(),
        test_signal=(track["position"].to_numpy() > 0).astype("int8"),
        test_metrics={"hit_rate": evidence.hit_rate, "auc": evidence.auc, "net_sharpe": evidence.sharpe_net},
    )
    request = RegistrationRequest(
        group=target.group,
        bundle=bundle,
        approval_status=status,
        metrics=to_json_safe({**evidence.to_dict(), "champion_comparison": comparison.to_dict()}),
        gate_reasons=gate.reasons,
        run_pathspec=pathspec,
        data_fingerprint=str(provenance["fingerprint"]),
        code_version=code_version(),
        extra_files={PROFILE_FILE: dumps_strict(profile).encode(), TRACK_FILE: track_csv(track)},
        description=f"{settings.data.symbol} next-day direction ({settings.plan.execution}), {pathspec}",
    )
    registration = asdict(registry.register(request))
    print(
        f"registered {registration['group']} v{registration['version']}: {registration['status']} "
        f"(gate {gate.status}; against the champion: {comparison.verdict.replace('_', ' ')})"
    )
    return RegisterResult(registration, comparison.to_dict())
