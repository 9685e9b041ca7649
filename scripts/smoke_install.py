"""Smoke test of an installed aqcast (``pip install .``, no extras): import every module,
render a morning work prompt and a CAP 1.2 warning message from a small fixture, and run
the command line on a new store. A runtime dependency missing from pyproject.toml, or a
data file the wheel does not ship, fails here.

    python scripts/smoke_install.py      (run it with the fresh environment's python)
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ISSUE = date(2015, 7, 1)
AREA = "district"


def import_everything() -> int:
    import aqcast

    if "site-packages" not in Path(aqcast.__file__).as_posix():
        raise SystemExit(f"aqcast is imported from {aqcast.__file__}, not from an install")
    names = [
        m.name
        for m in pkgutil.walk_packages(aqcast.__path__, "aqcast.")
        # __main__ runs the command, migrations.env runs inside alembic only (the CLI
        # run below migrates a new store through it)
        if not m.name.endswith(("__main__", "migrations.env"))
    ]
    for name in names:
        importlib.import_module(name)
    return len(names)


def small_forecast():  # noqa: ANN201 - an aqcast.models.forecast.Forecast
    """Three days of a summer ozone forecast for the district, in the Forecast layout."""
    from aqcast.features.critical_value import critical_value_ugm3
    from aqcast.models.forecast import Forecast

    values, hourly, crit, risk = [], [], [], []
    daily = {"aqi": [130, 90, 80], "o3_mda8": [195, 150, 120], "pm25_24h": [40, 35, 30]}
    thresholds = {"aqi": 200.0, "o3_mda8": 160.0, "pm25_24h": 75.0}
    for lead in range(3):
        target = ISSUE + timedelta(days=lead)
        for var, series in daily.items():
            q50 = float(series[lead])
            values.append(
                dict(
                    issue_date=ISSUE,
                    target_date=target,
                    lead_days=lead,
                    area=AREA,
                    station="",
                    variable=var,
                    q10=0.8 * q50,
                    q50=q50,
                    q90=1.2 * q50,
                    p_exceed=0.9 if q50 > thresholds[var] else 0.1,
                    threshold=thresholds[var],
                    method="model",
                )
            )
        profile = 20 + 220 * np.exp(-0.5 * ((np.arange(24) - 15) / 3.0) ** 2)
        for hour, v in enumerate(profile):
            hourly.append(
                dict(
                    area=AREA,
                    station="",
                    target_date=target,
                    hour=hour,
                    q10=0.8 * v,
                    q50=v,
                    q90=1.2 * v,
                )
            )
        cv = critical_value_ugm3(profile)
        crit.append(
            dict(
                area=AREA,
                station="",
                target_date=target,
                critical_value_ugm3=cv.critical_value_ugm3,
                peak_hour=cv.peak_hour,
                likely_hours=list(cv.likely_hours),
            )
        )
        risk.append(
            dict(
                area=AREA, target_date=target, p_heavy=0.05, stagnation_index=0.5, stagnation=False
            )
        )
    return Forecast(
        issue_date=ISSUE,
        issued_at=datetime(2015, 6, 30, 23, 0),
        model_version="smoke",
        met_mode="stored",
        method="model",
        values=pd.DataFrame(values),
        hourly_o3=pd.DataFrame(hourly),
        critical=pd.DataFrame(crit),
        risk=pd.DataFrame(risk),
    )


def render_prompt_and_cap() -> None:
    from zoneinfo import ZoneInfo

    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.cap import area_shape, validate_cap, warning_cap
    from aqcast.alerts.prompt import build_prompt, render_prompt
    from aqcast.alerts.warnings import load_rule_set

    cfg = load_campaign()
    forecast = small_forecast()
    for lang in ("zh", "en"):
        for fmt in ("text", "html"):
            out = render_prompt(build_prompt(forecast, AREA, cfg, lang=lang), fmt)
            if str(ISSUE.year) not in out:
                raise SystemExit(f"the {lang} {fmt} prompt does not name its day")
    xml = warning_cap(
        {
            "action": "issued",
            "from_level": "none",
            "to_level": "orange",
            "level": "orange",
            "issue_date": ISSUE,
            "start_date": ISSUE,
            "end_date": ISSUE + timedelta(days=2),
            "reason": "smoke test",
        },
        identifier="aqcast-evt_smoke",
        rules=load_rule_set("bth-2016"),
        references=[],
        web=None,
        sent=datetime(2015, 6, 30, 23, 30, tzinfo=UTC),
        tz=ZoneInfo("Asia/Shanghai"),
        sender=cfg.cap.sender,
        sender_name=cfg.cap.sender_name,
        area_name=cfg.districts["district"].name,
        shape=area_shape([(39.93, 116.42), (39.89, 116.41), (39.93, 116.34)]),
    )
    validate_cap(xml)  # against the OASIS schema shipped in the wheel


def run_cli() -> None:
    """The installed command on a new store: it migrates and answers without traceback."""
    exe = Path(sys.executable).with_name("aqcast")
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "AQCAST_HOME": home,
            "AQCAST_DATABASE_URL": f"sqlite:///{home}/aqcast.db",
        }
        for args in (["--help"], ["keys", "list"], ["prompt", "--date", "2015-06-15"]):
            done = subprocess.run(  # noqa: S603 - our own installed command
                [str(exe), *args],
                env=env,
                capture_output=True,
                text=True,
                cwd=home,
                timeout=120,
                check=False,
            )
            output = done.stdout + done.stderr
            if "Traceback" in output or done.returncode not in (0, 1):
                raise SystemExit(f"aqcast {' '.join(args)} failed:\n{output}")


def main() -> None:
    n = import_everything()
    render_prompt_and_cap()
    run_cli()
    print(f"smoke: {n} modules imported, prompt (zh, en) and CAP rendered, CLI answered")


if __name__ == "__main__":
    main()
