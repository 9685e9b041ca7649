"""The ``aqcast`` command. Each group of commands lives in its own module under
``service/commands``; this module only assembles them, and answers every failure that
escapes a command in one line (``--debug`` shows the traceback instead)."""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from aqcast.service.errors import describe_failure

# Metavars shown in help instead of typer's "<str>", "<bool>" type placeholders.
_METAVARS = {"<str>": "TEXT", "<int>": "INTEGER", "<float>": "NUMBER", "<Path>": "PATH"}


def _plain_metavars(cmd: Any, ctx: Any) -> None:
    """Give every option and argument of ``cmd`` and its subcommands a plain metavar: flags
    none, values TEXT/INTEGER/NUMBER/PATH or their formats, arguments their name."""
    params = list(getattr(cmd, "params", []))
    help_option = cmd.get_help_option(ctx) if hasattr(cmd, "get_help_option") else None
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "metavar", None) is not None:
            continue
        if isinstance(param, TyperArgument):
            param.metavar = (param.name or "value").upper()
        elif isinstance(param, TyperOption):
            if param.is_flag or param.count:
                param.metavar = ""
            else:
                shown = param.display_type(ctx)
                param.metavar = _METAVARS.get(shown, shown.strip("<>").upper())
    for sub in getattr(cmd, "commands", {}).values():
        _plain_metavars(sub, ctx)


class AqcastGroup(TyperGroup):
    """The root group: plain help metavars, and one line (no traceback) for any failure."""

    def get_help(self, ctx: Any) -> str:
        _plain_metavars(self, ctx)
        return super().get_help(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_metavars(cmd, ctx)
        return cmd

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug(ctx) or isinstance(exc, typer.TyperException):
                raise
            hint = (
                ""
                if type(exc).__module__.startswith("aqcast.")
                else " (run with --debug for the traceback)"
            )
            typer.echo(f"error: {describe_failure(exc)}{hint}", err=True)
            raise typer.Exit(1) from None


def _debug(ctx: Any) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("AQCAST_DEBUG", "") not in ("", "0")


app = typer.Typer(
    name="aqcast",
    cls=AqcastGroup,
    help="Daily ozone and PM2.5 forecasts, work prompts, advisories and warnings.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of a failure (also AQCAST_DEBUG=1)."
    ),
) -> None:
    """Daily ozone and PM2.5 forecasts, work prompts, advisories and warnings."""


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from aqcast.service.settings import get_settings
    from aqcast.service.store import migrate as run_migrations

    url = get_settings().database_url
    run_migrations(url)
    typer.echo("database is at the latest schema")


from aqcast.service.commands import keys as _keys  # noqa: E402

app.add_typer(_keys.app, name="keys")

from aqcast.service.commands import webhooks as _webhooks  # noqa: E402

_webhooks.register(app)

from aqcast.service.commands import ingest as _ingest  # noqa: E402
from aqcast.service.commands import ingest_cnemc as _ingest_cnemc  # noqa: E402
from aqcast.service.commands import stats as _stats  # noqa: E402

_ingest_cnemc.register(_ingest.app)
app.add_typer(_ingest.app, name="ingest")
app.command("stats")(_stats.stats)

from aqcast.service.commands import alerts as _alerts  # noqa: E402

_alerts.register(app)

from aqcast.service.commands import serve as _serve  # noqa: E402

app.command("serve")(_serve.serve)
app.command("demo")(_serve.demo)

from aqcast.service.commands import forecasting as _forecasting  # noqa: E402

_forecasting.register(app)

from aqcast.service.commands import enterprises as _enterprises  # noqa: E402

_enterprises.register(app)

from aqcast.service.commands import publish as _publish  # noqa: E402

_publish.register(app)

from aqcast.service.commands import backfill as _backfill  # noqa: E402

app.add_typer(_backfill.app, name="backfill")
