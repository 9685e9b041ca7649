"""Speed of the daily statistics on the full Beijing data (12 stations, 315,648 hours).

Run: .venv/bin/python -m pytest benchmarks/test_daily_speed.py -q --benchmark-enable

Measured on the shared 2-core development machine under load (load average ~8):
daily_statistics 0.49-0.57 s, area_daily_statistics (12 stations) 0.16-0.21 s per call.
"""

from __future__ import annotations

import pandas as pd
import pytest

from aqcast.features.daily import area_daily_statistics, daily_statistics
from aqcast.service.settings import Settings
from aqcast.service.sources.prsa import prsa_files, read_prsa

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def beijing_hourly() -> pd.DataFrame:
    files = prsa_files([Settings().beijing_dir])
    if not files:
        pytest.skip("Beijing multi-site data not found")
    return pd.concat([read_prsa(f) for f in files], ignore_index=True)


def test_station_daily_statistics(benchmark, beijing_hourly: pd.DataFrame) -> None:
    out = benchmark.pedantic(daily_statistics, args=(beijing_hourly, TZ), rounds=3)
    assert out["station"].nunique() == 12


def test_area_daily_statistics(benchmark, beijing_hourly: pd.DataFrame) -> None:
    stations = sorted(beijing_hourly["station"].unique())
    out = benchmark.pedantic(area_daily_statistics, args=(beijing_hourly, stations, TZ), rounds=3)
    assert out["area"].unique().tolist() == ["district"]
