"""The national platform's hourly rolling statistics computed from hours (features/rolling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aqcast.features.rolling import rolling_statistics

TZ = "Asia/Shanghai"


def frame(
    o3: list[float], pm25: list[float] | None = None, start="2024-07-01 00:00"
) -> pd.DataFrame:
    t0 = pd.Timestamp(start, tz=TZ).tz_convert("UTC")
    n = len(o3)
    return pd.DataFrame(
        {
            "station": "A",
            "time": pd.date_range(t0, periods=n, freq="h"),
            "o3": o3,
            "pm25": pm25 if pm25 is not None else [10.0] * n,
        }
    )


def test_the_days_highest_8h_mean_starts_with_the_first_in_day_window_and_carries_on():
    o3 = [float(h) for h in range(24)]  # 0..23 local hours
    o3[12] = np.nan  # one missing hour does not void the windows around it (6 of 8)
    out = rolling_statistics(frame(o3), TZ).set_index(
        pd.date_range(pd.Timestamp("2024-07-01", tz=TZ), periods=24, freq="h")
    )
    assert out["o3_8h_24h"].iloc[:7].isna().all()  # before the 07:00-08:00 hour
    assert out["o3_8h_24h"].iloc[7] == pytest.approx(np.mean(range(8)))
    assert out["o3_8h"].iloc[7] == pytest.approx(3.5)
    last = [h for h in range(16, 24) if h != 12]
    assert out["o3_8h_24h"].iloc[23] == pytest.approx(np.mean(last))
    # o3_24h and the 24-h means need 20 valid hours of the last 24
    assert out["o3_24h"].iloc[:20].isna().all() and out["o3_24h"].iloc[20] == 20.0
    assert out["pm25_24h"].iloc[23] == 10.0


def test_a_new_day_starts_the_highest_8h_mean_again_and_gaps_become_rows():
    o3 = [100.0] * 24 + [50.0] * 24
    df = frame(o3)
    df = df.drop(index=30)  # a missing hour on day two
    out = rolling_statistics(df, TZ)
    assert len(out) == 48  # the gap is a row
    day2 = out.iloc[24:]
    assert day2["o3_8h_24h"].iloc[:7].isna().all()
    assert day2["o3_8h_24h"].iloc[7] == 50.0  # not the first day's 100
    assert out["o3_24h"].iloc[23] == 100.0 and out["o3_24h"].iloc[47] == 50.0
    with pytest.raises(ValueError, match="tz-aware"):
        rolling_statistics(df.assign(time=df["time"].dt.tz_localize(None)), TZ)
