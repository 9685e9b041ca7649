"""``aqcast train``, ``aqcast models``, ``aqcast forecast``, ``aqcast hindcast`` and
``aqcast skill``: the forecast commands. They do the I/O; models/ does the work."""

from __future__ import annotations

import json
import time as clock
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from aqcast.service.store import open_store

models_app = typer.Typer(help="Trained model versions.", invoke_without_command=True)


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def _choice(value: str, option: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"{option}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _engine():
    return open_store()


DASK_HELP = (
    "Fit the models on the Dask cluster at this address (tcp://host:8786; 'local' starts "
    "a LocalCluster of two worker processes here). Default: AQCAST_DASK_SCHEDULER."
)
DASK_EXTRA = "pip install 'aqcast[dask]'"


def dask_address(option: str | None) -> str | None:
    """``--dask`` or else the AQCAST_DASK_SCHEDULER setting; None: no cluster."""
    from aqcast.service.settings import get_settings

    return option or get_settings().dask_scheduler or None


def dask_training(option: str | None):  # noqa: ANN201 - a context manager
    """The block in which the command trains: on the cluster when an address is given,
    else here. Without dask installed, a one-line error naming the extra."""
    from contextlib import nullcontext

    address = dask_address(option)
    if not address:
        return nullcontext()
    try:
        from aqcast.models.distributed import cluster_training
    except ImportError as exc:
        typer.echo(
            f"error: --dask {address}: {exc.name or 'dask'} is not installed; {DASK_EXTRA}",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"training on the Dask cluster at {address}")
    return cluster_training(address)


def _first_observation_day(engine) -> date:
    from aqcast.models.inputs import NoObservationsError
    from aqcast.service.observations import first_observation_day
    from aqcast.service.settings import get_settings

    try:
        return first_observation_day(engine, get_settings().timezone)
    except NoObservationsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def train(
    until: str = typer.Option(..., "--until", help="Train on data before this day."),
    start: str | None = typer.Option(None, "--from", help="First issue date used."),
    activate: bool = typer.Option(True, "--activate/--no-activate", help="Make it active."),
    train_met: str = typer.Option(
        "observed",
        "--train-met",
        help="Weather of the training days: observed, stored (archived forecasts) or "
        "perturbed (observed plus forecast-like errors).",
    ),
    met_error: Path | None = typer.Option(
        None, "--met-error", help="Weather-error model (YAML) for --train-met perturbed."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the weather errors."),
    dask: str | None = typer.Option(None, "--dask", help=DASK_HELP),
) -> None:
    """Train the forecast models on stored observations before --until and register them."""
    from aqcast.configuration import ConfigError
    from aqcast.models.registry import RegistryError
    from aqcast.service.registry import train_and_register

    _choice(train_met, "--train-met", ("observed", "stored", "perturbed"))
    engine = _engine()
    until_d = _date(until, "--until")
    start_d = _date(start, "--from") if start else _first_observation_day(engine)
    t0 = clock.perf_counter()
    try:
        with dask_training(dask):
            bundle = train_and_register(
                engine,
                until=until_d,
                now=datetime.now(UTC),
                start=start_d,
                activate=activate,
                train_met=train_met,
                met_error=met_error,
                seed=seed,
            )
    except (RegistryError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"model {bundle.version}: trained on {bundle.train_start}..{bundle.train_end} "
        f"in {clock.perf_counter() - t0:.1f} s, training weather {train_met}"
        + (" (active)" if activate else "")
    )
    for var, m in bundle.metrics.items():
        lead0 = m.get("lead0", {})
        rmse = {k: lead0.get(k, {}).get("rmse", float("nan")) for k in lead0}
        typer.echo(
            f"  {var}: out-of-fold lead-0 RMSE {rmse.get('model', float('nan')):.1f}"
            f" (persistence {rmse.get('persistence', float('nan')):.1f},"
            f" climatology {rmse.get('climatology', float('nan')):.1f})"
        )


@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List model versions (the active one marked with *)."""
    if ctx.invoked_subcommand is not None:
        return
    from aqcast.service.registry import list_versions

    rows = list_versions(_engine())
    if not rows:
        typer.echo("no model versions (run `aqcast train --until DATE`)")
        return
    for r in rows:
        mark = "*" if r["active"] else " "
        typer.echo(
            f"{mark} {r['version']}  trained {r['train_start']}..{r['train_end']}  "
            f"created {r['created_at']}  {r['n_features']} features  {r['path']}"
        )


@models_app.command("activate")
def models_activate(version: str = typer.Argument(..., help="Version to make active.")) -> None:
    """Make a version the active one."""
    from aqcast.models.registry import RegistryError
    from aqcast.service.registry import activate

    try:
        activate(_engine(), version)
    except RegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"active model: {version}")


def forecast(
    issue_date: str = typer.Option(..., "--issue-date", help="Issue date, YYYY-MM-DD."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    met: str = typer.Option("stored", "--met", help="stored, observed or none."),
) -> None:
    """Forecast days D..D+3 from the active model and store the run."""
    from aqcast.features.timeutil import store_now
    from aqcast.service.forecasts import make_forecast, store_forecast

    _choice(fmt, "--format", ("table", "json", "csv"))
    _choice(met, "--met", ("stored", "observed", "none"))
    d = _date(issue_date, "--issue-date")
    engine = _engine()
    fc = make_forecast(engine, d, met=met)  # type: ignore[arg-type]
    run_id = store_forecast(engine, fc, now=store_now())
    if fmt == "csv":
        typer.echo(fc.values.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        typer.echo(json.dumps(_forecast_json(fc, run_id), ensure_ascii=False, indent=1))
        return
    typer.echo(
        f"forecast issued {fc.issue_date} (run {run_id}) model {fc.model_version or '-'} "
        f"method {fc.method} met {fc.met_mode}"
    )
    for note in fc.notes:
        typer.echo(f"note: {note}")
    if fc.missing_inputs:
        typer.echo(f"missing inputs: {', '.join(fc.missing_inputs)}")
    area_rows = fc.values[fc.values["station"] == ""]
    show = area_rows[
        ["area", "target_date", "lead_days", "variable", "q10", "q50", "q90", "p_exceed", "method"]
    ]
    typer.echo(show.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if len(fc.critical):
        crit = fc.critical[fc.critical["station"] == ""]
        typer.echo(crit.to_string(index=False, float_format=lambda x: f"{x:.0f}"))
    if len(fc.risk):
        typer.echo(fc.risk.to_string(index=False, float_format=lambda x: f"{x:.2f}"))


def _forecast_json(fc, run_id: int) -> dict:
    def records(frame: pd.DataFrame) -> list[dict]:
        f = frame.copy()
        for c in f.columns:
            if c.endswith("date"):
                f[c] = f[c].astype(str)
        return json.loads(f.to_json(orient="records"))

    return {
        "run_id": run_id,
        "issue_date": fc.issue_date.isoformat(),
        "issued_at": fc.issued_at.isoformat() + "Z",
        "model_version": fc.model_version,
        "met_mode": fc.met_mode,
        "method": fc.method,
        "missing_inputs": fc.missing_inputs,
        "notes": fc.notes,
        "values": records(fc.values),
        "hourly_o3": records(fc.hourly_o3),
        "critical": records(fc.critical),
        "risk": records(fc.risk),
    }


def hindcast(
    start: str = typer.Option(..., "--start", help="First issue date."),
    end: str = typer.Option(..., "--end", help="Last issue date."),
    out: Path = typer.Option(..., "--out", help="Hindcast CSV to write."),
    alerts_out: Path | None = typer.Option(None, "--alerts-out", help="Alerts JSONL."),
    met: str = typer.Option("observed", "--met", help="observed, stored or perturbed."),
    retrain: str = typer.Option("monthly", "--retrain", help="monthly or none."),
    train_from: str | None = typer.Option(None, "--train-from", help="First training day."),
    warning_rules: str | None = typer.Option(
        None, "--warning-rules", help="Replay the alerts under this warning rule set."
    ),
    risk_out: Path | None = typer.Option(
        None, "--risk-out", help="P(AQI>200) and adverse-weather flags CSV."
    ),
    hourly_out: Path | None = typer.Option(
        None, "--hourly-out", help="Hourly O3 q10/q50/q90 CSV to write."
    ),
    critical_out: Path | None = typer.Option(
        None, "--critical-out", help="Ozone critical values CSV to write."
    ),
    intraday_out: Path | None = typer.Option(
        None, "--intraday-out", help="Intraday P(MDA8 > 160) CSV to write."
    ),
    met_error: Path | None = typer.Option(
        None, "--met-error", help="Weather-error model (YAML) for --met perturbed."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the weather errors (--met perturbed)."),
    train_met: str | None = typer.Option(
        None,
        "--train-met",
        help="Weather of the training rows: observed, perturbed or stored "
        "(default: perturbed with --met perturbed, else observed).",
    ),
    dask: str | None = typer.Option(None, "--dask", help=DASK_HELP),
) -> None:
    """Replay issue dates with only the data known at each issue time."""
    from aqcast.configuration import ConfigError
    from aqcast.service.evaluation import run_hindcast

    _choice(met, "--met", ("observed", "stored", "perturbed"))
    if train_met is not None:
        _choice(train_met, "--train-met", ("observed", "stored", "perturbed"))
    if met_error is not None and "perturbed" not in (met, train_met):
        raise typer.BadParameter("--met-error needs --met perturbed or --train-met perturbed")
    _choice(retrain, "--retrain", ("monthly", "none"))
    rules = _warning_rules(warning_rules) if warning_rules else None
    d1, d2 = _date(start, "--start"), _date(end, "--end")
    if d2 < d1:
        raise typer.BadParameter(f"--end {d2} is before --start {d1}")
    engine = _engine()
    d0 = _date(train_from, "--train-from") if train_from else _first_observation_day(engine)
    if "perturbed" in (met, train_met):
        from aqcast.models.met_error import load_met_error_model

        try:
            load_met_error_model(met_error)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    extra = {"--hourly-out": hourly_out, "--critical-out": critical_out}
    extra["--intraday-out"] = intraday_out
    want_hourly = any(p is not None for p in extra.values())
    try:
        with dask_training(dask):
            hc = run_hindcast(
                engine,
                d1,
                d2,
                met=met,  # type: ignore[arg-type]
                retrain=retrain,  # type: ignore[arg-type]
                train_from=d0,
                met_error=met_error,
                seed=seed,
                train_met=train_met,  # type: ignore[arg-type]
                hourly=want_hourly,
            )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _write_csv(hc.rows, out)
    if want_hourly:
        from aqcast.models.hourly_hindcast import (
            critical_csv_rows,
            hourly_csv_rows,
            intraday_csv_rows,
        )

        frames = {
            "--hourly-out": hourly_csv_rows,
            "--critical-out": critical_csv_rows,
            "--intraday-out": intraday_csv_rows,
        }
        for option, path in extra.items():
            if path is not None:
                rows = frames[option](hc.hourly)
                _write_csv(rows, path)
                typer.echo(f"{option}: {len(rows)} rows -> {path}")
    Path(str(out) + ".meta.json").write_text(json.dumps(hc.meta, indent=1))
    typer.echo(f"hindcast {d1}..{d2}: {len(hc.rows)} rows in {hc.meta['seconds']:.1f} s -> {out}")
    for note in hc.meta["notes"]:
        typer.echo(f"note: {note}")
    if risk_out is not None and hc.risk is not None:
        _write_csv(hc.risk, risk_out)
        typer.echo(f"{len(hc.risk)} risk rows -> {risk_out}")
    if alerts_out is not None:
        _write_alerts(hc.rows, alerts_out, rules)


def _warning_rules(name: str):  # noqa: ANN202 - alerts.warnings.RuleSet
    """The named rule set (the campaign file's own first, then the shipped ones)."""
    from aqcast.configuration import ConfigError
    from aqcast.service.configured import current_campaign

    try:
        return current_campaign().rule_set(name)
    except ConfigError as exc:
        raise typer.BadParameter(f"--warning-rules: {exc}") from None


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write through a temporary file, so a failed write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False, float_format="%.4g")
    tmp.replace(path)


def _write_alerts(rows: pd.DataFrame, path: Path, rules=None) -> None:  # noqa: ANN001
    try:
        from aqcast.alerts import hindcast_events
        from aqcast.service.configured import current_campaign
    except ImportError as exc:
        typer.echo(f"error: alerts are not available: {exc}", err=True)
        raise typer.Exit(2) from exc
    from aqcast.features.places import is_station_labels

    area_rows = rows[~is_station_labels(rows["area"])]
    lines = hindcast_events(area_rows, current_campaign(), rules=rules)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    typer.echo(f"{len(lines)} alert events -> {path}")


def skill(
    file: Path = typer.Argument(..., help="Hindcast CSV (from aqcast hindcast)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    plots: Path | None = typer.Option(
        None, "--plots", help="Write the skill figures (PNG and SVG) into this folder."
    ),
    compare: Path | None = typer.Option(
        None,
        "--compare",
        help="A second hindcast of the same issue dates (e.g. --met perturbed): scores "
        "side by side.",
    ),
) -> None:
    """Score a hindcast against the stored observations, beside persistence and climatology."""
    from aqcast.models.hindcast import HINDCAST_COLUMNS
    from aqcast.models.skill import summary_table
    from aqcast.service.evaluation import verify

    _choice(fmt, "--format", ("table", "json"))
    hc = _read_hindcast(file, HINDCAST_COLUMNS)
    meta = _read_meta(file)
    engine = _engine()
    _first_observation_day(engine)  # a clear error when nothing is stored
    v = verify(engine, hc, meta)
    if compare is not None:
        _skill_compare(engine, file, v, meta, compare, fmt)
        return
    header = {"file": str(file), **v.header}
    if plots is not None:
        from aqcast.models.plots import write_skill_plots

        weather = (
            "observed weather of the target days (perfect prognosis)"
            if v.header.get("perfect_prognosis")
            else f"weather input: {v.header.get('met_mode')}"
        )
        caption = f"issue dates {v.header['issue_dates']}; {weather}"
        written = write_skill_plots(v.frame, v.scores, plots, caption)
        header["plots"] = f"{len(written)} files in {plots}"
    if fmt == "json":
        payload = {"header": header, "scores": json.loads(v.scores.to_json(orient="records"))}
        typer.echo(json.dumps(payload, indent=1, ensure_ascii=False))
        return
    for k, val in header.items():
        typer.echo(f"# {k}: {val}")
    typer.echo(
        summary_table(v.scores).to_string(
            index=False, float_format=lambda x: f"{x:.3g}", na_rep="-"
        )
    )


def _read_meta(file: Path) -> dict:
    meta_path = Path(str(file) + ".meta.json")
    return json.loads(meta_path.read_text()) if meta_path.is_file() else {}


def _mode_label(meta: dict, file: Path) -> str:
    mode = meta.get("met_mode")
    return {"observed": "perfect", "perturbed": "perturbed", "stored": "stored"}.get(
        mode, file.stem
    )


def _skill_compare(engine, file: Path, v, meta: dict, other: Path, fmt: str) -> None:
    """``aqcast skill A.csv --compare B.csv``: the two hindcasts' scores side by side."""
    from aqcast.models.hindcast import HINDCAST_COLUMNS
    from aqcast.models.skill import side_by_side
    from aqcast.service.evaluation import verify

    hc_b = _read_hindcast(other, HINDCAST_COLUMNS)
    meta_b = _read_meta(other)
    a_dates = set(pd.read_csv(file, usecols=["issue_date"])["issue_date"])
    if set(hc_b["issue_date"]) != a_dates:
        typer.echo(f"error: {other}: not the issue dates of {file}", err=True)
        raise typer.Exit(1)
    vb = verify(engine, hc_b, meta_b)
    la, lb = _mode_label(meta, file), _mode_label(meta_b, other)
    if la == lb:
        la, lb = file.stem, other.stem
    table = side_by_side(v.scores, vb.scores, la, lb)
    header = {
        la: {"file": str(file), **v.header},
        lb: {"file": str(other), **vb.header},
    }
    if fmt == "json":
        payload = {"header": header, "side_by_side": json.loads(table.to_json(orient="records"))}
        typer.echo(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
        return
    for label, h in header.items():
        typer.echo(
            f"# {label}: {h['file']}; met_mode {h['met_mode']}; issue dates {h['issue_dates']}"
        )
        for note in h.get("notes", []):
            typer.echo(f"#   note: {note}")
    typer.echo(f"# observations: {v.header['observations']}; baselines: {v.header['baselines']}")
    typer.echo(table.to_string(index=False, float_format=lambda x: f"{x:.3g}", na_rep="-"))


def _read_hindcast(file: Path, columns: list[str]) -> pd.DataFrame:
    try:
        hc = pd.read_csv(file, dtype={"area": str, "variable": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {file}: cannot read as CSV: {exc}", err=True)
        raise typer.Exit(1) from exc
    if list(hc.columns) != columns:
        typer.echo(
            f"error: {file}: line 1: columns must be exactly {','.join(columns)}; "
            f"got {','.join(map(str, hc.columns))}",
            err=True,
        )
        raise typer.Exit(1)
    for c in ("issue_date", "target_date"):
        bad = pd.to_datetime(hc[c], errors="coerce", format="%Y-%m-%d").isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            typer.echo(
                f"error: {file}: line {i + 2}: field {c}: not a date: {hc[c].iloc[i]!r}", err=True
            )
            raise typer.Exit(1)
    return hc


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
    app.command("forecast")(forecast)
    app.command("hindcast")(hindcast)
    app.command("skill")(skill)
