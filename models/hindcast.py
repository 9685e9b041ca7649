"""Replaying past issue dates with only what was known at each issue time.

The feature table is built once for all issue dates (every feature of an issue date is
known at its 07:00 issue time by construction, see features/feature_table.py); the
replay then trains on the rows whose target day lies before the training cut-off and
predicts the issue dates after it. With monthly retraining the model used on D was
trained on target days before the first day of D's month; without retraining, on target
days before the first replayed issue date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import pandas as pd

from aqcast.features.feature_table import FeatureSpec
from aqcast.features.places import areas_of_entities, is_area_entities, station_labels
from aqcast.models.predict import predict_table
from aqcast.models.train import TrainingConfig, train_bundle

HINDCAST_COLUMNS = [
    "issue_date",
    "target_date",
    "lead_days",
    "area",
    "variable",
    "q10",
    "q50",
    "q90",
    "p_exceed",
    "threshold",
]


@dataclass
class HindcastResult:
    predictions: pd.DataFrame  # predict_table output for every replayed issue date
    trainings: list[dict]  # one per model trained: cut-off, rows, window


def replay(
    table: pd.DataFrame,
    hourly: pd.DataFrame,
    *,
    spec: FeatureSpec,
    tz: str,
    start: date,
    end: date,
    retrain: Literal["monthly", "none"] = "monthly",
    train_from: date | None = None,
    config: TrainingConfig | None = None,
    predict_rows: pd.DataFrame | None = None,
) -> HindcastResult:
    """Forecast every issue date in ``start..end`` from models trained only on earlier
    data. ``table`` holds the training history (and the replayed issue dates unless
    ``predict_rows`` gives them, e.g. built with stored weather forecasts while training
    uses the observed weather: perfect-prognosis training)."""
    target_rows = table if predict_rows is None else predict_rows
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    if end_ts < start_ts:
        raise ValueError(f"hindcast end {end} is before its start {start}")
    if retrain == "monthly":
        months = pd.date_range(start_ts + pd.Timedelta(days=1), end_ts, freq="MS")
        cuts = [start_ts.to_period("M").to_timestamp(), *months]
    elif retrain == "none":
        cuts = [start_ts]
    else:
        raise ValueError(f"retrain must be 'monthly' or 'none', got {retrain!r}")
    preds, trainings = [], []
    previous = None
    for i, cut in enumerate(cuts):
        stop = cuts[i + 1] if i + 1 < len(cuts) else end_ts + pd.Timedelta(days=1)
        in_month = (target_rows["issue_date"] >= max(cut, start_ts)) & (
            target_rows["issue_date"] < stop
        )
        rows = target_rows[in_month]
        if rows.empty:
            continue
        bundle = train_bundle(
            table,
            hourly,
            spec=spec,
            tz=tz,
            train_start=train_from,
            train_until=cut.date(),
            version=f"hindcast-{cut:%Y%m%d}",
            config=config,
            previous=previous,
        )
        previous = previous or bundle
        trainings.append(
            {
                "cutoff": str(cut.date()),
                "train_start": str(bundle.train_start),
                "train_end": str(bundle.train_end),
                "issue_dates": int(rows["issue_date"].nunique()),
            }
        )
        preds.append(predict_table(bundle, rows))
    out = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame()
    return HindcastResult(predictions=out, trainings=trainings)


def entity_area_label(entity: pd.Series) -> pd.Series:
    """Hindcast ``area`` labels: an area's name, or ``station:<code>`` for a station."""
    e = entity.astype(str)
    return areas_of_entities(e).where(is_area_entities(e), station_labels(e))


def hindcast_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """The predictions in the hindcast CSV layout (exactly ``HINDCAST_COLUMNS``)."""
    out = predictions.copy()
    out["area"] = entity_area_label(out["entity"])
    for c in ("issue_date", "target_date"):
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    out = out[HINDCAST_COLUMNS].sort_values(["issue_date", "lead_days", "area", "variable"])
    return out.reset_index(drop=True)
