"""Staggered-operation advisories (错峰生产/作业): which hours to avoid and where to move work.

Hours are local clock hours; a window ``(9, 16)`` is 09:00-16:00, end exclusive. A slot
whose start is after its end wraps midnight (``(20, 6)`` is 20:00-06:00).

The window to avoid follows the day's forecast formation (docs/alerts.md):
1. the build-up starts at the first hour after the morning minimum of the q50 profile
   whose O3 has risen ``buildup_fraction`` of the way from that minimum to the peak;
2. the window starts ``lead_hours`` before it (precursors emitted then feed the peak)
   and ends at the forecast peak hour: emissions after the peak matter far less, so the
   afternoon is not held while ozone is still high but already formed;
3. clipped to ``[earliest, latest]`` (caps) and at least ``min_hours`` long (floor,
   extended earlier from the peak).
Without an hourly profile the sector's default window is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from aqcast.alerts.campaign import CampaignFile, Sector, Triggers, WindowRule

Window = tuple[int, int]


def ozone_risk_passes(
    o3_mda8_q50_ugm3: float | None, p_exceed: float | None, triggers: Triggers
) -> bool:
    """True when the day's O3 MDA8 forecast passes the advisory trigger (either condition)."""
    if (
        p_exceed is not None
        and not math.isnan(p_exceed)
        and p_exceed >= triggers.advisory_p_exceed_min
    ):
        return True
    return (
        o3_mda8_q50_ugm3 is not None
        and not math.isnan(o3_mda8_q50_ugm3)
        and o3_mda8_q50_ugm3 >= triggers.advisory_o3_mda8_q50_min_ugm3
    )


def formation_window(profile_ugm3: Sequence[float], rule: WindowRule) -> Window | None:
    """From the build-up ``lead_hours`` early to the forecast peak, as ``(start, end)``
    (end exclusive: the peak hour's start); None without a full profile or a rise.

    ``profile_ugm3``: 24 hourly O3 values (q50) [ug/m3] for local hours 0..23.
    """
    vals = [float(v) if v is not None else math.nan for v in profile_ugm3]
    if len(vals) != 24 or any(math.isnan(v) for v in vals):
        return None
    # The day's peak within the daytime caps (a night maximum is not photochemistry).
    day_hours = range(rule.earliest, rule.latest + 1)
    peak_hour = max(day_hours, key=lambda h: vals[h])
    trough_hour = min(range(0, peak_hour + 1), key=lambda h: vals[h])
    rise = vals[peak_hour] - vals[trough_hour]
    if rise <= 0:
        return None
    level = vals[trough_hour] + rule.buildup_fraction * rise
    buildup = next(h for h in range(trough_hour, peak_hour + 1) if vals[h] >= level)
    return buildup - rule.lead_hours, peak_hour


def avoid_window(building: Window | None, default_window: Window, rule: WindowRule) -> Window:
    """The sector's window to avoid: the formation window clipped to ``[rule.earliest,
    rule.latest]`` and extended earlier to at least ``rule.min_hours``; the sector's
    default window without a formation window."""
    if building is None:
        return tuple(default_window)  # type: ignore[return-value]
    start, end = max(building[0], rule.earliest), min(building[1], rule.latest)
    end = max(end, start)
    if end - start < rule.min_hours:
        start = max(rule.earliest, end - rule.min_hours)
        end = max(end, start + rule.min_hours)
    return start, end


def trim_slot(slot: Window, window: Window) -> Window | None:
    """The part of ``slot`` outside ``window`` on the side the slot lies (None if nothing)."""
    s, e = slot
    w0, w1 = window
    if s < e:  # a daytime slot
        if e <= w0 or s >= w1:
            return slot
        if s < w0:
            return (s, w0)
        if e > w1:
            return (w1, e)
        return None
    # wraps midnight: evening part [s, 24) and morning part [0, e)
    s2 = max(s, w1) if s < w1 else s
    e2 = min(e, w0) if e > w0 else e
    if s2 >= 24 and e2 <= 0:
        return None
    return (s2 % 24, e2)


def hours_text(window: Window) -> str:
    """``(9, 16)`` -> ``"09:00-16:00"``."""
    return f"{window[0] % 24:02d}:00-{window[1] % 24 if window[1] != 24 else 24:02d}:00"


def sector_advisory(
    key: str,
    sector: Sector,
    cfg: CampaignFile,
    building: Window | None,
    rule: WindowRule,
) -> dict:
    window = avoid_window(building, sector.default_window, rule)
    moves = []
    for slot_key in sector.move_to:
        slot = cfg.slots[slot_key]
        trimmed = trim_slot((slot.start, slot.end), window)
        if trimmed is not None:
            moves.append(
                {
                    "slot": slot_key,
                    "name": {"zh": slot.zh, "en": slot.en},
                    "hours": list(trimmed),
                    "hours_text": hours_text(trimmed),
                }
            )
    return {
        "sector": key,
        "name": sector.name.model_dump(),
        "steps": [{"step": s, "name": cfg.steps[s].model_dump()} for s in sector.steps],
        "avoid_hours": list(window),
        "avoid_text": hours_text(window),
        "window_source": "profile" if building is not None else "default",
        "move_to": moves,
    }


def advisories_for_day(
    cfg: CampaignFile,
    district: str,
    area: str,
    target_date: date,
    *,
    o3_mda8_q50_ugm3: float | None,
    p_exceed: float | None,
    profile_ugm3: Sequence[float] | None,
    critical_value_ugm3: float | None = None,
    peak_hour: int | None = None,
) -> list[dict]:
    """One advisory per configured sector when the day's ozone risk passes the trigger;
    an empty list otherwise. Each is a JSON-ready dict for subscribers."""
    plan = cfg.plan(district, target_date.year)
    if not ozone_risk_passes(o3_mda8_q50_ugm3, p_exceed, plan.triggers):
        return []
    building = formation_window(profile_ugm3, plan.window) if profile_ugm3 is not None else None
    out = []
    for key, sector in cfg.sectors.items():
        adv = sector_advisory(key, sector, cfg, building, plan.window)
        adv.update(
            {
                "area": area,
                "target_date": target_date.isoformat(),
                "o3_mda8_q50_ugm3": None if o3_mda8_q50_ugm3 is None else round(o3_mda8_q50_ugm3),
                "p_exceed": None if p_exceed is None else round(float(p_exceed), 2),
                "critical_value_ugm3": (
                    None if critical_value_ugm3 is None else round(critical_value_ugm3)
                ),
                "peak_hour": peak_hour,
            }
        )
        out.append(adv)
    return out
