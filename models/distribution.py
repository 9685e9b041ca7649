"""The predictive distribution around a point forecast, and calibrated exceedance.

A point model's out-of-fold residuals (in the model's transformed space, e.g. log1p for
PM) are grouped by lead and by bin of the predicted value; each group is kept as a
vector of residual quantiles. The forecast distribution of a row is its point forecast
plus that vector, mapped back to concentrations. Exceedance probabilities are read from
it and then passed through an isotonic calibration fitted on the out-of-fold rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression


def to_model_space(values, transform: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if transform == "log1p":
        return np.log1p(np.clip(v, 0.0, None))
    return v


def from_model_space(values, transform: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    # A concentration is never negative: a residual quantile can take a low prediction
    # below log1p(0) = 0, where expm1 turns negative.
    out = np.expm1(v) if transform == "log1p" else v
    return np.clip(out, 0.0, None)


@dataclass
class ResidualModel:
    """Residual quantiles by lead and by bin of the prediction (model space)."""

    transform: str
    levels: np.ndarray  # probability levels of the stored quantiles, in (0, 1)
    edges: dict[int, np.ndarray] = field(default_factory=dict)  # inner bin edges per lead
    residual_q: dict[int, np.ndarray] = field(default_factory=dict)  # (n_bins, n_levels)
    calibrators: dict[float, IsotonicRegression] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        pred_t: np.ndarray,
        obs_t: np.ndarray,
        lead: np.ndarray,
        *,
        transform: str,
        n_bins: int,
        n_levels: int,
    ) -> ResidualModel:
        levels = (np.arange(n_levels) + 0.5) / n_levels
        model = cls(transform=transform, levels=levels)
        ok = ~(np.isnan(pred_t) | np.isnan(obs_t))
        for ld in np.unique(lead):
            sel = ok & (lead == ld)
            p, r = pred_t[sel], obs_t[sel] - pred_t[sel]
            bins = max(1, min(n_bins, len(p) // 200))
            edges = np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]) if bins > 1 else np.array([])
            idx = np.searchsorted(edges, p)
            qs = np.vstack(
                [
                    np.quantile(r[idx == b], levels) if (idx == b).any() else np.quantile(r, levels)
                    for b in range(bins)
                ]
            )
            model.edges[int(ld)] = edges
            model.residual_q[int(ld)] = qs
        return model

    def needed_scale(self, pred_t: np.ndarray, obs_t: np.ndarray, lead: np.ndarray) -> np.ndarray:
        """Per row, the factor by which the 10-90 % offsets from the median residual would
        have to be stretched for the 10-90 % band to just hold the observation (0 at the
        median; 1 on the current q10 or q90), from model-space predictions and observations."""
        r = obs_t - pred_t
        m = self._residual_matrix(pred_t, lead)
        lo, mid, hi = (self._column_at(m, level) for level in (0.1, 0.5, 0.9))
        half = np.where(r >= mid, hi - mid, mid - lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.abs(r - mid) / half
        return np.where(half > 0, t, np.where(r == mid, 0.0, np.inf))

    def _column_at(self, m: np.ndarray, level: float) -> np.ndarray:
        pos = float(np.interp(level, self.levels, np.arange(len(self.levels))))
        a = int(np.floor(pos))
        b = min(a + 1, len(self.levels) - 1)
        return m[:, a] * (1 - (pos - a)) + m[:, b] * (pos - a)

    def scale_spread(self, scale: dict[int, float]) -> None:
        """Stretch (> 1) or narrow (< 1) each lead's residual quantiles about their
        median: the spread calibration (the median, so the point forecast, is kept)."""
        mid = int(np.argmin(np.abs(self.levels - 0.5)))
        for ld, s in scale.items():
            if ld not in self.residual_q or s == 1.0:
                continue
            q = self.residual_q[ld]
            med = q[:, mid : mid + 1]
            self.residual_q[ld] = med + float(s) * (q - med)

    def _residual_matrix(self, pred_t: np.ndarray, lead: np.ndarray) -> np.ndarray:
        out = np.full((len(pred_t), len(self.levels)), np.nan)
        known = sorted(self.residual_q)
        for ld in np.unique(lead):
            # a lead beyond the trained ones borrows the farthest trained lead
            use = int(ld) if int(ld) in self.residual_q else known[-1]
            sel = lead == ld
            idx = np.searchsorted(self.edges[use], pred_t[sel])
            out[sel] = self.residual_q[use][idx]
        return out

    def samples(self, pred_t: np.ndarray, lead: np.ndarray) -> np.ndarray:
        """(n, n_levels) equiprobable values of the predictive distribution [unit]."""
        return from_model_space(
            pred_t[:, None] + self._residual_matrix(pred_t, lead), self.transform
        )

    def quantiles(self, pred_t: np.ndarray, lead: np.ndarray, qs: list[float]) -> np.ndarray:
        """(len(qs), n) quantiles [unit]; the stored residual quantiles are sorted and the
        back-transform is monotone, so each row's samples are already in order."""
        s = self.samples(pred_t, lead)
        pos = np.interp(qs, self.levels, np.arange(len(self.levels)))
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(self.levels) - 1)
        w = pos - lo
        return np.vstack(
            [s[:, a] * (1 - f) + s[:, b] * f for a, b, f in zip(lo, hi, w, strict=True)]
        )

    def raw_exceedance(self, pred_t: np.ndarray, lead: np.ndarray, threshold: float) -> np.ndarray:
        s = self.samples(pred_t, lead)
        return (s > threshold).mean(axis=1)

    def fit_calibration(
        self, pred_t: np.ndarray, obs: np.ndarray, lead: np.ndarray, threshold: float
    ) -> None:
        ok = ~(np.isnan(pred_t) | np.isnan(obs))
        raw = self.raw_exceedance(pred_t[ok], lead[ok], threshold)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(raw, (obs[ok] > threshold).astype(float))
        self.calibrators[float(threshold)] = iso

    def exceedance(self, pred_t: np.ndarray, lead: np.ndarray, threshold: float) -> np.ndarray:
        """P(value > threshold), calibrated when a calibration for it was fitted."""
        raw = self.raw_exceedance(pred_t, lead, threshold)
        iso = self.calibrators.get(float(threshold))
        if iso is None or not len(raw):
            return raw
        # Outside the probabilities seen in calibration the isotonic map is flat; there
        # the uncalibrated value is the better guess.
        inside = (raw >= iso.X_min_) & (raw <= iso.X_max_)
        return np.where(inside, iso.predict(raw), raw)
