"""What a user of the API and the CLI sees: unknown variable names, CSV advisories, the
verification window, the intraday time's offset and the newest events first."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from aqcast.service.cli import app
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import AlertEvent, DailyStat
from tests.support.api_seed import DAY, auth, make_client, seed


@pytest.fixture
def seeded(sqlite_url):
    keys = seed(sqlite_url)
    with make_client(sqlite_url) as client:
        yield client, keys, sqlite_url


@pytest.mark.parametrize("path", ["/v1/forecasts", "/v1/verification"])
def test_unknown_variable_is_422_naming_the_valid_names(seeded, path):
    client, keys, _ = seeded
    r = client.get(f"{path}?variable=pm25", headers=auth(keys.officer))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "variable" in error["message"]
    assert "'pm25_24h'" in error["message"] and "'o3_mda8'" in error["message"]
    assert error["detail"][0]["input"] == "pm25"
    ok = client.get(f"{path}?variable=pm25_24h", headers=auth(keys.officer))
    assert ok.status_code == 200


def test_advisories_as_csv(seeded):
    client, keys, _ = seeded
    r = client.get("/v1/advisories?format=csv", headers=auth(keys.officer))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["sector"] for x in rows) == ["coating", "fuel"]
    assert {x["sector_name_zh"] for x in rows} == {"工业涂装", "加油站"}
    assert r.headers["x-total-count"] == "2"
    by_accept = client.get("/v1/advisories", headers={**auth(keys.officer), "Accept": "text/csv"})
    assert by_accept.text == r.text
    assert client.get("/v1/advisories", headers=auth(keys.officer)).json()["total"] == 2


def test_verification_defaults_to_the_last_day_with_forecasts(seeded):
    client, keys, url = seeded
    with session_scope(engine_for(url)) as s:  # observations go on long after the forecasts
        s.add(
            DailyStat(
                area="district", day=date(2016, 2, 1), variable="o3_mda8", value=50.0, n_valid=24
            )
        )
    body = client.get("/v1/verification", headers=auth(keys.officer)).json()
    assert date.fromisoformat(body["end"]) <= DAY + timedelta(days=3)
    assert body["scores"], body


def test_intraday_as_of_carries_its_offset(seeded):
    client, keys, _ = seeded
    r = client.get(f"/v1/forecasts/{DAY}/ozone/intraday", headers=auth(keys.officer))
    assert r.status_code == 200, r.text
    as_of = r.json()["as_of"]
    assert as_of.endswith(("Z", "+00:00")), as_of
    assert datetime.fromisoformat(as_of.replace("Z", "+00:00")).utcoffset() == timedelta(0)


def test_events_limit_shows_the_newest(sqlite_url):
    with session_scope(engine_for(sqlite_url)) as s:
        for i, minute in enumerate((5, 30, 55)):
            s.add(
                AlertEvent(
                    id=f"evt_{i}",
                    type="advisory",
                    area="district",
                    level="o3",
                    issue_date=DAY,
                    start_date=DAY,
                    end_date=DAY,
                    created_at=datetime(2015, 6, 14, 23, minute),
                    payload={},
                )
            )
    out = CliRunner().invoke(app, ["events", "--limit", "1"])
    assert out.exit_code == 0, out.output
    (line,) = out.output.strip().splitlines()
    assert line.endswith("evt_2")
