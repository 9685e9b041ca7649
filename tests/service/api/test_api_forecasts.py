"""Forecast reads: filters, latest run, CSV, ETag/304, 404 and 422 bodies."""

from __future__ import annotations

import csv
import io

import pytest

from tests.support.api_seed import CRITICAL, DAY, auth, make_client, seed


@pytest.fixture
def client_and_key(db_url):
    keys = seed(db_url)
    with make_client(db_url) as client:
        yield client, auth(keys.officer)


def test_values_of_the_latest_run(client_and_key):
    client, h = client_and_key
    body = client.get("/v1/forecasts", headers=h).json()
    assert body["issue_date"] == DAY.isoformat()
    # DAY was forecast twice (O3 MDA8 170 in the first); the second run (3 ug/m3 higher) is
    # the one shown
    o3 = [
        v
        for v in body["values"]
        if v["area"] == "district" and v["variable"] == "o3_mda8" and v["lead_days"] == 0
    ]
    assert [v["q50"] for v in o3] == [173.0]
    assert body["met_mode"] == "observed" and body["issued_at"].endswith("Z")


def test_filters(client_and_key):
    client, h = client_and_key
    q = f"/v1/forecasts?issue_date={DAY}&station=Dongsi&variable=pm25_24h&lead_days=2"
    values = client.get(q, headers=h).json()["values"]
    assert len(values) == 1
    v = values[0]
    assert (v["station"], v["area"], v["variable"], v["lead_days"]) == ("Dongsi", "", "pm25_24h", 2)
    assert v["target_date"] == "2015-06-17" and v["q50"] == pytest.approx(73.0)
    area = client.get("/v1/forecasts?area=district", headers=h).json()["values"]
    assert len(area) == 16 and {x["station"] for x in area} == {""}


def test_csv_by_parameter_and_by_accept(client_and_key):
    client, h = client_and_key
    r = client.get("/v1/forecasts?variable=aqi&area=district&format=csv", headers=h)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == [
        "issue_date", "target_date", "lead_days", "area", "station", "variable",
        "q10", "q50", "q90", "p_exceed", "threshold", "method",
    ]  # fmt: skip
    assert [int(x["lead_days"]) for x in rows] == [0, 1, 2, 3]
    assert float(rows[0]["q50"]) == pytest.approx(123.0)
    r2 = client.get("/v1/forecasts?variable=aqi&area=district", headers={**h, "Accept": "text/csv"})
    assert r2.text == r.text


def test_etag_and_304(client_and_key):
    client, h = client_and_key
    r = client.get("/v1/forecasts", headers=h)
    etag = r.headers["etag"]
    assert r.headers["cache-control"].startswith("private, max-age=")
    again = client.get("/v1/forecasts", headers={**h, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/v1/forecasts?lead_days=1", headers={**h, "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    csv_r = client.get("/v1/forecasts?format=csv", headers={**h, "If-None-Match": etag})
    assert csv_r.status_code == 200  # another representation, another tag
    ozone = client.get(f"/v1/forecasts/{DAY}/ozone", headers=h)
    assert ozone.headers["etag"]
    assert (
        client.get(
            f"/v1/forecasts/{DAY}/ozone", headers={**h, "If-None-Match": ozone.headers["etag"]}
        ).status_code
        == 304
    )


def test_ozone_and_risk(client_and_key):
    client, h = client_and_key
    oz = client.get(f"/v1/forecasts/{DAY}/ozone?area=district", headers=h).json()
    assert len(oz["hourly_o3"]) == 24
    peak = max(oz["hourly_o3"], key=lambda r: r["q50"])
    assert peak["hour"] == 15
    assert oz["critical"][0]["critical_value_ugm3"] == CRITICAL
    assert oz["critical"][0]["likely_hours"] == [14, 15, 16]
    risk = client.get(f"/v1/forecasts/{DAY}/risk", headers=h).json()["risk"]
    assert [r["stagnation"] for r in risk] == [False, False, True, False]


def test_not_found_names_the_latest_issue(client_and_key):
    client, h = client_and_key
    r = client.get("/v1/forecasts?issue_date=2016-01-01", headers=h)
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "not_found" and "2016-01-01" in err["message"]
    assert err["detail"] == {"latest_issue_date": DAY.isoformat()}


@pytest.fixture
def sqlite_client(sqlite_url):
    keys = seed(sqlite_url)
    with make_client(sqlite_url) as client:
        yield client, auth(keys.officer)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("issue_date=2015-13-01", "issue_date"),
        ("lead_days=-1", "lead_days"),
        ("lead_days=abc", "lead_days"),
        ("variable=O3%20MDA8", "variable"),
        ("format=xml", "format"),
        ("area=" + "x" * 65, "area"),
    ],
)
def test_bad_input_is_422_with_the_field(sqlite_client, query, field):
    client, h = sqlite_client
    r = client.get(f"/v1/forecasts?{query}", headers=h)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert [d["field"] for d in err["detail"]] == [field]
    assert err["detail"][0]["loc"] == ["query", field]


def test_intraday_critical_value_from_the_hours_observed_so_far(client_and_key):
    """At 08:30 local the hours 0-7 are complete; the seed holds Dongsi O3 at 02-07 h
    (10..15 ug/m3, the 04 h value flagged as a spike and so left out)."""
    import math

    from aqcast.features.critical_value import intraday_critical_value_ugm3
    from tests.support.api_seed import o3_profile

    client, h = client_and_key
    r = client.get(f"/v1/forecasts/{DAY}/ozone/intraday?area=district", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    observed = [math.nan, math.nan, 10.0, 11.0, math.nan, 13.0, 14.0, 15.0]
    expected = intraday_critical_value_ugm3(
        observed, 8, forecast_profile_ugm3=[o3_profile(k) for k in range(24)]
    )
    assert body["hours_observed"] == 5
    assert body["status"] == "open" == expected.status
    assert body["morning_critical_value_ugm3"] == CRITICAL
    assert body["remaining_level_ugm3"] == pytest.approx(expected.remaining_level_ugm3, abs=0.1)
    assert body["critical_value_ugm3"] == pytest.approx(expected.critical_value_ugm3, abs=0.1)
    assert body["peak_hour"] == 15
    # an area without a forecast, and a day without one, are 404
    assert (
        client.get(f"/v1/forecasts/{DAY}/ozone/intraday?area=nowhere", headers=h).status_code == 404
    )
    assert client.get("/v1/forecasts/2016-01-01/ozone/intraday", headers=h).status_code == 404
