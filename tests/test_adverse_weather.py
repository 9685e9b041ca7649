"""Adverse-weather flags (不利气象条件) on constructed weather: winter ventilation and its
fallback, the two-day episode, the summer ozone-favourable flag, and the --risk-out rows."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from aqcast.features.adverse import adverse_flags, ventilation_index
from aqcast.models.risk import RISK_COLUMNS, hindcast_risk, load_adverse_config

CFG = load_adverse_config()
WINTER = date(2015, 12, 1)
SUMMER = date(2015, 7, 1)


def weather(start: date, **cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame(
        {"area": "district", "target_date": [start + timedelta(days=i) for i in range(n)], **cols}
    )


def stagnant(n: int, **over) -> dict:
    base = {
        "wx_wind_speed_mean": [1.2] * n,
        "wx_relative_humidity_mean": [80.0] * n,
        "wx_precipitation_sum": [0.0] * n,
    }
    base.update(over)
    return base


def test_ventilation_coefficient_is_boundary_layer_height_times_wind():
    w = weather(WINTER, wx_boundary_layer_height_max=[500.0, 1000.0], wx_wind_speed_mean=[2.0, 3])
    assert ventilation_index(w, CFG).tolist() == [1000.0, 3000.0]
    assert np.isnan(ventilation_index(weather(WINTER, wx_wind_speed_mean=[1.0]), CFG)).all()


def test_two_stagnant_winter_days_are_an_episode_and_name_their_conditions():
    f = adverse_flags(weather(WINTER, **stagnant(3)), CFG)
    assert f["adverse"].tolist() == [True, True, True]
    assert set(f["adverse_kind"]) == {"winter"}
    # Without a boundary layer, weak wind stands in for the ventilation coefficient.
    assert f["adverse_conditions"].iloc[0] == "weak_wind+no_precipitation+high_humidity"
    assert f["ventilation_index"].isna().all()


def test_a_single_stagnant_day_is_not_an_episode():
    f = adverse_flags(weather(WINTER, **stagnant(3, wx_wind_speed_mean=[1.2, 4.0, 1.2])), CFG)
    assert f["adverse"].tolist() == [False, False, False]


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"wx_wind_speed_mean": [2.0, 2.0]}, "wind of 2 m/s is not weak"),
        ({"wx_precipitation_sum": [1.0, 1.0]}, "1 mm of rain cleans"),
        ({"wx_relative_humidity_mean": [65.0, 65.0]}, "65 % is not above 65"),
    ],
)
def test_each_winter_condition_at_its_boundary(over, why):
    f = adverse_flags(weather(WINTER, **stagnant(2, **over)), CFG)
    assert not f["adverse"].any(), why


def test_the_boundary_layer_decides_when_the_source_has_it():
    low = stagnant(2, wx_wind_speed_mean=[2.5, 2.5], wx_boundary_layer_height_max=[400.0, 400])
    f = adverse_flags(weather(WINTER, **low), CFG)  # 1000 m2/s < 1500 despite 2.5 m/s
    assert f["adverse"].all()
    assert f["adverse_conditions"].iloc[0].startswith("low_ventilation")
    high = stagnant(2, wx_boundary_layer_height_max=[1500.0, 1500])  # 1.2 x 1500 = 1800
    assert not adverse_flags(weather(WINTER, **high), CFG)["adverse"].any()


def test_static_stability_counts_as_supporting_where_available():
    dry = stagnant(2, wx_relative_humidity_mean=[40.0, 40])
    assert not adverse_flags(weather(WINTER, **dry), CFG)["adverse"].any()
    dry["wx_temp_inversion_max"] = [3.0, 3.0]
    f = adverse_flags(weather(WINTER, **dry), CFG)
    assert f["adverse"].all() and "stable" in f["adverse_conditions"].iloc[0]


def test_episodes_do_not_run_across_issue_dates():
    w = pd.concat(
        [
            weather(WINTER, **stagnant(1)).assign(issue_date="a"),
            weather(WINTER + timedelta(days=1), **stagnant(1)).assign(issue_date="b"),
        ],
        ignore_index=True,
    )
    f = adverse_flags(w, CFG, group_columns=("area", "issue_date"))
    assert not f["adverse"].any()


def test_summer_ozone_favourable_weather():
    hot = {
        "wx_temp_air_max": [33.0, 31.9],
        "wx_relative_humidity_mean_h1017": [40.0, 40.0],
        "wx_cloud_cover_mean": [10.0, 10.0],
        "wx_wind_speed_mean": [2.0, 2.0],
    }
    f = adverse_flags(weather(SUMMER, **hot), CFG)
    assert f["adverse"].tolist() == [True, False]  # 31.9 C is not >= 32
    assert f["adverse_kind"].iloc[0] == "summer_ozone"
    assert f["adverse_conditions"].iloc[0] == "high_tmax+low_humidity+sunny+weak_wind"
    cloudy = {**hot, "wx_cloud_cover_mean": [80.0, 80.0]}
    assert not adverse_flags(weather(SUMMER, **cloudy), CFG)["adverse"].any()
    # Too few known inputs: no flag rather than a guess.
    few = {"wx_temp_air_max": [35.0], "wx_wind_speed_mean": [1.0]}
    assert not adverse_flags(weather(SUMMER, **few), CFG)["adverse"].any()


def test_winter_flags_stay_off_in_summer():
    assert not adverse_flags(weather(SUMMER, **stagnant(3)), CFG)["adverse"].any()


def test_hindcast_risk_rows_have_exactly_the_contract_columns():
    table = pd.DataFrame(
        {
            "entity": ["area:district"] * 2 + ["Dongsi"],
            "issue_date": pd.to_datetime(["2015-12-01"] * 3),
            "lead_days": [0, 1, 0],
            "target_date": pd.to_datetime(["2015-12-01", "2015-12-02", "2015-12-01"]),
            **{k: v + [1.0] for k, v in stagnant(2).items()},
        }
    )
    rows = pd.DataFrame(
        {
            "issue_date": ["2015-12-01"] * 2,
            "target_date": ["2015-12-01", "2015-12-02"],
            "lead_days": [0, 1],
            "area": ["district"] * 2,
            "variable": ["aqi"] * 2,
            "q10": [1.0, 1],
            "q50": [2.0, 2],
            "q90": [3.0, 3],
            "p_exceed": [0.25, 0.6],
            "threshold": [200.0, 200],
        }
    )
    r = hindcast_risk(table, rows)
    assert list(r.columns) == RISK_COLUMNS
    assert r["p_heavy"].tolist() == [0.25, 0.6]
    assert r["adverse"].tolist() == [True, True]
    assert r["area"].tolist() == ["district", "district"]
