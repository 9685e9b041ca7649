"""Making, storing and loading the forecast of one issue date: ``make_forecast``,
``store_forecast``, ``load_forecast``.

``make_forecast`` reads the store (observations before the issue time, weather forecasts
issued before it, or with ``met="observed"`` the observed weather of the target days as
a perfect-prognosis stand-in), predicts with the active model, and derives the hourly O3
profile, the ozone critical value and the risk of adverse conditions. Without a usable
model (none trained, file missing or unreadable) or without target-day weather it falls
back to the best baseline, and ``method``/``notes`` say so.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from aqcast.features.feature_table import FeatureSpec, load_feature_spec
from aqcast.models.forecast import VALUE_COLUMNS, Forecast, forecast_from_table
from aqcast.models.inputs import MetMode, issue_time_utc
from aqcast.models.registry import RegistryError
from aqcast.models.train import ModelBundle, train_bundle
from aqcast.service.configured import configured_areas
from aqcast.service.model_inputs import load_inputs
from aqcast.service.registry import load_bundle
from aqcast.service.settings import get_settings
from aqcast.service.store import session_scope
from aqcast.service.tables import ForecastRun, ForecastValue


def make_forecast(
    engine: Engine,
    issue_date: date,
    *,
    met: MetMode = "stored",
    bundle: ModelBundle | None = None,
    spec: FeatureSpec | None = None,
) -> Forecast:
    """Forecast target days issue_date + leads from what the store knew at the issue time."""
    settings = get_settings()
    tz = settings.timezone
    spec = spec or load_feature_spec()
    areas = configured_areas()
    issued = issue_time_utc(issue_date, tz, settings.issue_time)
    notes: list[str] = []
    if bundle is None:
        try:
            bundle = load_bundle(engine)
        except RegistryError as exc:
            notes.append(f"model unavailable: {exc}")
    inputs = load_inputs(
        engine,
        [issue_date],
        spec=spec,
        tz=tz,
        issue_time=settings.issue_time,
        areas=areas,
        met=met,
    )
    if bundle is None:
        # Baselines from up to two years of stored history before the issue date.
        hist = load_inputs(
            engine,
            [issue_date],
            spec=spec,
            tz=tz,
            issue_time=settings.issue_time,
            areas=areas,
            met="none",
            history_start=issue_date - timedelta(days=730),
        )
        bundle = train_bundle(
            hist.table,
            hist.hourly,
            spec=spec,
            tz=tz,
            train_start=None,
            train_until=issue_date,
            version="baselines",
            with_models=False,
        )
    fc = forecast_from_table(
        bundle,
        inputs.table,
        issue_date=issue_date,
        issued_at=issued.tz_convert("UTC").tz_localize(None).to_pydatetime(),
        met_mode=met,
        notes=notes,
        weather_hourly=inputs.weather_hourly,
        observed_hourly=inputs.hourly,
        tz=tz,
    )
    # The adverse-weather outlook D..D+6 comes from the weather alone, beyond the leads.
    from aqcast.models.risk import with_outlook
    from aqcast.service.model_inputs import outlook_weather

    weather = outlook_weather(
        engine,
        issue_date,
        spec=spec,
        tz=tz,
        issue_time=settings.issue_time,
        areas=areas,
        met=met,
    )
    fc.risk = with_outlook(fc.risk, weather)
    return fc


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object and len(out) and isinstance(out[c].iloc[0], date):
            out[c] = out[c].map(lambda d: d.isoformat())
    out = out.astype(object).where(out.notna(), None)
    return out.to_dict(orient="records")


def store_forecast(engine: Engine, forecast: Forecast, *, now: datetime | None = None) -> int:
    """Store the run and its values in one transaction; returns the run id."""
    now = now or forecast.issued_at
    with session_scope(engine) as s:
        run = ForecastRun(
            issue_date=forecast.issue_date,
            issued_at=forecast.issued_at,
            created_at=now,
            model_version=forecast.model_version,
            met_mode=forecast.met_mode,
            method=forecast.method,
            missing_inputs=list(forecast.missing_inputs),
            notes=list(forecast.notes),
            payload={
                "hourly_o3": _records(forecast.hourly_o3),
                "critical": _records(forecast.critical),
                "risk": _records(forecast.risk),
                "intraday": getattr(forecast, "intraday", None) or {},
            },
        )
        s.add(run)
        s.flush()
        vals = forecast.values.astype(object).where(forecast.values.notna(), None)
        s.add_all(
            ForecastValue(run_id=run.id, **{k: r[k] for k in VALUE_COLUMNS})
            for r in vals.to_dict(orient="records")
        )
        return int(run.id)


def latest_run(session: Session, issue_date: date) -> ForecastRun | None:
    """The latest stored run for ``issue_date`` (the highest id: a rerun supersedes), or
    None. The one reader of "the latest run" (the API, the jobs and load_forecast)."""
    return session.scalars(
        select(ForecastRun)
        .where(ForecastRun.issue_date == issue_date)
        .order_by(ForecastRun.id.desc())
        .limit(1)
    ).first()


def latest_run_ids() -> Select:
    """The id of the latest run of every issue date, as a select (for ``IN``): the same
    choice as ``latest_run``, for many issue dates at once."""
    return select(func.max(ForecastRun.id).label("run_id")).group_by(ForecastRun.issue_date)


def load_forecast(engine: Engine, issue_date: date) -> Forecast | None:
    """The latest stored run for ``issue_date``, or None."""
    with session_scope(engine) as s:
        run = latest_run(s, issue_date)
        if run is None:
            return None
        vals = s.scalars(select(ForecastValue).where(ForecastValue.run_id == run.id)).all()
        values = pd.DataFrame(
            [{k: getattr(v, k) for k in VALUE_COLUMNS} for v in vals], columns=VALUE_COLUMNS
        )
        payload = run.payload or {}

        def frame(name: str) -> pd.DataFrame:
            f = pd.DataFrame(payload.get(name, []))
            if "target_date" in f.columns:
                f["target_date"] = pd.to_datetime(f["target_date"]).dt.date
            return f

        return Forecast(
            issue_date=run.issue_date,
            issued_at=run.issued_at,
            model_version=run.model_version,
            met_mode=run.met_mode,
            method=run.method,
            missing_inputs=list(run.missing_inputs or []),
            notes=list(run.notes or []),
            values=values.astype(
                {c: float for c in ("q10", "q50", "q90", "p_exceed", "threshold")}
            ),
            hourly_o3=frame("hourly_o3"),
            critical=frame("critical"),
            risk=frame("risk"),
            intraday=payload.get("intraday") or {},
        )
