"""A small, complete store for the API and page tests, inserted straight into the tables.

Issue date ``DAY`` (2015-06-15) is an ozone day: two runs (the second is the one to show),
a district forecast of O3 MDA8 above the 160 ug/m3 limit with hourly O3 and a critical value
of 187 ug/m3, two staggered-operation advisories, an orange warning in force, and the prompt
the engine would publish with them (built by ``alerts.prompt.build_prompt`` from the stored
run, stored as ``service.publishing`` stores it). The three days before it have forecasts
(MDA8 below the limit) and observed daily statistics so that verification has pairs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from starlette.exceptions import StarletteDeprecationWarning

from aqcast.features.nomenclature import OBS_VARIABLES, THRESHOLDS
from aqcast.service.auth import create_key
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import (
    AlertEvent,
    DailyStat,
    FeedStatus,
    ForecastRun,
    ForecastValue,
    ModelVersion,
    Observation,
    Station,
    WarningState,
)

with warnings.catch_warnings():
    # starlette asks for the httpx2 fork; httpx works the same for in-process tests
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

DAY = date(2015, 6, 15)
NOW = datetime(2015, 6, 15, 0, 30, tzinfo=UTC)  # 08:30 in Beijing
CRITICAL = 187.0
STATIONS = [
    ("Dongsi", "Dongsi", "东四", 39.929, 116.417),
    ("Tiantan", "Tiantan", "天坛", 39.886, 116.407),
    ("Guanyuan", "Guanyuan", "官园", 39.929, 116.339),
]
VARS = {"o3_mda8": 150.0, "o3_1h_max": 190.0, "pm25_24h": 60.0, "aqi": 120.0}
# DAY's runs forecast O3 MDA8 this much higher (170 + 5 * lead ug/m3, P(> 160) 0.65): the
# trigger of the day's advisories passes, as it must for the advisories seeded on DAY.
DAY_O3_MDA8_EXTRA = 20.0
DAY_O3_P_EXCEED = 0.65


@dataclass
class Keys:
    officer: str
    dispatcher: str
    enterprise: str
    admin: str
    revoked: str


def o3_profile(hour: int) -> float:
    """A summer diurnal O3 shape peaking at 15 h. [ug/m3]"""
    return 40.0 + 150.0 * max(0.0, 1 - abs(hour - 15) / 8.0)


def forecast_values(run_id: int, issue: date, bump: float = 0.0) -> list[ForecastValue]:
    rows = []
    for lead in range(4):
        target = issue + timedelta(days=lead)
        for var, base in VARS.items():
            ozone_day = issue == DAY and var == "o3_mda8"
            q50 = base + bump + 5 * lead + (DAY_O3_MDA8_EXTRA if ozone_day else 0.0)
            for area, station in [("district", ""), ("", "Dongsi")]:
                rows.append(
                    ForecastValue(
                        run_id=run_id,
                        issue_date=issue,
                        target_date=target,
                        lead_days=lead,
                        area=area,
                        station=station,
                        variable=var,
                        q10=q50 * 0.8,
                        q50=q50,
                        q90=q50 * 1.25,
                        p_exceed=DAY_O3_P_EXCEED if ozone_day else 0.35,
                        threshold=200.0 if var == "aqi" else THRESHOLDS[var],
                        method="model",
                    )
                )
    return rows


def payload(issue: date) -> dict:
    return {
        "hourly_o3": [
            {
                "area": "district",
                "station": "",
                "target_date": issue.isoformat(),
                "hour": h,
                "q10": o3_profile(h) * 0.8,
                "q50": o3_profile(h),
                "q90": o3_profile(h) * 1.2,
            }
            for h in range(24)
        ],
        "critical": [
            {
                "area": "district",
                "station": "",
                "target_date": issue.isoformat(),
                "critical_value_ugm3": CRITICAL,
                "peak_hour": 15,
                "likely_hours": [14, 15, 16],
            }
        ],
        "risk": [
            {
                "area": "district",
                "target_date": (issue + timedelta(days=k)).isoformat(),
                "p_heavy": 0.05 * (k + 1),
                "stagnation_index": 0.4,
                "stagnation": k == 2,
            }
            for k in range(4)
        ],
    }


def seed(url: str, *, events: int = 3) -> Keys:
    """Fill the database at ``url``; returns plain keys for every role (and a revoked one)."""
    engine = engine_for(url)
    now = NOW.replace(tzinfo=None)
    with session_scope(engine) as s:
        ids = {}
        for code, name, name_zh, lat, lon in STATIONS:
            st = Station(code=code, name=name, name_zh=name_zh, lat=lat, lon=lon, source="prsa")
            s.add(st)
            s.flush()
            ids[code] = st.id
        for h in range(6):
            t = now.replace(minute=0) - timedelta(hours=6 - h)
            obs = Observation(station_id=ids["Dongsi"], time=t, source="prsa", updated_at=now)
            for v in OBS_VARIABLES:
                setattr(obs, v, 10.0 + h)
                setattr(obs, f"{v}_qc", 0)
            obs.o3_qc = 3 if h == 2 else 0
            s.add(obs)
        for k in range(1, 4):
            day = DAY - timedelta(days=k)
            for var, base in VARS.items():
                s.add(
                    DailyStat(area="district", day=day, variable=var, value=base + 10, n_valid=24)
                )
        s.add_all(
            [
                ModelVersion(
                    version=f"v2015060{i}",
                    created_at=now - timedelta(days=10 - i),
                    train_start=date(2013, 3, 1),
                    train_end=date(2015, 5, 31),
                    path=f"/models/v{i}",
                    features=["o3_lag1"],
                    params={"num_leaves": 31},
                    metrics={"rmse": 25.0 + i},
                    importance={},
                    active=i == 2,
                )
                for i in (1, 2)
            ]
        )
        for k in range(3, -1, -1):
            issue = DAY - timedelta(days=k)
            issued_at = datetime(issue.year, issue.month, issue.day) - timedelta(hours=1)
            runs = [0.0, 3.0] if k == 0 else [0.0]
            for bump in runs:
                run = ForecastRun(
                    issue_date=issue,
                    issued_at=issued_at,
                    created_at=issued_at,
                    model_version="v20150602",
                    met_mode="observed",
                    method="model",
                    missing_inputs=[],
                    notes=[],
                    payload=payload(issue),
                )
                s.add(run)
                s.flush()
                s.add_all(forecast_values(run.id, issue, bump))
        for sector, adv in ADVISORIES.items():
            s.add(
                AlertEvent(
                    id=f"evt_adv_{sector}",
                    type="advisory",
                    area="district",
                    level="ozone",
                    issue_date=DAY,
                    start_date=DAY,
                    end_date=DAY,
                    created_at=now - timedelta(minutes=50),
                    payload=adv,
                )
            )
        for i in range(events):
            day = DAY - timedelta(days=i + 1)
            s.add(
                AlertEvent(
                    id=f"evt_warn_{i}",
                    type="warning",
                    area="district",
                    level="orange" if i == 0 else "yellow",
                    issue_date=day,
                    start_date=day,
                    end_date=day + timedelta(days=2),
                    created_at=now - timedelta(days=i + 1),
                    payload={"action": "upgraded" if i == 0 else "issued", "reason": "AQI>200"},
                )
            )
        s.add(
            WarningState(
                area="district",
                level="orange",
                since=DAY - timedelta(days=1),
                until=DAY + timedelta(days=1),
                updated_on=DAY,
                detail={},
            )
        )
        s.add(
            FeedStatus(
                feed="openaq",
                last_success_at=now - timedelta(minutes=40),
                last_attempt_at=now - timedelta(minutes=40),
                last_error=None,
                latest_data_time=now - timedelta(hours=1),
            )
        )
        plain = {}
        for role in ("officer", "dispatcher", "enterprise", "admin", "revoked"):
            row, key = create_key(
                s, name=f"{role} key", role="officer" if role == "revoked" else role, now=now
            )
            if role == "revoked":
                row.revoked_at = now
            plain[role] = key
    _add_prompt(engine, now - timedelta(minutes=60))
    return Keys(**plain)


def _advisory(sector: str, name: tuple[str, str], step: tuple[str, str, str]) -> dict:
    """A staggered-operation advisory of DAY in the shape ``alerts.advisories`` gives it."""
    return {
        "sector": sector,
        "name": {"zh": name[0], "en": name[1]},
        "steps": [{"step": step[0], "name": {"zh": step[1], "en": step[2]}}],
        "avoid_hours": [10, 18],
        "avoid_text": "10:00-18:00",
        "window_source": "profile",
        "move_to": [
            {
                "slot": "night",
                "name": {"zh": "夜间", "en": "night"},
                "hours": [20, 6],
                "hours_text": "20:00-06:00",
            }
        ],
        "area": "district",
        "target_date": DAY.isoformat(),
        "o3_mda8_q50_ugm3": round(VARS["o3_mda8"] + DAY_O3_MDA8_EXTRA + 3.0),
        "p_exceed": DAY_O3_P_EXCEED,
        "critical_value_ugm3": round(CRITICAL),
        "peak_hour": 15,
    }


ADVISORIES = {
    "coating": _advisory(
        "coating", ("工业涂装", "Industrial coating"), ("spray", "喷涂", "spraying")
    ),
    "fuel": _advisory(
        "fuel", ("加油站", "Fuel stations"), ("unload", "油品装卸", "fuel unloading")
    ),
}


def _add_prompt(engine, created_at: datetime) -> None:  # noqa: ANN001 - an Engine
    """DAY's published prompt as ``service.publishing`` stores it: built in both languages by
    ``alerts.prompt.build_prompt`` from the stored latest run, with the warning in force, the
    seeded advisories, the number, yesterday's facts and the targets the engine passes."""
    from aqcast.alerts.engine import today_level
    from aqcast.alerts.prompt import build_prompt
    from aqcast.service.configured import current_campaign
    from aqcast.service.forecasts import load_forecast
    from aqcast.service.publishing import (
        PROMPT_LANGS,
        _station_names,
        current_warning,
        issue_number,
        targets_for,
        yesterday_observed,
    )

    cfg = current_campaign()
    forecast = load_forecast(engine, DAY)
    with session_scope(engine) as s:
        yesterday = yesterday_observed(s, "district", DAY)
        common = dict(
            warning=current_warning(s, "district"),
            transitions=[],
            targets=targets_for(s, cfg, "district", DAY),
            advisories=list(ADVISORIES.values()),
            number=issue_number(s, "district", DAY, created_at),
        )
        prompts = {
            lang: build_prompt(
                forecast,
                "district",
                cfg,
                lang=lang,
                yesterday=_station_names(yesterday, lang),
                **common,
            )
            for lang in PROMPT_LANGS
        }
        s.add(
            AlertEvent(
                id="evt_prompt_0615",
                type="prompt",
                area="district",
                level=today_level(forecast, "district", DAY),
                issue_date=DAY,
                start_date=DAY,
                end_date=DAY,
                created_at=created_at,
                payload={"issue_date": DAY.isoformat(), "area": "district", "prompt": prompts},
            )
        )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_client(url: str, *, env: str = "test"):  # noqa: ANN201 - a TestClient
    """A TestClient on a fresh app bound to ``url`` with the clock at ``NOW``."""
    from aqcast.service.api.app import create_app
    from aqcast.service.settings import Settings

    settings = Settings(database_url=url, env=env)
    return TestClient(create_app(settings, clock=lambda: NOW))
