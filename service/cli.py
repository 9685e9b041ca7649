"""The ``aqcast`` command. Each group of commands lives in its own module under
``service/commands``; this module only assembles them."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="aqcast",
    help="Daily ozone and PM2.5 forecasts, work prompts, advisories and warnings.",
    no_args_is_help=True,
    add_completion=False,
)


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
from aqcast.service.commands import stats as _stats  # noqa: E402

app.add_typer(_ingest.app, name="ingest")
app.command("stats")(_stats.stats)

from aqcast.service.commands import alerts as _alerts  # noqa: E402

_alerts.register(app)

from aqcast.service.commands import serve as _serve  # noqa: E402

app.command("serve")(_serve.serve)
app.command("demo")(_serve.demo)

from aqcast.service.commands import forecasting as _forecasting  # noqa: E402

_forecasting.register(app)

from aqcast.service.commands import backfill as _backfill  # noqa: E402

app.add_typer(_backfill.app, name="backfill")
