"""The example configuration of a Tianjin district validates against the schemas."""

from __future__ import annotations

import re
from datetime import date

from aqcast.alerts.campaign import load_campaign
from aqcast.configuration import PACKAGE_CONFIG_DIR, area_stations, load_areas
from aqcast.service import jobs
from aqcast.service.scheduler import load_schedule

EXAMPLE = PACKAGE_CONFIG_DIR / "examples" / "tianjin_district"


def test_the_tianjin_district_areas_validate_and_the_district_lies_in_the_city():
    areas = load_areas(EXAMPLE / "areas.yaml")
    assert set(areas.areas) == {"district", "tianjin"}
    city = areas.areas["tianjin"].stations
    district = areas.areas["district"].stations
    assert isinstance(city, list) and isinstance(district, list)
    assert all(re.fullmatch(r"\d{4}A", c) for c in city)
    assert len(set(city)) == len(city) and set(district) <= set(city)
    assert areas.areas["tianjin"].name_zh == "天津市"
    # an area keeps only the stations that are stored
    assert area_stations("district", ["1015A", "1016A"], areas) == ["1015A"]


def test_the_tianjin_district_2024_campaign_validates():
    cfg = load_campaign(EXAMPLE / "campaign.yaml")
    areas = load_areas(EXAMPLE / "areas.yaml")
    assert set(cfg.districts) <= set(areas.areas)  # a district is an area
    plan = cfg.plan("district", 2024)
    assert plan.warning_rules == "mee-2024"
    spans = {c.id: (c.start, c.end) for c in plan.campaigns}
    assert spans == {"summer_ozone": ("06-01", "09-30"), "autumn_winter": ("09-15", "12-31")}
    assert [c.id for c in cfg.running_campaigns("district", date(2024, 7, 1))] == ["summer_ozone"]
    assert plan.targets.pm25_annual_mean_ugm3 == 38 and plan.targets.heavy_days_max == 3
    assert plan.campaigns[0].name.zh.startswith("2024年")


def test_the_example_schedule_enables_the_national_platform_pull():
    sched = load_schedule(EXAMPLE / "schedule.yaml")
    assert sched.jobs["pull_cnemc"].enabled is True
    assert set(sched.jobs) <= set(jobs.JOBS)
    shipped = load_schedule()
    assert shipped.jobs["pull_cnemc"].enabled is False
    assert set(shipped.jobs) == set(sched.jobs)
