"""The page's last 30 days of verification: level accuracy, hits and misses of exceedances."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aqcast.service.api.verification import recent_verification
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import DailyStat, ForecastRun, ForecastValue
from tests.support.api_seed import DAY, make_client, seed

END = date(2015, 6, 30)


def _run(s, issue: date, values: dict[str, tuple[float, float, float]], lead: int = 0) -> None:
    run = ForecastRun(
        issue_date=issue,
        issued_at=datetime(issue.year, issue.month, issue.day),
        created_at=datetime(issue.year, issue.month, issue.day),
        model_version="v1",
        met_mode="stored",
        method="model",
        missing_inputs=[],
        notes=[],
        payload={},
    )
    s.add(run)
    s.flush()
    for var, (q10, q50, q90) in values.items():
        s.add(
            ForecastValue(
                run_id=run.id,
                issue_date=issue,
                target_date=issue + timedelta(days=lead),
                lead_days=lead,
                area="district",
                station="",
                variable=var,
                q10=q10,
                q50=q50,
                q90=q90,
                p_exceed=None,
                threshold=None,
                method="model",
            )
        )


def _obs(s, day: date, **values: float) -> None:
    for var, v in values.items():
        s.add(DailyStat(area="district", station_id=None, day=day, variable=var, value=v))


def test_level_accuracy_and_exceedance_hits_by_hand(db_url):
    engine = engine_for(db_url)
    with session_scope(engine) as s:
        # right: 90-130 names 良至轻度污染, observed 120 (light)
        _run(s, END, {"aqi": (90, 110, 130), "o3_mda8": (150, 170, 190)})
        _obs(s, END, aqi=120, o3_mda8=175)  # O3 hit
        # wrong: 60-80 is good only, observed 140; O3 missed
        _run(s, END - timedelta(days=1), {"aqi": (60, 70, 80), "o3_mda8": (120, 140, 150)})
        _obs(s, END - timedelta(days=1), aqi=140, o3_mda8=190)
        # right; an O3 false alarm
        _run(s, END - timedelta(days=2), {"aqi": (40, 45, 48), "o3_mda8": (150, 165, 180)})
        _obs(s, END - timedelta(days=2), aqi=30, o3_mda8=120)
        # outside the 30 days, and a lead-1 forecast: neither counts
        _run(s, END - timedelta(days=30), {"aqi": (60, 70, 80)})
        _obs(s, END - timedelta(days=30), aqi=200)
        _run(s, END - timedelta(days=3), {"aqi": (60, 70, 80)}, lead=1)
        _obs(s, END - timedelta(days=2) + timedelta(days=0), pm25_24h=40)
    with session_scope(engine) as s:
        v = recent_verification(s, area="district", end=END, days=30)
    assert v["start"] == END - timedelta(days=29)
    assert (v["level_right"], v["level_n"], v["level_accuracy_pct"]) == (2, 3, 67)
    rows = {r["variable"]: r for r in v["exceedances"]}
    assert {k: rows["o3_mda8"][k] for k in ("n", "observed", "hits", "misses", "false_alarms")} == {
        "n": 3,
        "observed": 2,
        "hits": 1,
        "misses": 1,
        "false_alarms": 1,
    }
    assert rows["aqi"]["hits"] == 1 and rows["aqi"]["misses"] == 1  # 110 vs 120; 70 vs 140
    assert rows["pm25_24h"]["n"] == 0


def test_page_shows_the_last_30_days(sqlite_url):
    seed(sqlite_url)
    with make_client(sqlite_url) as client:
        zh = client.get(f"/prompt/{DAY}").text
        en = client.get(f"/prompt/{DAY}?lang=en").text
    # seeded: three days before DAY, forecast AQI 96-150 (良至轻度污染), observed 130
    assert "近30天预报检验" in zh and "AQI级别准确率" in zh and "100%（3/3天）" in zh
    assert '<tr data-variable="aqi"><td>AQI&gt;100（非优良天）</td><td>3</td><td>3</td>' in zh
    assert "Verification over the last 30 days" in en and "100% (3 of 3 days)" in en


def test_page_names_the_fallback_and_missing_inputs_in_chinese(sqlite_url):
    from sqlalchemy import select

    seed(sqlite_url)
    with session_scope(engine_for(sqlite_url)) as s:
        for run in s.scalars(select(ForecastRun).where(ForecastRun.issue_date == DAY)):
            run.method = "fallback:persistence"
            run.missing_inputs = ["target-day weather", "feed:openaq"]
    with make_client(sqlite_url) as client:
        zh = client.get(f"/prompt/{DAY}").text
        en = client.get(f"/prompt/{DAY}?lang=en").text
    notice = zh.split('id="method-notice"', 1)[1].split("</section>", 1)[0]
    assert "模型不可用，采用持续性预报方法" in notice
    assert "预报日气象资料、OpenAQ站点监测数据" in notice
    assert "target-day" not in notice and "fallback" not in notice
    assert "model unavailable, the persistence baseline is used" in en
