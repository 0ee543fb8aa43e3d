"""PredictFlow end to end: twice on one day, once on the next (its Step Functions deployment on moto is
``tests/aws/test_predict_flow.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.cards import card_payloads
from tests.helpers.flowrun import task_of
from tests.helpers.predict_flow import DAY, NEXT_DAY, register_approved_model, run_predict_flow


def daily_rows(lake: Path) -> pd.DataFrame:
    from spylib.storage.lake import read_table

    return read_table("predictions", str(lake), [("segment", "=", "daily")])


def test_predict_flow_twice_on_one_day_then_the_next_day(tmp_path: Path, session_root: Path) -> None:
    register_approved_model(tmp_path / "registry")

    first = run_predict_flow(tmp_path, DAY)
    after_first = daily_rows(tmp_path / "lake")
    assert after_first["date"].dt.date.astype(str).tolist() == [DAY]
    assert pd.isna(after_first["target_up"].iloc[0])
    p_first = float(task_of(first, "predict")["prediction"].data["probability"].iloc[0])
    assert after_first["probability"].iloc[0] == p_first
    assert after_first["model_version"].iloc[0] == "spy-direction/v1"
    assert after_first["run_id"].iloc[0] == first.id

    second = run_predict_flow(tmp_path, DAY)
    assert task_of(second, "predict")["lake_files"].data == []  # nothing new to write
    pd.testing.assert_frame_equal(daily_rows(tmp_path / "lake"), after_first)  # no duplicate row

    third = run_predict_flow(tmp_path, NEXT_DAY, replay_days=30)
    table = daily_rows(tmp_path / "lake")
    assert table["date"].dt.date.astype(str).tolist() == [DAY, NEXT_DAY]
    # the day's outcome is filled from the next close; its first probability is kept
    assert table["target_up"].iloc[0] in (0, 1)
    assert pd.notna(table["fwd_return"].iloc[0])
    assert (table["target_up"].iloc[0] == 1) == (table["fwd_return"].iloc[0] > 0)
    assert table["probability"].iloc[0] == p_first
    assert table["run_id"].iloc[0] == first.id
    assert pd.isna(table["target_up"].iloc[1])
    assert table["run_id"].iloc[1] == third.id

    monitor = task_of(third, "monitor")
    monitoring = monitor["monitoring"].data
    assert monitoring["status"] in ("ok", "warn", "alert")
    assert monitor["monitoring_status"].data == monitoring["status"]
    names = {c["name"] for c in monitoring["checks"]}
    assert "drift:rsi_14" in names
    assert "performance:hit_rate_60" in names
    assert "health:predict:seconds" in names
    # pipeline health read back from this run and the two earlier ones
    stats, history = monitor["step_stats"].data, monitor["step_history"].data
    assert set(stats["step"]) == {"start", "ingest", "predict"}
    assert (stats["seconds"] > 0).all()
    assert {first.id, second.id} <= set(history["run_id"])
    assert (history["peak_rss_mb"] > 0).all()
    assert monitor["monitored_predictions"].data["segment"].tolist() == ["replay"] * 30 + ["daily"] * 2
    # the PNGs and monitoring.json beside the predictions
    out = tmp_path / "out" / "predictions" / f"run_id={third.id}"
    for name in ("drift", "performance", "probability", "step_durations"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "monitoring.json").read_text())["status"] == monitoring["status"]
    assert pd.read_csv(out / "predictions.csv")["date"].tolist() == [DAY, NEXT_DAY]
    # The card is written into the session datastore (the card client looks elsewhere when the
    # datastore root is moved, as the tests do): read the HTML file and decode its embedded data.
    pattern = f"**/{third.id}/steps/monitor/tasks/{monitor.id}/cards/*-monitoring-*.html"
    cards = list(session_root.glob(pattern))
    assert len(cards) == 1
    text = "\n".join(card_payloads(cards[0].read_text()))
    assert "Daily inference and monitoring" in text
    assert "Drift per feature (PSI)" in text
    assert text.count("data:image/png;base64") >= 4  # the four figures
    assert "MONITORING" in task_of(third, "end")["message"].data


def files_that_need_the_data_checks_config(directory: Path) -> str:
    """SPY's file starts 400 rows before QQQ's (trimmed to the common span, whatever the config) and QQQ's
    lacks every other day for 320 days of the span (160 of SPY's 2000 dates there: 8%, more than the
    default 5% of ``max_dropped_share``): files that need ``{"max_dropped_share": 0.1}``."""
    from tests.helpers.price_files import write_pair

    template = write_pair(directory, 2400, start="2009-01-05", cut={"QQQ": (400, 0)})
    qqq = Path(template.format(symbol_lower="qqq"))
    lines = qqq.read_text().splitlines()
    qqq.write_text(
        "\n".join(line for i, line in enumerate(lines) if not (100 <= i < 420 and i % 2 == 0)) + "\n"
    )
    return template


def test_files_spy_flow_accepts_with_a_config_predict_flow_accepts_with_it(tmp_path: Path) -> None:
    from metaflow import Runner

    from spylib.core.errors import DataValidationError
    from spylib.stages.daily import run_ingest as daily_ingest
    from spylib.stages.settings import build_daily_settings, build_training_settings
    from spylib.stages.training.ingest import run_ingest as training_ingest
    from tests.helpers.flow_defaults import config_defaults, flow_class, load_json_config, parameter_defaults
    from tests.helpers.flowrun import finished, runner_cwd
    from tests.helpers.metaflow_env import flow_env, output_params
    from tests.helpers.paths import FLOW_FILE, PREDICT_FLOW

    template = files_that_need_the_data_checks_config(tmp_path / "files")
    config = tmp_path / "data_checks.json"
    config.write_text(json.dumps({"max_dropped_share": 0.1}))
    checks = load_json_config(config)

    # SpyFlow's ingest: refused with the shipped rules, accepted with the config
    spy = flow_class(FLOW_FILE)
    defaults = {
        **parameter_defaults(spy),
        **{n: load_json_config(p) for n, p in config_defaults(spy).items()},
    }
    training = {**defaults, **output_params(tmp_path), "source": template, "sweep": defaults["sweep"]}
    shipped = build_training_settings(**training)
    with_config = build_training_settings(**{**training, "data_checks": checks})
    assert len(training_ingest(with_config, "spy").prices) == 2 * 1840
    with pytest.raises(DataValidationError) as refused:
        training_ingest(shipped, "spy")
    refusal = str(refused.value)
    assert "max_dropped_share" in refusal

    # PredictFlow's ingest: the same refusal with the same rules, and the run accepts them with the config
    predict = flow_class(PREDICT_FLOW)
    daily = {**parameter_defaults(predict), **output_params(tmp_path), "source": template}
    daily = {k: v for k, v in daily.items() if k in {*parameter_defaults(predict)}}
    with pytest.raises(DataValidationError) as refused_daily:
        daily_ingest(build_daily_settings(**daily))
    assert str(refused_daily.value) == refusal
    assert len(daily_ingest(build_daily_settings(**daily, data_checks=checks)).prices) == 2 * 1840

    register_approved_model(tmp_path / "registry")
    with Runner(
        str(PREDICT_FLOW), show_output=False, env=flow_env(), cwd=runner_cwd(), pylint=False,
        config=[("data_checks", str(config))],
    ) as runner:  # fmt: skip
        result = finished(runner.run(max_workers=1, **output_params(tmp_path), source=template))
    assert result.status == "successful", result.stderr
    assert task_of(result.run, "start")["settings"].data.data_checks.max_dropped_share == 0.1
    assert daily_rows(tmp_path / "lake")["date"].dt.date.tolist() == [
        max(training_ingest(with_config, "spy").prices["date"])
    ]
