"""Intraday: will today's O3 MDA8 exceed 160 ug/m3, given the hours observed so far?

After hours 0..H-1 of the local day are observed (``hours_observed = H``), the remaining
hours are forecast by the morning's lead-0 hourly profile q50(h) corrected by what has
been observed: the forecast errors of consecutive hours are strongly correlated (a
morning running 30 ug/m3 above the forecast usually keeps running above it), so the
errors are modelled as a Gaussian vector with hour-to-hour correlation R (24 x 24,
estimated from out-of-fold errors in training, ``models.hourly``) and hour-and-level
spread sd(h). Standardised errors of the observed hours give, by the conditional
Gaussian, the distribution of the remaining hours' errors; Monte Carlo draws of the
remaining hours (common random numbers, so the result is deterministic) complete the day
with the observed hours as observed, and the share of completed days whose MDA8 exceeds
the limit is the raw probability. An isotonic calibration per H fitted on training
days (``calibrate``) maps it to the published probability.

Certainties come before the model: a day whose observed hours alone already make a valid
8-hour window above the limit has P = 1 (status ``exceeded``); so has a day that cannot
stay at or below it whatever the remaining hours do (even at zero).

Status words (thresholds passed in, from the campaign configuration):
``exceeded`` 已超标, ``near_certain`` 基本确定超标 (P >= near_certain), ``no_risk``
已无超标风险 (P <= no_risk), otherwise ``controllable`` 仍可控.

Pure numpy; MDA8 per ``features.daily`` (windows 00..16 h, 6 valid hours each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from aqcast.features.critical_value import O3_MDA8_LIMIT_UGM3
from aqcast.features.daily import MDA8_MIN_VALID_HOURS, MDA8_WINDOW_HOURS, mda8_windows_ugm3

_CHUNK_DAYS = 64
Status = Literal["exceeded", "near_certain", "controllable", "no_risk"]
STATUS_ZH: dict[str, str] = {
    "exceeded": "已超标",
    "near_certain": "基本确定超标",
    "controllable": "仍可控",
    "no_risk": "已无超标风险",
}
STATUS_EN: dict[str, str] = {
    "exceeded": "exceeded",
    "near_certain": "exceedance near certain",
    "controllable": "still controllable",
    "no_risk": "no exceedance risk left",
}


@dataclass(frozen=True)
class IntradayProbability:
    hours_observed: int
    p_exceed: float  # calibrated P(MDA8 > limit | hours 0..H-1)
    p_raw: float  # before calibration
    status: Status
    certain: bool  # decided by the observed hours alone (P = 1)
    observed_mda8_ugm3: float  # largest window of observed hours only (NaN if none)


def standard_normal_draws(n_samples: int, seed: int = 0) -> np.ndarray:
    """(n_samples, 24) standard normal draws reused for every case (common random
    numbers: a case's probability does not depend on what else is computed)."""
    return np.random.default_rng(seed).standard_normal((n_samples, 24))


def observed_windows_max_ugm3(day: np.ndarray, hours_observed: int) -> float:
    means, _ = mda8_windows_ugm3(day)
    done = np.arange(means.size) + MDA8_WINDOW_HOURS <= hours_observed
    vals = means[done & ~np.isnan(means)]
    return float(vals.max()) if vals.size else float("nan")


def cannot_stay_below(day_obs: np.ndarray, hours_observed: int, limit: float) -> bool:
    """Even with zero ozone in every remaining hour some valid window is above limit."""
    filled = day_obs.copy()
    filled[hours_observed:] = 0.0
    means, _ = mda8_windows_ugm3(filled)
    return bool(np.nanmax(np.where(np.isnan(means), -np.inf, means)) > limit + 1e-9)


def raw_exceedance(
    observed_ugm3: np.ndarray,
    hours_observed: int,
    q50_ugm3: np.ndarray,
    sd_ugm3: np.ndarray,
    correlation: np.ndarray,
    draws: np.ndarray,
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
) -> np.ndarray:
    """Raw P(MDA8 > limit) for many days sharing ``hours_observed`` (vectorised).

    observed_ugm3 : (n, 24) observed O3, NaN for missing or not yet observed hours
    q50_ugm3, sd_ugm3 : (n, 24) forecast q50 and error spread of every hour [ug/m3]
    correlation : (24, 24) error correlation; draws : (m, 24) standard normal draws
    """
    obs = np.asarray(observed_ugm3, dtype=float).copy()
    n = obs.shape[0]
    h_obs = int(hours_observed)
    obs[:, h_obs:] = np.nan
    z_obs = (obs - q50_ugm3) / sd_ugm3
    known = ~np.isnan(z_obs)
    out = np.empty(n)
    # Days with the same observed-hour pattern share the conditional Gaussian.
    patterns, inverse = np.unique(known, axis=0, return_inverse=True)
    for i, pat in enumerate(patterns):
        rows = np.flatnonzero(inverse.ravel() == i)
        o, r = np.flatnonzero(pat), np.flatnonzero(~pat)
        zr_mean = np.zeros((len(rows), len(r)))
        cov = correlation[np.ix_(r, r)]
        if len(o):
            gain = np.linalg.solve(correlation[np.ix_(o, o)], correlation[np.ix_(o, r)]).T
            zr_mean = z_obs[np.ix_(rows, o)] @ gain.T
            cov = cov - gain @ correlation[np.ix_(o, r)]
        w, v = np.linalg.eigh((cov + cov.T) / 2)
        root = v * np.sqrt(np.clip(w, 0.0, None))
        eps = draws[:, : len(r)] @ root.T  # (m, len(r))
        # Chunks of days at once: (days, draws, 24) arrays stay small.
        for c in range(0, len(rows), _CHUNK_DAYS):
            d = rows[c : c + _CHUNK_DAYS]
            day = np.repeat(obs[d][:, None, :], draws.shape[0], axis=1)
            rem = q50_ugm3[np.ix_(d, r)][:, None, :] + sd_ugm3[np.ix_(d, r)][:, None, :] * (
                zr_mean[c : c + _CHUNK_DAYS][:, None, :] + eps[None, :, :]
            )
            day[:, :, r] = np.clip(rem, 0.0, None)
            out[d] = np.mean(_mda8_fast(day) > limit_ugm3, axis=-1)
    return out


def _mda8_fast(day: np.ndarray) -> np.ndarray:
    """MDA8 over the last axis (24 hours, NaN missing) by cumulative sums: the same
    windows and 6-valid-hour rule as ``features.daily.mda8_ugm3``, -inf when none valid."""
    valid = ~np.isnan(day)
    zero = np.zeros((*day.shape[:-1], 1))
    cs = np.concatenate([zero, np.cumsum(np.where(valid, day, 0.0), axis=-1)], axis=-1)
    cn = np.concatenate([zero, np.cumsum(valid, axis=-1)], axis=-1)
    w = MDA8_WINDOW_HOURS
    sums, counts = cs[..., w:] - cs[..., :-w], cn[..., w:] - cn[..., :-w]
    means = np.where(counts >= MDA8_MIN_VALID_HOURS, sums / np.maximum(counts, 1), -np.inf)
    return means.max(axis=-1)


def status_for(p: float, certain: bool, near_certain: float, no_risk: float) -> Status:
    if certain:
        return "exceeded"
    if p >= near_certain:
        return "near_certain"
    if p <= no_risk:
        return "no_risk"
    return "controllable"


def exceedance_probability(
    observed_ugm3: npt.ArrayLike,
    hours_observed: int,
    q50_ugm3: npt.ArrayLike,
    sd_ugm3: npt.ArrayLike,
    correlation: np.ndarray,
    *,
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
    near_certain: float = 0.9,
    no_risk: float = 0.02,
    calibrate=None,
    draws: np.ndarray | None = None,
) -> IntradayProbability:
    """P(MDA8 > limit | hours 0..H-1 observed) of one day (module docstring).

    observed_ugm3 : observed O3 from hour 0 [ug/m3], NaN missing; values from hour H on are
        ignored. calibrate : optional ``f(p_raw, hours_observed) -> p``.
    """
    h_obs = int(hours_observed)
    if not 0 <= h_obs <= 24:
        raise ValueError(f"hours_observed must lie in 0..24, got {h_obs}")
    obs_in = np.asarray(observed_ugm3, dtype=float).ravel()
    if len(obs_in) < h_obs:
        raise ValueError(f"observed_ugm3 has {len(obs_in)} values but hours_observed={h_obs}")
    day = np.full(24, np.nan)
    day[:h_obs] = obs_in[:h_obs]
    if np.any(day[:h_obs] < 0):
        raise ValueError("observed_ugm3: negative concentration")
    q50 = np.asarray(q50_ugm3, dtype=float)
    sd = np.asarray(sd_ugm3, dtype=float)
    if q50.shape != (24,) or sd.shape != (24,):
        raise ValueError("q50_ugm3 and sd_ugm3 need 24 hourly values each")
    observed_mda8 = observed_windows_max_ugm3(day, h_obs)
    certain = bool(observed_mda8 > limit_ugm3 + 1e-9) or (
        h_obs < 24 and cannot_stay_below(day, h_obs, limit_ugm3)
    )
    if certain:
        p_raw = 1.0
    elif h_obs == 24:
        p_raw = 0.0
    else:
        d = standard_normal_draws(400) if draws is None else draws
        p_raw = float(
            raw_exceedance(day[None], h_obs, q50[None], sd[None], correlation, d, limit_ugm3)[0]
        )
    p = p_raw if certain or calibrate is None else float(calibrate(p_raw, h_obs))
    return IntradayProbability(
        hours_observed=h_obs,
        p_exceed=p,
        p_raw=p_raw,
        status=status_for(p, certain, near_certain, no_risk),
        certain=certain,
        observed_mda8_ugm3=observed_mda8,
    )


def remaining_hour_limits_ugm3(
    observed_ugm3: npt.ArrayLike,
    hours_observed: int,
    forecast_ugm3: npt.ArrayLike,
    limit_ugm3: float = O3_MDA8_LIMIT_UGM3,
) -> dict[int, float | None]:
    """Per remaining hour h (H..23): the highest O3 [ug/m3] hour h may reach with MDA8
    still at or below the limit, the observed hours as observed and the other remaining
    hours at their forecast. None when no value keeps it (the others already exceed);
    ``inf`` when no valid window containing h constrains it (cannot happen for in-day
    hours with enough valid neighbours, kept for completeness)."""
    h_obs = int(hours_observed)
    obs_in = np.asarray(observed_ugm3, dtype=float).ravel()
    base = np.asarray(forecast_ugm3, dtype=float).copy()
    if base.shape != (24,):
        raise ValueError("forecast_ugm3 needs 24 hourly values")
    base[:h_obs] = obs_in[:h_obs] if len(obs_in) >= h_obs else np.nan
    out: dict[int, float | None] = {}
    for h in range(h_obs, 24):
        best = np.inf
        for start in range(max(0, h - MDA8_WINDOW_HOURS + 1), min(h, 24 - MDA8_WINDOW_HOURS) + 1):
            win = base[start : start + MDA8_WINDOW_HOURS]
            valid = ~np.isnan(win)
            valid[h - start] = True
            if valid.sum() < MDA8_MIN_VALID_HOURS:
                continue
            others = np.nansum(np.delete(win, h - start))
            best = min(best, limit_ugm3 * valid.sum() - others)
        out[h] = None if best < 0 else float(best)
    return out
