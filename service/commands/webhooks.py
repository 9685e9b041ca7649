"""``aqcast dispatch`` (send due webhook deliveries) and ``aqcast deliveries`` (inspect and
replay them)."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer
from sqlalchemy import select

from aqcast.features.timeutil import store_now
from aqcast.service.settings import get_settings
from aqcast.service.store import open_store, session_scope
from aqcast.service.tables import Delivery
from aqcast.service.webhooks import SubscriptionError
from aqcast.service.webhooks.dispatcher import DispatchConfig, run_dispatcher
from aqcast.service.webhooks.subscriptions import replay_delivery

deliveries_app = typer.Typer(help="Webhook deliveries: list and replay.", no_args_is_help=True)


def dispatch(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit."),
    batch_size: int = typer.Option(100, min=1, help="Deliveries claimed per batch."),
    poll_interval: float = typer.Option(1.0, min=0.01, help="Wait between empty polls [s]."),
) -> None:
    """Send due webhook deliveries (runs until stopped unless --once)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    engine = open_store(settings.database_url)
    config = DispatchConfig.from_settings(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await run_dispatcher(
            engine,
            config=config,
            batch_size=batch_size,
            poll_interval_s=poll_interval,
            once=once,
            stop=stop,
        )
        typer.echo(
            f"claimed {stats.claimed}, delivered {stats.delivered}, retrying {stats.retried}, "
            f"dead {stats.dead}, endpoints disabled {stats.disabled}"
        )

    asyncio.run(main())


@deliveries_app.command("list")
def list_deliveries(
    status: str | None = typer.Option(None, help="pending, sending, delivered or dead."),
    subscription: str | None = typer.Option(None, help="Only this subscription's."),
    limit: int = typer.Option(50, min=1),
) -> None:
    """Deliveries, newest first."""
    engine = open_store()
    stmt = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(Delivery.status == status)
    if subscription:
        stmt = stmt.where(Delivery.subscription_id == subscription)
    with session_scope(engine) as session:
        for d in session.scalars(stmt):
            typer.echo(
                f"{d.id}  {d.subscription_id}  {d.status:9}  attempts={d.attempts}  "
                f"next={d.next_attempt_at:%Y-%m-%d %H:%M:%S}  {d.last_error or ''}"
            )


@deliveries_app.command("replay")
def replay(delivery_id: str) -> None:
    """Send a dead letter again."""
    engine = open_store()
    with session_scope(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise typer.BadParameter(f"no delivery {delivery_id!r}", param_hint="DELIVERY_ID")
        try:
            replay_delivery(session, delivery, store_now())
        except SubscriptionError as exc:
            raise typer.BadParameter(str(exc), param_hint="DELIVERY_ID") from exc
    typer.echo(f"{delivery_id} queued again")


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch)
    app.add_typer(deliveries_app, name="deliveries")
