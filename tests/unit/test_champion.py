"""Champion and challenger: the comparison, and the three statuses on a local registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spylib.evaluation.champion import (
    TRACK_FILE,
    challenge,
    compare_with_champion,
    read_track_csv,
    registration_status,
    track_csv,
)
from spylib.registry import open_registry
from spylib.registry.protocol import ModelRegistry
from tests.helpers.registry_requests import make_request
from tests.helpers.tracks import RULE, track


def test_the_track_file_round_trips_exactly() -> None:
    t = track(50)
    back = read_track_csv(track_csv(t))
    np.testing.assert_array_equal(back["strategy_net"], t["strategy_net"])
    assert list(back["date"]) == list(t["date"])


def test_a_retrained_model_with_the_same_track_is_not_worse() -> None:
    t = track()
    result = compare_with_champion(t, t, champion_version=1, **RULE)
    assert result.verdict == "not_worse"
    assert result.common_days == 756
    assert registration_status("Approved", result) == "Approved"


def test_an_unrelated_noisy_challenger_is_inconclusive_and_waits_for_a_person() -> None:
    result = compare_with_champion(track(seed=1), track(seed=2), champion_version=3, **RULE)
    assert result.verdict == "inconclusive"
    assert registration_status("Approved", result) == "PendingManualApproval"
    assert registration_status("Rejected", result) == "Rejected"


def test_tracks_that_barely_overlap_cannot_be_compared() -> None:
    result = compare_with_champion(track(300), track(300, start="2016-01-01"), champion_version=1, **RULE)
    assert result.verdict == "too_few_common_days"
    assert result.common_days < 126


@pytest.fixture
def registry_with_champion(tmp_path: Path) -> ModelRegistry:
    registry = open_registry("local", str(tmp_path / "registry"))
    registry.register(make_request("SpyFlow/1", "Approved", extra_files={TRACK_FILE: track_csv(track())}))
    return registry


@pytest.mark.parametrize(
    ("gate", "challenger", "status"),
    [
        ("Rejected", track(), "Rejected"),
        ("Approved", track(), "Approved"),
        ("Approved", track(seed=9), "PendingManualApproval"),
    ],
)
def test_three_outcomes_on_the_local_registry(
    registry_with_champion: ModelRegistry, gate: str, challenger: pd.DataFrame, status: str
) -> None:
    got, comparison = challenge(registry_with_champion, "spy-direction", challenger, gate, **RULE)
    assert got == status
    assert comparison.champion_version == 1


def test_no_champion_yet_means_the_gate_decides(tmp_path: Path) -> None:
    registry = open_registry("local", str(tmp_path / "registry"))
    got, comparison = challenge(registry, "spy-direction", track(), "Approved", **RULE)
    assert got == "Approved"
    assert comparison.verdict == "no_champion"
