"""The campaign configuration: the shipped file, year overrides, and bad files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from aqcast.alerts.campaign import PACKAGE_CAMPAIGN_FILE, load_campaign
from aqcast.configuration import ConfigError


def test_shipped_configuration_loads_and_has_the_seed_plan():
    cfg = load_campaign()
    plan = cfg.plan("district", 2024)
    assert plan.warning_rules == "mee-2024"
    assert plan.targets.pm25_annual_mean_ugm3 == 38
    assert plan.targets.good_day_ratio_pct == 71 and plan.targets.heavy_days_max == 3
    summer = next(c for c in plan.campaigns if c.id == "summer_ozone")
    assert summer.dates(2024) == (date(2024, 6, 1), date(2024, 9, 30))
    assert {"industrial_coating", "packaging_printing", "fuel_stations"} <= set(summer.focus)
    assert [c.id for c in cfg.running_campaigns("district", date(2015, 9, 20))] == [
        "summer_ozone",
        "autumn_winter",
    ]
    assert cfg.running_campaigns("district", date(2015, 3, 1)) == []
    steps = {s for sec in cfg.sectors.values() for s in sec.steps}
    assert steps == {
        "coating",
        "printing",
        "solvent_use",
        "fuel_unloading",
        "outdoor_painting",
        "asphalt",
        "road_marking",
    }
    assert cfg.rule_set("tianjin-2018").name == "tianjin-2018"


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _raw() -> dict:
    return yaml.safe_load(PACKAGE_CAMPAIGN_FILE.read_text(encoding="utf-8"))


def test_year_override_replaces_whole_fields(tmp_path):
    raw = _raw()
    raw["districts"]["district"]["years"] = {
        2018: {
            "warning_rules": "tianjin-2018",
            "targets": {
                "pm25_annual_mean_ugm3": 52,
                "good_day_ratio_pct": 60,
                "heavy_days_max": 10,
            },
        }
    }
    cfg = load_campaign(_write(tmp_path, raw))
    assert cfg.plan("district", 2018).warning_rules == "tianjin-2018"
    assert cfg.plan("district", 2018).targets.heavy_days_max == 10
    assert cfg.plan("district", 2018).campaigns == cfg.plan("district", 2017).campaigns
    assert cfg.plan("district", 2017).warning_rules == "mee-2024"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["sectors"]["fuel_stations"].update(steps=["teleport"]), "fuel_stations.steps"),
        (lambda r: r["sectors"]["auto_repair"].update(default_window=[16, 9]), "default_window"),
        (
            lambda r: r["districts"]["district"]["default"]["campaigns"][0].update(start="06-31"),
            "campaigns.0.start",
        ),
        (
            lambda r: r["districts"]["district"]["default"].update(warning_rules="nowhere-2099"),
            "warning_rules",
        ),
        (
            lambda r: r["districts"]["district"]["default"]["triggers"].update(
                advisory_p_exceed_min=1.5
            ),
            "advisory_p_exceed_min",
        ),
        (
            lambda r: r["districts"]["district"]["default"]["targets"].pop("heavy_days_max"),
            "targets.heavy_days_max",
        ),
        (lambda r: r["steps"]["coating"].pop("en"), "steps.coating.en"),
        (
            lambda r: r["districts"]["district"]["default"]["campaigns"][1]["focus"].append("ufo"),
            "focus",
        ),
    ],
)
def test_bad_configuration_names_file_and_field(tmp_path, change, field):
    raw = _raw()
    change(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_not_yaml_names_the_line(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_text("steps: [a\nsectors: {", encoding="utf-8")
    with pytest.raises(ConfigError, match="line"):
        load_campaign(path)
