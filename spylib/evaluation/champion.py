"""Champion and challenger: a newly trained model against the one in production, on the same days.

The champion is the latest Approved version. Both carry their walk-forward tracks (daily net returns
of the process that would have traded them); on the days both tracks cover, most recent first up
to ``days``, a non-inferiority test asks whether the challenger's net Sharpe ratio is worse than the
champion's by more than ``margin`` (annualized): H0: SR_challenger - SR_champion <= -margin, the
Ledoit-Wolf HAC standard error of the difference (:func:`spylib.stats.hypothesis.sharpe_difference_test`).

The registration status follows SageMaker's three values:

* ``Rejected`` when the gate fails (the comparison is recorded but changes nothing);
* ``Approved`` when the gate passes and there is no champion, or the challenger is shown not worse;
* ``PendingManualApproval`` when the gate passes but the comparison is inconclusive (or shows the
  challenger worse, or the tracks share too few days): a person decides (``spy-flow approve``).
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from spylib.core.conventions import PERIODS_PER_YEAR
from spylib.stats.hypothesis import sharpe_difference_test
from spylib.stats.performance import sharpe_ratio

if TYPE_CHECKING:
    from spylib.registry.protocol import ModelRegistry

TRACK_FILE = "track.csv"
TRACK_COLUMNS: tuple[str, ...] = ("date", "strategy_net", "buy_and_hold_net")
MIN_OVERLAP_DAYS = 126  # half a year: fewer common days cannot tell two Sharpe ratios apart

Verdict = Literal["no_champion", "not_worse", "inconclusive", "too_few_common_days"]


@dataclass(frozen=True)
class ChampionComparison:
    """The challenger against the champion on their common recent days (the ``champion_comparison``
    artifact, also recorded with the registered version)."""

    verdict: Verdict
    champion_version: int | None
    common_days: int
    start: str | None
    end: str | None
    challenger_sharpe: float  # annualized, net of costs, on the common days
    champion_sharpe: float
    margin: float  # annualized Sharpe the challenger may lose before it counts as worse
    p_value: float  # of H0: the challenger is worse by more than the margin
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def track_csv(track: pd.DataFrame) -> bytes:
    """The track as it is stored with a registered version (date, net returns of model and buy-and-hold)."""
    frame = track[list(TRACK_COLUMNS)].assign(date=pd.to_datetime(track["date"]).dt.strftime("%Y-%m-%d"))
    return frame.to_csv(index=False, float_format="%.17g").encode()


def read_track_csv(data: bytes) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(data))
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.date)


def compare_with_champion(
    challenger: pd.DataFrame,
    champion: pd.DataFrame | None,
    *,
    champion_version: int | None,
    days: int,
    margin: float,
    alpha: float,
) -> ChampionComparison:
    """The non-inferiority test of the module docstring on the last ``days`` common days."""

    def result(
        verdict: Verdict, common: pd.DataFrame | None, a: float, b: float, p: float
    ) -> ChampionComparison:
        n = 0 if common is None else len(common)
        return ChampionComparison(
            verdict, champion_version, n,
            None if not n or common is None else str(common["date"].iloc[0]),
            None if not n or common is None else str(common["date"].iloc[-1]),
            a, b, margin, p, alpha,
        )  # fmt: skip

    if champion is None:
        return result("no_champion", None, math.nan, math.nan, math.nan)
    left = challenger.assign(date=pd.to_datetime(challenger["date"]).dt.date)[["date", "strategy_net"]]
    right = champion.assign(date=pd.to_datetime(champion["date"]).dt.date)[["date", "strategy_net"]]
    common = (
        left.merge(right, on="date", suffixes=("_challenger", "_champion")).sort_values("date").tail(days)
    )
    a = common["strategy_net_challenger"].to_numpy("float64")
    b = common["strategy_net_champion"].to_numpy("float64")
    if len(common) < MIN_OVERLAP_DAYS:
        return result("too_few_common_days", common, math.nan, math.nan, math.nan)
    sr_a, sr_b = sharpe_ratio(a), sharpe_ratio(b)
    test = sharpe_difference_test(a, b, method="hac")
    per_period_margin = margin / math.sqrt(PERIODS_PER_YEAR)
    shifted = test.difference + per_period_margin
    # With se = 0 the tracks are identical (or one a multiple of the other): the difference is exact.
    p = float(sps.norm.sf(shifted / test.se)) if test.se > 0 else float(shifted <= 0)
    verdict: Verdict = "not_worse" if np.isfinite(p) and p <= alpha else "inconclusive"
    return result(verdict, common, sr_a, sr_b, p)


def registration_status(
    gate_status: str, comparison: ChampionComparison
) -> Literal["Approved", "Rejected", "PendingManualApproval"]:
    if gate_status != "Approved":
        return "Rejected"
    if comparison.verdict in ("no_champion", "not_worse"):
        return "Approved"
    return "PendingManualApproval"


def challenge(
    registry: ModelRegistry,
    group: str,
    track: pd.DataFrame,
    gate_status: str,
    *,
    days: int,
    margin: float,
    alpha: float,
) -> tuple[Literal["Approved", "Rejected", "PendingManualApproval"], ChampionComparison]:
    """The status a new version of ``group`` gets, and its comparison with the group's champion (the
    latest Approved version, read through the registry protocol: the same for every target)."""
    champion = registry.latest_approved(group)
    champion_track = None
    if champion is not None and TRACK_FILE in (champion.metadata.get("extra_files") or {}):
        champion_track = read_track_csv(registry.read_extra_file(champion, TRACK_FILE))
    comparison = compare_with_champion(
        track,
        champion_track,
        champion_version=None if champion is None else champion.registration.version,
        days=days,
        margin=margin,
        alpha=alpha,
    )
    if champion is not None and champion_track is None:
        # A champion registered before tracks were recorded cannot be compared: a person decides.
        comparison = replace(comparison, verdict="too_few_common_days")
    return registration_status(gate_status, comparison), comparison
