"""Checks every ingested frame passes: its columns, one row per key, zoned times.

Line numbers count a header line: row i of a frame is line i + 2 of its file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aqcast.features.nomenclature import (
    HOURLY,
)
from aqcast.features.timeutil import series_to_store
from aqcast.service.sources.errors import InputError, require_columns


def line_of(frame: pd.DataFrame, mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 2


def store_times(frame: pd.DataFrame, col: str, label: str) -> pd.Series:
    t = frame[col]
    if not isinstance(t.dtype, pd.DatetimeTZDtype):
        raise InputError(label, "times must carry a time zone (UTC offset)", field=col)
    return series_to_store(t)


def check_columns(frame: pd.DataFrame, keys: list[str], allowed: list[str], label: str):
    require_columns(label, frame.columns, keys)
    unknown = [c for c in frame.columns if c not in keys and c not in HOURLY and c not in allowed]
    if unknown:
        raise InputError(
            label,
            f"unknown column(s) {unknown}; variables are named as in docs/nomenclature.md",
            line=1,
            field=unknown[0],
        )
    used = [c for c in allowed if c in frame.columns]
    ignored = [c for c in frame.columns if c in HOURLY and c not in allowed]
    return used, ignored


def check_duplicates(frame: pd.DataFrame, keys: list[str], label: str) -> None:
    dup = frame.duplicated(keys, keep="first").to_numpy()
    if dup.any():
        i = line_of(frame, dup)
        row = frame.iloc[i - 2]
        raise InputError(
            label,
            "the same station and time appear twice",
            line=i,
            field=keys[-1],
            value=f"{row[keys[0]]} {row[keys[-1]]}",
        )
