"""``aqcast stats``: daily MDA8, PM2.5, PM10, AQI, level and primary pollutant per day.

Values come from the stored daily statistics; days missing there are computed from the
stored hourly values (valid ones only), so the command also works before a refresh.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import typer

from aqcast.features.places import DEFAULT_AREA

COLUMNS = ["day", "o3_mda8", "pm25_24h", "pm10_24h", "aqi", "level", "level_zh", "primary"]
VALUE_VARIABLES = [
    "o3_mda8",
    "o3_1h_max",
    "pm25_24h",
    "pm10_24h",
    "so2_24h",
    "no2_24h",
    "co_24h",
    "aqi",
]


def _computed(engine, start: date, end: date, *, area: str | None, station: str | None, tz: str):
    from aqcast.configuration import area_stations
    from aqcast.features.daily import area_daily_statistics, daily_statistics
    from aqcast.service.configured import configured_areas
    from aqcast.service.observations import list_stations, load_hourly

    t0 = pd.Timestamp(start).tz_localize(tz)
    t1 = (pd.Timestamp(end) + pd.Timedelta(days=1)).tz_localize(tz)
    if station is not None:
        hourly = load_hourly(engine, t0, t1, stations=[station])
        return daily_statistics(hourly, tz) if len(hourly) else None
    members = area_stations(area, list_stations(engine)["station"].tolist(), configured_areas())
    hourly = load_hourly(engine, t0, t1, stations=members)
    return area_daily_statistics(hourly, members, tz, area=area) if len(hourly) else None


def daily_table(
    engine,
    start: date,
    end: date,
    *,
    area: str | None = DEFAULT_AREA,
    station: str | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """One row per local day: the columns of ``COLUMNS`` (values unrounded)."""
    from aqcast.features.aqi import daily_aqi
    from aqcast.service.observations import load_daily
    from aqcast.service.settings import get_settings

    tz = tz or get_settings().timezone
    if station is not None:
        long = load_daily(engine, start, end, stations=[station])
    else:
        long = load_daily(engine, start, end, area=area)
    days = pd.date_range(start, end, freq="D").date
    if set(long["day"]) != set(days):
        computed = _computed(engine, start, end, area=area, station=station, tz=tz)
        if computed is not None:
            stored_days = set(long["day"])
            extra = computed[~computed["day"].isin(stored_days)]
            long = pd.concat([long, extra[["day", "variable", "value"]]], ignore_index=True)
    wide = (
        long.pivot_table(index="day", columns="variable", values="value", aggfunc="first")
        .reindex(days)
        .reindex(columns=VALUE_VARIABLES)
    )
    rows = []
    for day, r in wide.iterrows():
        values = {k: v for k, v in r.items() if k != "aqi" and pd.notna(v)}
        aqi, primary, level = daily_aqi(values) if values else (float("nan"), [], None)
        stored_aqi = r.get("aqi")
        rows.append(
            {
                "day": day,
                "o3_mda8": r["o3_mda8"],
                "pm25_24h": r["pm25_24h"],
                "pm10_24h": r["pm10_24h"],
                "aqi": stored_aqi if pd.notna(stored_aqi) else aqi,
                "level": level.en if level else "",
                "level_zh": level.zh if level else "",
                "primary": ",".join(primary),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else f"{v:.0f}"
    return str(v)


def stats(
    area: str = typer.Option(DEFAULT_AREA, "--area", help="configured area (station group)"),
    start: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="first day"),
    end: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="last day"),
    fmt: str = typer.Option("table", "--format", help="table, csv or json"),
    station: str | None = typer.Option(None, "--station", help="one station instead"),
) -> None:
    """Per day: O3 MDA8, PM2.5, PM10 (ug/m3), AQI, level and primary pollutant."""
    from aqcast.service.settings import get_settings
    from aqcast.service.store import engine_for, migrate

    if fmt not in ("table", "csv", "json"):
        typer.echo(f"error: --format must be table, csv or json, not {fmt!r}", err=True)
        raise typer.Exit(1)
    if end < start:
        typer.echo("error: --to is before --from", err=True)
        raise typer.Exit(1)
    url = get_settings().database_url
    migrate(url)
    try:
        table = daily_table(engine_for(url), start.date(), end.date(), area=area, station=station)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    if fmt == "json":
        records = [
            {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in r.items()}
            for r in table.assign(day=table["day"].astype(str)).to_dict("records")
        ]
        typer.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":
        typer.echo(table.to_csv(index=False, float_format="%.1f"), nl=False)
        return
    header = ["day", "O3 MDA8", "PM2.5", "PM10", "AQI", "level", "primary"]
    cells = [
        [
            str(r.day),
            _fmt(r.o3_mda8),
            _fmt(r.pm25_24h),
            _fmt(r.pm10_24h),
            _fmt(r.aqi),
            f"{r.level} {r.level_zh}".strip(),
            r.primary,
        ]
        for r in table.itertuples()
    ]
    widths = [
        max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    title = f"station {station}" if station else f"area {area}"
    typer.echo(f"{title}, {start.date()}..{end.date()} (ug/m3; AQI per HJ 633-2012)")
    typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for c in cells:
        typer.echo("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
