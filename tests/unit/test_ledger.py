"""The trials ledger: every trial evaluated on the same data counts, concurrent runs lose nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from spylib.core.errors import ConfigError
from spylib.registry.ledger import TrialsLedger, trial_keys


def grid(configs: list[str], thresholds: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"config_id": c, "threshold": t, "filter": "none", "sizing": "long_flat"}
            for c in configs
            for t in thresholds
        ]
    )


def keys(frame: pd.DataFrame) -> list[str]:
    return trial_keys(frame, execution="open_to_open", cost_bps=1.0)


def test_two_runs_with_different_grids_count_both(tmp_path: Path) -> None:
    ledger = TrialsLedger(tmp_path)
    first = ledger.record_and_count("abc123", keys(grid(["rf-a", "rf-b", "lr-a"], [0.5, 0.55])))
    assert (first.n_trials, first.n_run, first.n_entries) == (6, 6, 1)
    # A trimmed grid (rf-b dropped) plus a new configuration: N is the union, 6 + 2.
    second = ledger.record_and_count("abc123", keys(grid(["rf-a", "lr-a", "hgb-a"], [0.5, 0.55])))
    assert (second.n_trials, second.n_run, second.n_entries) == (8, 6, 2)


def test_the_same_grid_again_is_not_counted_twice(tmp_path: Path) -> None:
    ledger = TrialsLedger(tmp_path)
    trials = keys(grid(["rf-a", "lr-a"], [0.5, 0.525, 0.55]))
    ledger.record_and_count("abc123", trials)
    again = ledger.record_and_count("abc123", trials)
    assert (again.n_trials, again.n_entries) == (6, 1)


def test_a_different_cost_or_execution_is_a_different_trial(tmp_path: Path) -> None:
    frame = grid(["rf-a"], [0.5])
    ledger = TrialsLedger(tmp_path)
    ledger.record("abc123", trial_keys(frame, execution="open_to_open", cost_bps=1.0))
    ledger.record("abc123", trial_keys(frame, execution="open_to_open", cost_bps=2.0))
    ledger.record("abc123", trial_keys(frame, execution="close_to_close", cost_bps=1.0))
    assert len(ledger.distinct_trials("abc123")) == 3


def test_a_rolling_window_is_another_set_of_trials_and_expanding_keys_are_unchanged(tmp_path: Path) -> None:
    from spylib.core.config import WalkForwardConfig

    frame = grid(["rf-a", "lr-a"], [0.5, 0.55])
    plain = trial_keys(frame, execution="open_to_open", cost_bps=1.0)
    expanding = trial_keys(frame, execution="open_to_open", cost_bps=1.0, walk_forward=WalkForwardConfig())
    rolling = [
        trial_keys(
            frame, execution="open_to_open", cost_bps=1.0, walk_forward=WalkForwardConfig(scheme="rolling")
        )
        for _ in range(2)
    ]
    longer = trial_keys(
        frame,
        execution="open_to_open",
        cost_bps=1.0,
        walk_forward=WalkForwardConfig(scheme="rolling", rolling_days=2500),
    )
    assert expanding == plain  # ledgers written before the scheme existed keep counting the same trials
    ledger = TrialsLedger(tmp_path)
    ledger.record_and_count("abc123", expanding)
    after_rolling = ledger.record_and_count("abc123", rolling[0])
    assert after_rolling.n_trials == 8  # the grid under a bounded window counts as 4 more trials
    assert ledger.record_and_count("abc123", rolling[1]).n_trials == 8  # the same window again: no more
    assert ledger.record_and_count("abc123", longer).n_trials == 12  # another window: 4 more


def test_a_different_data_fingerprint_has_its_own_ledger(tmp_path: Path) -> None:
    ledger = TrialsLedger(tmp_path)
    ledger.record_and_count("abc123", keys(grid(["rf-a", "rf-b"], [0.5, 0.55])))
    other = ledger.record_and_count("def456", keys(grid(["rf-a"], [0.5])))
    assert (other.n_trials, other.n_entries) == (1, 1)
    assert len(ledger.distinct_trials("abc123")) == 4
    assert (tmp_path / "trials-ledger" / "def456").is_dir()


def test_concurrent_runs_lose_no_entry(tmp_path: Path) -> None:
    ledger = TrialsLedger(tmp_path)
    grids = [keys(grid([f"cfg-{i}"], [0.5, 0.55, 0.6])) for i in range(16)]
    threads = [threading.Thread(target=ledger.record, args=("abc123", g)) for g in grids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ledger.distinct_trials("abc123")) == 48
    assert not [p for p in (tmp_path / "trials-ledger" / "abc123").iterdir() if not p.name.endswith(".json")]


def test_bad_fingerprint_and_missing_columns_fail_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fingerprint"):
        TrialsLedger(tmp_path).record("../escape", ["k"])
    with pytest.raises(ConfigError, match="sizing"):
        trial_keys(
            pd.DataFrame({"config_id": ["a"], "threshold": [0.5], "filter": ["none"]}),
            execution="x",
            cost_bps=1,
        )


def test_the_evaluate_step_counts_every_grid_and_a_negative_control_adds_nothing(tmp_path: Path) -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from spylib.stages.training.evaluate import count_trials

    def settings(shuffle: bool = False, scheme: str = "expanding") -> Any:
        from spylib.core.config import WalkForwardConfig

        return SimpleNamespace(
            registry=SimpleNamespace(location=str(tmp_path / "registry")),
            plan=SimpleNamespace(
                execution="open_to_open",
                shuffle_labels=shuffle,
                seed=42,
                sweep=SimpleNamespace(walk_forward=WalkForwardConfig(scheme=scheme)),
            ),
            data=SimpleNamespace(source="embedded"),
            cost_bps=1.0,
        )

    def results(configs: list[str]) -> Any:
        return cast(Any, [SimpleNamespace(trials=grid([c], [0.5, 0.55])) for c in configs])

    provenance = {"fingerprint": "062fc3d3bf1d969a"}
    assert count_trials(results(["rf-a", "lr-a"]), settings(), provenance)["ledger_n_trials"] == 4
    assert count_trials(results(["lr-a", "hgb-a"]), settings(), provenance)["ledger_n_trials"] == 6
    control = count_trials(results(["shuffled-x"]), settings(shuffle=True), provenance)
    assert control["ledger_n_trials"] == 8  # the ledger's six and its own two
    assert count_trials(results(["lr-a"]), settings(), provenance)["ledger_n_trials"] == 6  # nothing added
    # the first grid again, on a rolling window: its own trials
    assert (
        count_trials(results(["rf-a", "lr-a"]), settings(scheme="rolling"), provenance)["ledger_n_trials"]
        == 10
    )
