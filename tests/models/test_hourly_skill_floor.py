"""A frozen-data floor on the hourly O3 forecast (docs/skill.md, "Hourly O3"): June 2014
of the 12 Beijing stations, trained on the year before, perfect prognosis."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aqcast.features.feature_table import load_feature_spec
from aqcast.models.hindcast import replay
from aqcast.models.hourly import observed_o3_frame
from aqcast.models.hourly_hindcast import replay_hourly
from aqcast.models.inputs import frames_to_table
from aqcast.models.profile import fit_diurnal_shape, shape_for

TZ = "Asia/Shanghai"
START, END = date(2014, 6, 1), date(2014, 6, 30)


def june_2014_hourly_skill(beijing_dir) -> dict[str, float]:
    """Lead-0 hourly O3 RMSE over 10-19 h [ug/m3] of the hourly model and of the old
    method (monthly climatological shape scaled to the o3_1h_max forecast), 12 stations."""
    from aqcast.service.sources.prsa import prsa_files, read_prsa

    hourly = pd.concat([read_prsa(f) for f in prsa_files([beijing_dir])], ignore_index=True)
    hourly = hourly[hourly["time"] < pd.Timestamp("2014-07-05", tz="UTC")]
    spec = load_feature_spec()
    inputs = frames_to_table(
        hourly,
        {"district": sorted(hourly["station"].unique())},
        spec=spec,
        tz=TZ,
        issue_dates=None,
        met="observed",
    )
    common = dict(tz=TZ, start=START, end=END, train_from=date(2013, 6, 1))
    daily = replay(inputs.table, inputs.hourly, spec=spec, retrain="none", **common).predictions
    hh = replay_hourly(inputs.table, inputs.weather_hourly, inputs.hourly, daily, **common)
    prof = hh.hourly[(hh.hourly["lead_days"] == 0) & ~hh.hourly["entity"].str.startswith("area:")]
    idx = pd.MultiIndex.from_arrays(
        [prof["entity"], prof["target_date"], prof["hour"]], names=["entity", "day", "hour"]
    )
    obs = observed_o3_frame(inputs.hourly, TZ).reindex(idx).to_numpy().reshape(-1, 24)
    cut = pd.Timestamp(START).tz_localize(TZ).tz_convert("UTC")
    diurnal = fit_diurnal_shape(inputs.hourly[inputs.hourly["time"] < cut], TZ)
    mx = daily[(daily["variable"] == "o3_1h_max") & (daily["lead_days"] == 0)]
    mx = mx.set_index(["entity", "target_date"])["q50"]
    days = prof.iloc[::24]
    old = np.vstack(
        [
            shape_for(diurnal, e, 6) / shape_for(diurnal, e, 6).max() * mx.get((e, d), np.nan)
            for e, d in zip(days["entity"], days["target_date"], strict=True)
        ]
    )
    new = prof["q50"].to_numpy().reshape(-1, 24)

    def rmse(f: np.ndarray) -> float:
        return float(np.sqrt(np.nanmean((f - obs)[:, 10:20] ** 2)))

    return {"hourly": rmse(new), "old": rmse(old)}


@pytest.mark.realdata
@pytest.mark.slow
def test_hourly_skill_floor_on_the_beijing_data(beijing_dir):
    s = june_2014_hourly_skill(beijing_dir)
    assert s["hourly"] <= FLOOR_HOURLY_RMSE, s
    assert s["hourly"] < s["old"], s


# A little above what was measured (docs/skill.md, "Hourly O3"): lead-0 hourly RMSE over
# 10-19 h for June 2014, 12 stations: hourly model 36.3, old method 41.9 ug/m3.
FLOOR_HOURLY_RMSE = 38.5


if __name__ == "__main__":
    from aqcast.service.settings import Settings

    print(june_2014_hourly_skill(Settings().beijing_dir))
