"""Choices not decided by a hair: the one-standard-error rule on small synthetic trial matrices, the
stability figure, the seed members of the forests and the DSR's N from the ledger."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from spylib.core.config import GateConfig, ModelSpec
from spylib.evaluation.evidence import selection_inference
from spylib.evaluation.selection import (
    Choice,
    TrialSet,
    activity,
    choice_stability,
    choose_trial,
    refit_choices,
)
from spylib.modelling.models import (
    SEED_MEMBERS,
    fit_model,
    member_probabilities,
    predict_up_probability,
    seed_members,
)

LENIENT = GateConfig(min_trades_per_year=0, min_exposure=0)
DAYS_PER_BLOCK = 250


def trialset(net: np.ndarray) -> TrialSet:
    """A trial set over ``net`` (T x N), always in the market (the activity rule plays no part)."""
    n_rows, n_trials = net.shape
    trials = pd.DataFrame(
        {
            "trial_id": np.arange(n_trials),
            "config_id": [f"cfg-{j}" for j in range(n_trials)],
            "threshold": 0.5,
            "filter": "none",
            "sizing": "long_flat",
            "oof_sr_per_period": net.mean(axis=0) / net.std(axis=0, ddof=1),
        }
    )
    return TrialSet(
        trials=trials,
        rows=np.arange(n_rows),
        block=np.arange(n_rows) // DAYS_PER_BLOCK,
        positions=np.ones_like(net),
        net_returns=net,
        probability=np.full((n_rows, n_trials), 0.5),
        config_of_trial=np.arange(n_trials),
    )


def splits(n_blocks: int, first_traded: int) -> Any:
    """The part of the walk-forward plan the choices read: the traded blocks' indexes."""
    return SimpleNamespace(traded_blocks=[SimpleNamespace(index=i) for i in range(first_traded, n_blocks)])


def market(n_rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0003, 0.01, n_rows)


def twins(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two trials sharing the market and differing by opposite noise of a fifth of its size, of mean
    zero within every block: their Sharpe ratios on any run of blocks differ only through the noise's
    covariance with the market, far less than one standard error of the difference."""
    rng = np.random.default_rng(seed + 1000)
    base = market(n_rows, seed)
    noise = rng.normal(0, 0.002, n_rows).reshape(-1, DAYS_PER_BLOCK)
    noise = (noise - noise.mean(axis=1, keepdims=True)).ravel()
    return base + noise, base - noise


def test_a_tie_goes_to_the_previous_choice() -> None:
    a, b = twins(1000, 1)
    net = np.column_stack([a, b, a - 0.003])  # trial 2: a clear loser
    sets = trialset(net)
    everything = np.ones(1000, dtype=bool)
    plain = choose_trial(sets, everything, "sharpe_net", LENIENT)
    other = 1 - plain.trial_id
    assert plain.trial_id in (0, 1)
    kept = choose_trial(sets, everything, "sharpe_net", LENIENT, previous=other)
    assert kept.trial_id == other
    assert kept.best_trial_id == plain.trial_id
    assert kept.n_indistinguishable == 2
    # With a zero width the rule is the plain argmax again: the hair decides.
    zero = choose_trial(sets, everything, "sharpe_net", LENIENT, previous=other, standard_errors=0.0)
    assert zero.trial_id == plain.trial_id


def test_a_clear_winner_is_still_chosen() -> None:
    a, b = twins(1000, 3)
    # Trial 1 earns 10 bp a day more than trial 0: far beyond one standard error of the difference.
    net = np.column_stack([a, a + 0.001, b])
    choice = choose_trial(trialset(net), np.ones(1000, dtype=bool), "sharpe_net", LENIENT, previous=0)
    assert choice.trial_id == 1
    assert choice.n_indistinguishable == 1


def test_refits_keep_the_previous_choice_until_another_is_clearly_better() -> None:
    a, b = twins(3000, 5)
    # Trials 0 and 1 are twins (the lead between them goes back and forth); trial 2 loses 1 bp a day
    # on blocks 0-7 and gains 8 bp a day from block 8 on: clearly the best by the last refit.
    late = np.where(np.arange(3000) >= 2000, 0.008, -0.001)
    net = np.column_stack([a, b, a + late])
    sets = trialset(net)
    plan = splits(12, 2)
    choices, final = refit_choices(sets, plan, "sharpe_net", LENIENT)
    plain, _ = refit_choices(sets, plan, "sharpe_net", LENIENT, standard_errors=0.0)
    twin_plain = [c.trial_id for c in plain if c.trial_id != 2]
    twin_kept = [c.trial_id for c in choices if c.trial_id != 2]
    assert len(set(twin_plain)) == 2  # without the rule, the lead decides each refit
    assert len(set(twin_kept)) == 1  # with it, the first choice stays while they are tied
    assert choices[-1].trial_id == 2  # the clear winner takes over
    assert final.trial_id == 2


def test_the_stability_figure_counts_choices_changed_by_price_noise() -> None:
    n_rows = 2000
    base = market(n_rows, 6)
    # Trial 1 is flat on a tenth of the days and shifted so that its Sharpe ratio over every block
    # equals trial 0's: the final choice is an exact tie, which price noise breaks either way.
    flat = np.random.default_rng(7).random(n_rows) < 0.1
    masked = np.where(flat, 0.0, base)
    shift = base.mean() / base.std(ddof=1) * masked.std(ddof=1) - masked.mean()
    net = np.column_stack([base, masked + shift, base - 0.003])
    sets = trialset(net)
    sets = TrialSet(
        **{
            **sets.__dict__,
            "positions": np.column_stack([np.ones(n_rows), (~flat).astype(float), np.ones(n_rows)]),
        }
    )
    plan = splits(8, 2)
    plain = choice_stability(sets, plan, base, ("sharpe_net", LENIENT), seed=0, standard_errors=0.0)
    robust = choice_stability(sets, plan, base, ("sharpe_net", LENIENT), seed=0)
    assert plain.replications == robust.replications == 8
    assert plain.final_change_rate > 0.0
    assert robust.final_change_rate == 0.0
    assert robust.to_dict()["final_choice_change_rate"] == 0.0
    assert robust.median_indistinguishable >= 2


def test_a_clear_winner_is_stable_under_noise() -> None:
    base = market(2000, 7)
    net = np.column_stack([base, base + 0.001])
    figure = choice_stability(trialset(net), splits(8, 2), base, ("sharpe_net", LENIENT), seed=1)
    assert figure.refit_change_rate == 0.0
    assert figure.final_change_rate == 0.0


def test_forests_average_seed_members_and_expose_each() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=400) > 0).to_numpy("int8")
    forest = ModelSpec("random_forest", {"n_estimators": 20, "max_depth": 3})
    assert seed_members(forest) == SEED_MEMBERS > 1
    assert seed_members(ModelSpec("logistic", {"C": 1.0})) == 1
    model = fit_model(forest, X, y, seed=3)
    assert len(model.estimators_) == 20 * SEED_MEMBERS
    members = member_probabilities(model, X, SEED_MEMBERS)
    assert members.shape == (400, SEED_MEMBERS)
    np.testing.assert_allclose(members.mean(axis=1), predict_up_probability(model, X), atol=1e-12)
    assert np.ptp(members, axis=1).max() > 0  # the members are different forests
    again = fit_model(forest, X, y, seed=3)  # each averaged model is deterministic
    np.testing.assert_array_equal(predict_up_probability(again, X), predict_up_probability(model, X))


def test_the_ledger_n_deflates_more_and_the_gate_takes_the_lower_effective_dsr() -> None:
    rng = np.random.default_rng(8)
    common = rng.normal(0.0004, 0.01, (1500, 1))
    net = common + rng.normal(0, 0.004, (1500, 40))
    sets = trialset(net)
    best = int(np.argmax(sets.trials["oof_sr_per_period"]))
    choice = Choice(best, 0.0, 40)
    alone = selection_inference(sets, choice)
    counted = selection_inference(sets, choice, ledger_trials=400)
    assert (alone["n_trials"], counted["n_trials"], counted["n_trials_run"]) == (40, 400, 40)
    assert counted["dsr"] < alone["dsr"]
    assert counted["n_trials_effective_cluster"] >= alone["n_trials_effective_cluster"]
    for m in (alone, counted):
        assert m["dsr_effective"] == min(m["dsr_effective_cluster"], m["dsr_effective_eigen"])
        rule_n = (
            m["n_trials_effective_eigen"]
            if m["dsr_effective_rule"] == "eigenvalue"
            else m["n_trials_effective_cluster"]
        )
        assert m["n_trials_effective"] == rule_n


def test_a_run_records_its_seed_spread_and_stability_and_the_card_shows_them() -> None:
    from spylib.core.config import SweepConfig, WalkForwardConfig
    from spylib.evaluation.assessment import AssessmentSettings, assess
    from spylib.features.table import build_features, feature_columns
    from spylib.modelling.scoring import ScoringData, score_configuration
    from spylib.modelling.walk_forward import walk_forward_splits
    from spylib.reporting.robustness import robustness_markdown
    from tests.helpers.synthetic import synthetic_prices

    sweep = SweepConfig(
        models=(
            ModelSpec("random_forest", {"n_estimators": 10, "max_depth": 3, "min_samples_leaf": 20}),
            ModelSpec("logistic", {"C": 0.1}),
        ),
        thresholds=(0.5, 0.55),
        filters=((), ("trend_up",)),
        walk_forward=WalkForwardConfig(min_train_days=250, embargo_days=20, min_selection_blocks=1),
    )
    features = build_features(synthetic_prices(1300, seed=5), "SPY", "QQQ")
    splits = walk_forward_splits(
        list(features["date"]), features["target_up"].notna().to_numpy(), sweep.walk_forward, 1
    )
    results = [
        score_configuration(spec, ScoringData(features, feature_columns(), splits), sweep, 1.0, 7)
        for spec in sweep.models
    ]
    forest, logistic = results
    assert forest.member_probability is not None
    assert forest.member_probability.shape == (len(forest.rows), SEED_MEMBERS)
    assert logistic.member_probability is None
    evidence = assess(
        results, features, splits, AssessmentSettings(sweep, LENIENT, 1.0, 7), ledger_trials=20
    ).evidence
    m = evidence.to_dict()
    assert m["seed_members"] == SEED_MEMBERS
    assert (
        m["seed_track_sharpe_net_min"] <= m["seed_track_sharpe_net_median"] <= m["seed_track_sharpe_net_max"]
    )
    assert 0.0 <= m["seed_p_value_min"] <= m["seed_p_value_max"] <= 1.0
    assert 0.0 <= m["choice_change_rate"] <= 1.0
    assert (m["n_trials"], m["n_trials_run"]) == (20, 8)
    text = robustness_markdown(evidence)
    assert f"averages {SEED_MEMBERS} independently seeded forests" in text
    assert "N = 20;" in text  # no ledger figures on the evidence until the training stage adds them
    import dataclasses

    counted = dataclasses.replace(evidence, ledger_n_trials=20, ledger_run_trials=8, ledger_entries=2)
    assert "N = 20 (8 in this run" in robustness_markdown(counted)
    assert "+-1e-6 relative price error" in text
    median = m["seed_track_sharpe_net_median"]
    assert f"track net Sharpe of {median:.2f} (median" in text  # two decimals, as the card's other figures


def test_prefix_activity_equals_activity_on_the_rows_before_each_refit() -> None:
    """The selection reads trades a year and exposure from cumulative counts; they must equal the
    direct computation on every prefix, exactly (the same integers and divisions)."""
    rng = np.random.default_rng(7)
    positions = (rng.random((300, 6)) < 0.4).astype(float) * rng.choice([0.5, 1.0], size=(300, 6))
    positions[:, 5] = 0.0  # a trial that never trades
    empty = np.zeros((300, 0))
    trialset = TrialSet(pd.DataFrame(), np.arange(300), np.zeros(300, int), positions, positions, empty,
                        np.zeros(6, int))  # fmt: skip
    for n_rows in (1, 2, 57, 300):
        direct = activity(positions[:n_rows])
        prefix = trialset.prefix_activity(n_rows)
        for a, b in zip(direct, prefix, strict=True):
            assert np.array_equal(a, b)
