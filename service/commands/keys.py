"""``aqcast keys``: create, list and revoke API keys from the command line."""

from __future__ import annotations

import typer

from aqcast.features.timeutil import store_now
from aqcast.service.auth import (
    ROLES,
    KeyBindingError,
    UnknownRoleError,
    create_key,
    list_keys,
    revoke_key,
)
from aqcast.service.store import open_store, session_scope

app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


@app.command("create")
def create(
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    name: str = typer.Option(..., "--name", help="Who holds the key."),
    enterprise: int | None = typer.Option(
        None, "--enterprise", help="Bind an enterprise key to this registered enterprise id."
    ),
) -> None:
    """Create a key and print it once; only its hash is stored."""
    if not name.strip():
        raise typer.BadParameter("must not be empty", param_hint="--name")
    engine = open_store()
    try:
        with session_scope(engine) as session:
            row, key = create_key(
                session, name=name.strip(), role=role, now=store_now(), enterprise_id=enterprise
            )
            key_id, prefix = row.id, row.prefix
    except UnknownRoleError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from exc
    except KeyBindingError as exc:
        raise typer.BadParameter(str(exc), param_hint="--enterprise") from exc
    typer.echo(key)
    bound = f", enterprise {enterprise}" if enterprise is not None else ""
    typer.echo(
        f"key {key_id} ({prefix}..., role {role}, name {name.strip()!r}{bound}) created; "
        "this is the only time the key is shown",
        err=True,
    )


@app.command("list")
def list_() -> None:
    """List keys (id, prefix, role, name, created, revoked); never the keys themselves."""
    engine = open_store()
    with session_scope(engine) as session:
        rows = list_keys(session)
        typer.echo("id\tprefix\trole\tname\tcreated_at\trevoked_at")
        for r in rows:
            revoked = r.revoked_at.isoformat() if r.revoked_at else ""
            typer.echo(
                f"{r.id}\t{r.prefix}\t{r.role}\t{r.name}\t{r.created_at.isoformat()}\t{revoked}"
            )


@app.command("revoke")
def revoke(
    key_id: int = typer.Argument(..., help="The key's id (see `aqcast keys list`)."),
) -> None:
    """Revoke a key at once."""
    engine = open_store()
    with session_scope(engine) as session:
        row = revoke_key(session, key_id, now=store_now())
    if row is None:
        typer.echo(f"no key with id {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} ({row.prefix}...) revoked")
