"""Hourly tables in the national publishing platform's format, made for the tests.

Not real data: smooth synthetic hourly values (integers, CO to 0.1 mg/m3, as the platform
publishes them) for a few stations, and the rolling columns computed from them here the
way the platform defines them (written out plainly, independently of aqcast's code):
``x_24h`` the mean of the last 24 hours, ``o3_24h`` the highest of the last 24 hours,
``o3_8h`` the latest 8-hour mean, ``o3_8h_24h`` the day's highest 8-hour mean so far
(windows inside the day, from the row stamped 08:00), rounded half up.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from aqcast.service.sources.cnemc import COLUMNS

# Station code, name as published, longitude, latitude, city. Test values only.
STATIONS = [
    ("1015A", "勤俭道", 117.145, 39.173, "天津市"),
    ("1041A", "团泊洼(对照点)", 117.157, 38.917, "天津市"),
    ("1001A", "万寿西宫", 116.366, 39.867, "北京市"),
]
HOURLY_COLS = ["pm2_5", "pm10", "so2", "no2", "co", "o3"]


def round_half_up(x: float, digits: int = 0) -> float:
    q = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP))


def synthetic_hours(first_day: date, days: int, station_index: int) -> list[dict]:
    """Hour-start local times (naive Beijing time) and integer values, smooth and varied."""
    out = []
    start = datetime.combine(first_day, datetime.min.time())
    for k in range(days * 24):
        t = start + timedelta(hours=k)
        h = t.hour + 0.5
        s = station_index
        day = k // 24
        # ozone peaks mid-afternoon; particles peak at night; small per-hour variation
        o3 = 30 + (150 + 12 * s + 15 * day) * max(0.0, math.sin(math.pi * (h - 7) / 12)) ** 1.5
        pm25 = 45 + 20 * s + 18 * math.cos(2 * math.pi * (h - 2) / 24) + 7 * math.sin(1.7 * k)
        out.append(
            {
                "t": t,
                "pm2_5": float(round(pm25)),
                "pm10": float(round(pm25 * 1.7 + 9 * math.sin(0.9 * k))),
                "so2": float(round(8 + 3 * math.sin(0.5 * k) + s)),
                "no2": float(round(35 + 15 * math.cos(2 * math.pi * (h - 20) / 24) + s)),
                "co": round_half_up(0.7 + 0.3 * math.cos(2 * math.pi * (h - 21) / 24), 1)
                + 0.1 * (k % 3),
                "o3": float(round(o3 + 4 * math.sin(1.3 * k))),
            }
        )
    for r in out:
        r["co"] = round_half_up(r["co"], 1)
    return out


def _mean(values: list[float], need: int) -> float | None:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if len(v) >= need else None


def publish(hours: list[dict]) -> list[dict]:
    """The platform's rows (one per hour) for one station's consecutive hours."""
    rows = []
    eight: list[float | None] = []
    for k, r in enumerate(hours):
        last24 = hours[max(0, k - 23) : k + 1]
        row = {"t_end": r["t"] + timedelta(hours=1)}
        for col in HOURLY_COLS:
            row[col] = r[col]
        for col in ["pm2_5", "pm10", "so2", "no2", "co"]:
            m = _mean([x[col] for x in last24], 20)
            row[f"{col}_24h"] = None if m is None else round_half_up(m, 1 if col == "co" else 0)
        o3_24 = [x["o3"] for x in last24]
        row["o3_24h"] = max(o3_24) if len(o3_24) >= 20 else None
        m8 = _mean([x["o3"] for x in hours[max(0, k - 7) : k + 1]], 6) if k >= 7 else None
        eight.append(m8)
        row["o3_8h"] = None if m8 is None else round_half_up(m8)
        if r["t"].hour >= 7:
            same_day = [
                eight[j]
                for j in range(k + 1)
                if hours[j]["t"].date() == r["t"].date()
                and hours[j]["t"].hour >= 7
                and eight[j] is not None
            ]
            row["o3_8h_24h"] = round_half_up(max(same_day)) if same_day else None
        else:
            row["o3_8h_24h"] = None
        rows.append(row)
    return rows


def platform_tables(first_day: date, days: int) -> dict[datetime, list[dict]]:
    """Hour-ending time -> the rows of every station for that hour (format columns)."""
    by_hour: dict[datetime, list[dict]] = {}
    for i, (code, name, lon, lat, city) in enumerate(STATIONS):
        for row in publish(synthetic_hours(first_day, days, i)):
            full = {
                "timepoint": row["t_end"].strftime("%Y-%m-%d %H:%M:%S"),
                "stationcode": code,
                "longitude": lon,
                "latitude": lat,
                "area": city,
                "positionname": name,
                "primarypollutant": "PM2.5,PM10",
                "aqi": 80,
            }
            for c in COLUMNS:
                if c in row:
                    full[c] = row[c]
            by_hour.setdefault(row["t_end"], []).append(full)
    return by_hour


def csv_text(rows: list[dict], columns: list[str] = COLUMNS) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else _cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _cell(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def write_hour_files(
    folder: Path, by_hour: dict[datetime, list[dict]], *, encoding: str = "utf-8"
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t_end, rows in sorted(by_hour.items()):
        p = folder / f"china_sites_{t_end:%Y%m%d%H}.csv"
        p.write_bytes(csv_text(rows).encode(encoding))
        paths.append(p)
    return paths


def row_at(by_hour: dict[datetime, list[dict]], t_end: datetime, code: str) -> dict:
    return next(r for r in by_hour[t_end] if r["stationcode"] == code)
