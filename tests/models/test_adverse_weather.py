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


def test_the_outlook_extends_the_risk_frame_to_seven_days():
    from aqcast.models.risk import with_outlook

    risk = pd.DataFrame(
        {
            "area": ["district"] * 4,
            "target_date": [WINTER + timedelta(days=i) for i in range(4)],
            "p_heavy": [0.1, 0.2, 0.3, 0.4],
            "stagnation_index": [0.0] * 4,
            "stagnation": [False] * 4,
        }
    )
    # Stagnant on days 3-4 (D+3, D+4): an episode that spans the end of the leads.
    wind = [3.0, 3.0, 3.0, 1.0, 1.0, 3.0, 3.0]
    w = weather(WINTER, **stagnant(7, wx_wind_speed_mean=wind))
    out = with_outlook(risk, w)
    assert len(out) == 7
    assert out["adverse"].tolist() == [False, False, False, True, True, False, False]
    assert out["p_heavy"].iloc[:4].tolist() == [0.1, 0.2, 0.3, 0.4]
    assert out["p_heavy"].iloc[4:].isna().all()
    assert with_outlook(risk, pd.DataFrame()) is risk


@pytest.mark.slow
def test_outlook_weather_reads_only_forecasts_issued_before_the_issue_time(sqlite_url):
    from aqcast.features.feature_table import load_feature_spec
    from aqcast.models.inputs import issue_time_utc
    from aqcast.models.risk import with_outlook
    from aqcast.service.configured import configured_areas
    from aqcast.service.ingest import ingest_frame
    from aqcast.service.ingest.weather import ingest_met_forecasts
    from aqcast.service.model_inputs import outlook_weather
    from aqcast.service.settings import get_settings
    from aqcast.service.store import engine_for
    from aqcast.synthetic import QuirkRates, synthetic_network

    settings = get_settings()
    engine = engine_for(sqlite_url)
    net = synthetic_network(2, "2015-11-20", "2015-11-30", seed=3, quirks=QuirkRates(0, 0, 0, 0, 0))
    ingest_frame(
        engine,
        net.hourly,
        source="test",
        file_label="synthetic",
        stations=net.stations[["station", "name", "lat", "lon"]],
        refresh_daily=False,
        tz=settings.timezone,
    )
    issue = date(2015, 12, 1)
    cutoff = issue_time_utc(issue, settings.timezone, settings.issue_time)
    valid = pd.date_range(
        pd.Timestamp("2015-12-01", tz=settings.timezone), periods=7 * 24, freq="h"
    ).tz_convert("UTC")
    day = (
        valid.tz_convert(settings.timezone).normalize()
        - pd.Timestamp("2015-12-01", tz=settings.timezone)
    ).days
    calm = np.isin(day, [4, 5])  # D+4 and D+5: shallow, calm, humid
    frames = []
    for st in net.stations["station"]:
        frames.append(
            pd.DataFrame(
                {
                    "station": st,
                    "issued_at": cutoff - pd.Timedelta(hours=7),
                    "valid_at": valid,
                    "wind_speed": np.where(calm, 1.5, 5.0),
                    "relative_humidity": np.where(calm, 85.0, 40.0),
                    "precipitation": 0.0,
                    "boundary_layer_height": np.where(calm, 300.0, 1500.0),
                }
            )
        )
    met = pd.concat(frames, ignore_index=True)
    ingest_met_forecasts(engine, met, source="test", file_label="early")
    late = met.assign(issued_at=cutoff, wind_speed=0.5, boundary_layer_height=100.0)
    ingest_met_forecasts(engine, late, source="test", file_label="late")
    w = outlook_weather(
        engine,
        issue,
        spec=load_feature_spec(),
        tz=settings.timezone,
        issue_time=settings.issue_time,
        areas=configured_areas(),
        met="stored",
    )
    w = w[w["area"] == "district"].reset_index(drop=True)
    assert [d.day for d in w["target_date"]] == list(range(1, 8))
    out = with_outlook(pd.DataFrame(), w)
    assert out["adverse"].tolist() == [False] * 4 + [True, True, False]
    assert out["ventilation_index"].iloc[4] == pytest.approx(300 * 1.5)  # the early issue
    assert out["adverse_conditions"].iloc[4].startswith("low_ventilation")
