"""The model registry: trained bundles saved under ``settings.models_path`` (joblib, one
file per version) and described in the ``model_versions`` table; one version is active.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import joblib
import pandas as pd
from sqlalchemy import Engine, select, update

from aqcast.models.registry import RegistryError, jsonable, new_version, train_hourly_model
from aqcast.models.train import ModelBundle
from aqcast.service.settings import Settings
from aqcast.service.store import session_scope
from aqcast.service.tables import ModelVersion


def save_bundle(
    engine: Engine, bundle: ModelBundle, models_path: Path, *, now: datetime, activate: bool
) -> Path:
    """Write the bundle file, then its registry row (file first: a row never points to a
    file that does not exist)."""
    models_path = Path(models_path)
    models_path.mkdir(parents=True, exist_ok=True)
    path = models_path / f"{bundle.version}.joblib"
    tmp = path.with_suffix(".joblib.tmp")
    joblib.dump(bundle, tmp)
    tmp.replace(path)
    features = next(iter(bundle.models.values())).features if bundle.models else []
    with session_scope(engine) as s:
        if activate:
            s.execute(update(ModelVersion).values(active=False))
        s.add(
            ModelVersion(
                version=bundle.version,
                created_at=now,
                train_start=bundle.train_start,
                train_end=bundle.train_end,
                path=str(path),
                features=features,
                params=bundle.params,
                metrics=jsonable(bundle.metrics),
                importance=jsonable(bundle.importance()),
                active=activate,
            )
        )
    return path


def list_versions(engine: Engine) -> list[dict]:
    with session_scope(engine) as s:
        rows = s.scalars(select(ModelVersion).order_by(ModelVersion.created_at)).all()
        return [
            {
                "version": r.version,
                "created_at": r.created_at.isoformat(),
                "train_start": r.train_start.isoformat(),
                "train_end": r.train_end.isoformat(),
                "active": bool(r.active),
                "path": r.path,
                "n_features": len(r.features or []),
                "metrics": r.metrics,
            }
            for r in rows
        ]


def activate(engine: Engine, version: str) -> None:
    with session_scope(engine) as s:
        if s.get(ModelVersion, version) is None:
            known = [v for (v,) in s.execute(select(ModelVersion.version))]
            raise RegistryError(f"unknown model version {version!r}; known: {known}")
        s.execute(update(ModelVersion).values(active=False))
        s.execute(update(ModelVersion).where(ModelVersion.version == version).values(active=True))


def active_version(engine: Engine) -> str | None:
    with session_scope(engine) as s:
        return s.scalar(select(ModelVersion.version).where(ModelVersion.active.is_(True)))


def load_bundle(engine: Engine, version: str | None = None) -> ModelBundle:
    """The bundle of ``version`` (default: the active one); RegistryError if there is none
    or its file is missing or unreadable."""
    with session_scope(engine) as s:
        if version is None:
            row = s.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).first()
            if row is None:
                raise RegistryError("no active model version (run `aqcast train`)")
        else:
            row = s.get(ModelVersion, version)
            if row is None:
                raise RegistryError(f"unknown model version {version!r}")
        path, ver = Path(row.path), row.version
    try:
        bundle = joblib.load(path)
    except FileNotFoundError as exc:
        raise RegistryError(f"model {ver}: file {path} is missing") from exc
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means unusable
        raise RegistryError(f"model {ver}: cannot load {path}: {exc}") from exc
    if not isinstance(bundle, ModelBundle):
        raise RegistryError(f"model {ver}: {path} does not hold a model bundle")
    return bundle


MIN_STORED_ROWS = 200  # feature-table rows with archived forecast weather to train on


def train_and_register(
    engine: Engine,
    *,
    until: date,
    now: datetime,
    start: date | None = None,
    activate: bool = True,
    settings: Settings | None = None,
    train_met: str = "observed",
    met_error: Path | None = None,
    seed: int = 0,
) -> ModelBundle:
    """Train on the stored data whose target days lie before ``until`` (from ``start``,
    default the first stored day), save and register the version; returns the bundle.

    ``train_met``: the weather of the training rows' target days: ``observed``
    (perfect-prognosis training), ``stored`` (the archived weather forecasts issued
    before each past issue time) or ``perturbed`` (observed plus forecast-like errors
    from the weather-error model ``met_error``, ``seed``). The predictive distributions
    are fitted on the same rows, so they expect that weather's errors."""
    from aqcast.configuration import load_areas
    from aqcast.features.feature_table import load_feature_spec
    from aqcast.models.inputs import NoObservationsError
    from aqcast.models.train import train_bundle
    from aqcast.service.model_inputs import load_inputs, load_perturbed_inputs
    from aqcast.service.observations import first_observation_day
    from aqcast.service.settings import get_settings

    settings = settings or get_settings()
    if start is None:
        try:
            start = first_observation_day(engine, settings.timezone)
        except NoObservationsError as exc:
            raise RegistryError("no observations stored: nothing to train on") from exc
    spec = load_feature_spec()
    common = dict(
        spec=spec,
        tz=settings.timezone,
        issue_time=settings.issue_time,
        areas=load_areas(settings.areas_file),
        history_start=start,
    )
    if train_met == "perturbed":
        from aqcast.models.met_error import load_met_error_model

        inputs = load_perturbed_inputs(
            engine,
            [until - timedelta(days=1)],
            error_model=load_met_error_model(met_error),
            seed=seed,
            **common,
        )
    elif train_met in ("observed", "stored"):
        inputs = load_inputs(engine, [until - timedelta(days=1)], met=train_met, **common)
    else:
        raise ValueError(f"train_met must be observed, stored or perturbed, got {train_met!r}")
    if train_met == "stored":
        # Only the days the archive covers teach the model what forecast weather is like.
        table = inputs.table
        wx = [c for c in table.columns if c.startswith("wx_") and not c.startswith("wx_prev_")]
        has = table[wx].notna().any(axis=1) if wx else pd.Series(False, index=table.index)
        if int(has.sum()) < MIN_STORED_ROWS:
            raise RegistryError(
                f"the store has archived weather forecasts for {int(has.sum())} training rows "
                f"(at least {MIN_STORED_ROWS} needed): load them (aqcast ingest met-forecast) "
                "or train with --train-met observed or perturbed"
            )
        inputs.table = table[has]
    at = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    bundle = train_bundle(
        inputs.table,
        inputs.hourly,
        spec=spec,
        tz=settings.timezone,
        train_start=start,
        train_until=until,
        version=new_version(at),
    )
    bundle.hourly = train_hourly_model(inputs, settings.timezone, until, start)  # type: ignore[attr-defined]
    bundle.params["train_met"] = train_met
    save_bundle(engine, bundle, settings.models_path, now=at, activate=activate)
    return bundle
