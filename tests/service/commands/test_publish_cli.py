"""``aqcast publish`` (the 07:00 job by hand) and ``aqcast prompt`` previews."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aqcast.service import forecasts as stored_forecasts
from aqcast.service.cli import app
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import AlertEvent, ApiKey, Delivery, Subscription
from tests.support.forecasts import make_forecast

HEAVY_DAY = date(2015, 12, 7)


@pytest.fixture
def fake_models(monkeypatch):
    """The forecast module the jobs call: a store in a dict, forecasts from a table."""
    stored: dict[date, object] = {}
    made: list[date] = []
    shapes = {HEAVY_DAY: [240, 269, 274], date(2015, 7, 1): [130, 90, 80]}

    def make(engine, issue_date, met="stored"):
        made.append(issue_date)
        return make_forecast(issue_date, shapes.get(issue_date, [60, 70, 80]))

    def store(engine, forecast, now=None):
        stored[forecast.issue_date] = forecast
        return len(stored)

    monkeypatch.setattr(stored_forecasts, "make_forecast", make)
    monkeypatch.setattr(stored_forecasts, "store_forecast", store)
    monkeypatch.setattr(stored_forecasts, "load_forecast", lambda engine, day: stored.get(day))
    return stored, made


def _subscribe(url: str) -> None:
    now = datetime(2015, 1, 1)
    with session_scope(engine_for(url)) as s:
        s.add(ApiKey(id=1, name="e", role="enterprise", prefix="p", key_hash="h", created_at=now))
        s.flush()
        s.add(
            Subscription(
                id="sub1",
                owner_key_id=1,
                url="http://127.0.0.1:9/hook",
                event_types=[],
                areas=[],
                sectors=[],
                secret="s" * 32,
                created_at=now,
                updated_at=now,
            )
        )


def _counts(url: str) -> tuple[int, int]:
    with session_scope(engine_for(url)) as s:
        return (
            s.scalar(select(func.count()).select_from(AlertEvent)),
            s.scalar(select(func.count()).select_from(Delivery)),
        )


def test_publish_forecasts_publishes_and_a_second_run_publishes_nothing(sqlite_url, fake_models):
    stored, made = fake_models
    _subscribe(sqlite_url)
    runner = CliRunner()
    first = runner.invoke(app, ["publish", "--date", HEAVY_DAY.isoformat()])
    assert first.exit_code == 0, first.output
    assert made == [HEAVY_DAY] and HEAVY_DAY in stored  # no forecast was stored: made first
    assert "forecast for 2015-12-07 made and stored" in first.output
    assert "published 2015-12-07 district: prompt" in first.output
    assert "published 2015-12-07 district: warning issued" in first.output
    events, deliveries = _counts(sqlite_url)
    assert events == 2 and deliveries == 2  # the prompt and the warning, one delivery each
    assert "2 event(s) published, 0 already published; 2 webhook deliveries queued" in first.output

    second = runner.invoke(app, ["publish", "--date", HEAVY_DAY.isoformat()])
    assert second.exit_code == 0, second.output
    assert made == [HEAVY_DAY]  # the stored forecast is used
    assert "already published 2015-12-07 district: prompt" in second.output
    assert "0 event(s) published, 2 already published; 0 webhook deliveries queued" in (
        second.output
    )
    assert _counts(sqlite_url) == (events, deliveries)


def test_publish_for_an_area_the_forecast_lacks_says_so(sqlite_url, fake_models):
    out = CliRunner().invoke(app, ["publish", "--date", "2015-07-01", "--area", "nowhere"])
    assert out.exit_code == 1
    assert "nothing to publish" in out.output and "Traceback" not in out.output
    assert _counts(sqlite_url) == (0, 0)


def test_publish_refuses_a_future_date_and_a_bad_date(sqlite_url, fake_models):
    runner = CliRunner()
    future = runner.invoke(app, ["publish", "--date", "2999-01-01"])
    assert future.exit_code == 1 and "in the future" in future.output
    bad = runner.invoke(app, ["publish", "--date", "2015-13-01"])
    assert bad.exit_code != 0 and "--date" in bad.output


@pytest.mark.parametrize(
    ("lang", "label", "no_action"),
    [("zh", "预览", "今日无需"), ("en", "Preview", "No staggered operations or emergency")],
)
def test_prompt_of_an_unpublished_day_is_a_preview_that_does_not_say_no_measures(
    sqlite_url, fake_models, lang, label, no_action
):
    stored, _ = fake_models
    stored[HEAVY_DAY] = make_forecast(HEAVY_DAY, [240, 269, 274])
    runner = CliRunner()
    out = runner.invoke(app, ["prompt", "--date", HEAVY_DAY.isoformat(), "--lang", lang])
    assert out.exit_code == 0, out.output
    assert label in out.output and no_action not in out.output
    # The preview decides the warning the publication would issue, and stores nothing
    # (three days above 200 are an orange warning under the district's mee-2024).
    assert ("橙色预警" if lang == "zh" else "orange") in out.output
    assert _counts(sqlite_url) == (0, 0)

    assert runner.invoke(app, ["publish", "--date", HEAVY_DAY.isoformat()]).exit_code == 0
    published = runner.invoke(
        app, ["prompt", "--date", HEAVY_DAY.isoformat(), "--lang", lang, "--area", "district"]
    )
    assert published.exit_code == 0 and label not in published.output
    assert published.output.splitlines()[0] == out.output.splitlines()[0]


def test_issue_numbers_count_per_area_and_year_and_a_rerun_keeps_its_number(db_url):
    from aqcast.service.publishing import issue_alerts

    engine = engine_for(db_url)
    days = [date(2015, 12, 30), date(2015, 12, 31), date(2016, 1, 1)]
    numbers = []
    for d in days:
        now = datetime(d.year, d.month, d.day, 0)
        events = issue_alerts(engine, make_forecast(d, [60, 70, 80]), now=now)
        numbers.append(events[0].payload["prompt"]["zh"]["number"])
    assert numbers == [1, 2, 1]  # a new year starts again at 1
    again = issue_alerts(engine, make_forecast(days[1], [60, 70, 80]), now=datetime(2016, 1, 2))
    assert again[0].payload["prompt"]["zh"]["number"] == 2
    other = issue_alerts(
        engine, make_forecast(days[1], [60, 70, 80], area="north"), now=datetime(2016, 1, 2)
    )
    prompt = other[0].payload["prompt"]
    assert prompt["zh"]["number"] == 1 and prompt["zh"]["number_line"] == "2015年第1期"
    assert prompt["en"]["number_line"] == "No. 1, 2015"


def test_yesterday_is_read_from_the_stored_day_and_yesterdays_prompt(db_url):
    from aqcast.service.publishing import issue_alerts
    from aqcast.service.tables import DailyStat, Station

    engine = engine_for(db_url)
    d0, d1 = date(2015, 7, 1), date(2015, 7, 2)
    # 1 July is forecast light pollution with a critical value...
    issue_alerts(
        engine, make_forecast(d0, [130, 90, 80], o3_mda8=[195, 150, 120]), now=datetime(2015, 7, 1)
    )
    with session_scope(engine) as s:
        s.add(Station(id=1, code="1001A", name="Dongsi", name_zh="东四", source="test"))
        s.add(Station(id=2, code="1002A", name="Wanliu", name_zh="万柳", source="test"))
        s.flush()
        rows = {"aqi": 118.0, "o3_mda8": 178.0, "o3_1h_max": 231.0, "pm25_24h": 40.0}
        for var, v in rows.items():
            s.add(DailyStat(area="district", station_id=None, day=d0, variable=var, value=v))
        s.add(DailyStat(area="", station_id=1, day=d0, variable="aqi", value=151.0))
        s.add(DailyStat(area="", station_id=2, day=d0, variable="aqi", value=99.0))
    # ...and observed 118 (light), O3 MDA8 178 with a highest hour of 231.
    events = issue_alerts(engine, make_forecast(d1, [90, 80, 70]), now=datetime(2015, 7, 2))
    zh = "\n".join(events[0].payload["prompt"]["zh"]["sections"][0]["lines"])
    en = "\n".join(events[0].payload["prompt"]["en"]["sections"][0]["lines"])
    assert "7月1日全区AQI为118，空气质量轻度污染，首要污染物为臭氧。" in zh
    assert "AQI最高的站点为东四（151）。" in zh and "Highest station: Dongsi (AQI 151)." in en
    assert "昨日预报轻度至中度污染，级别预报准确。" in zh
    assert "超过二级标准限值（160）" in zh
    assert "最大小时浓度231微克/立方米，达到昨日臭氧临界值（200）。" in zh
