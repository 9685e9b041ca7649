"""The page's chart during the day: the band, the critical-value line, the hours observed
so far and the current probability that MDA8 exceeds 160."""

from __future__ import annotations

import numpy as np
import pytest
from lxml import etree
from sqlalchemy import select

from aqcast.service.api.svg_chart import ChartLabels, o3_chart_svg
from aqcast.service.store import engine_for, session_scope
from aqcast.service.tables import ForecastRun
from tests.support.api_seed import DAY, make_client, seed

SVG = "{http://www.w3.org/2000/svg}"
LABELS = ChartLabels("O3", "hour", "ug/m3", "median", "band", "critical", "likely", "observed")


def test_chart_draws_observed_hours_and_the_probability():
    q50 = [50.0 + 5 * h for h in range(24)]
    svg = o3_chart_svg(
        list(range(24)),
        q50,
        q10_ugm3=[v - 10 for v in q50],
        q90_ugm3=[v + 10 for v in q50],
        critical_value_ugm3=180.0,
        labels=LABELS,
        observed_ugm3=[40.0, float("nan"), 60.0, 300.0],
        probability_text="P 35 %",
    )
    doc = etree.fromstring(svg.encode())
    dots = doc.findall(f"{SVG}circle[@class='observed']")
    assert len(dots) == 3  # the missing hour is left out
    assert doc.find(f"{SVG}text[@class='probability']").text == "P 35 %"
    assert doc.find(f"{SVG}polygon[@class='band']") is not None
    assert doc.find(f"{SVG}line[@class='critical']") is not None
    # the observed 300 is inside the plot: the axis grew to hold it
    ys = [float(c.get("cy")) for c in dots]
    assert min(ys) >= 28.0
    legend = doc.find(f"{SVG}g[@class='legend']")
    assert "observed" in "".join(legend.itertext())


@pytest.mark.slow
def test_today_page_shows_the_probability_once_the_run_has_the_hourly_model(sqlite_url):
    seed(sqlite_url)
    with make_client(sqlite_url) as client:
        html = client.get("/").text
        assert "截至8时" not in html  # a run without the hourly model: no probability
        assert 'class="observed"' in html  # the hours observed so far are drawn anyway
        with session_scope(engine_for(sqlite_url)) as s:
            for run in s.scalars(select(ForecastRun).where(ForecastRun.issue_date == DAY)):
                run.payload = {
                    **run.payload,
                    "intraday": {
                        "correlation": (0.6 + 0.4 * np.eye(24)).tolist(),
                        "calibration": {},
                        "samples": 100,
                    },
                }
        html = client.get("/").text
        assert "截至8时超标概率" in html
        assert any(w in html for w in ("已超标", "基本确定超标", "仍可控", "已无超标风险"))
        en = client.get(f"/prompt/{DAY}?lang=en").text
        assert "By 8:00, P(MDA8 &gt; 160)" in en
