"""`sangkien`: the command line.

The CLI is the composition root: it builds the engine and the core, then starts the channel
adapters from `handlers/` (imported by name, only when configured), so `bot/` itself stays
free of any chat library.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import signal
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import cli_db, cli_units
from bot.config import Settings
from bot.core import Core
from bot.demo import seed_if_empty
from bot.logs import setup_logging
from bot.outbox import OutboxWorker
from bot.review import compose_digests
from storage import access, queries
from storage import outbox as outbox_store
from storage.engine import make_engine, utcnow
from storage.migrate import upgrade

log = logging.getLogger("sangkien")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sangkien", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start every configured channel (the terminal chat if none)")
    chat = sub.add_parser("chat", help="talk to the bot in the terminal as a demo worker")
    chat.add_argument("--user", default="demo-worker", help="the demo worker's id")
    sub.add_parser("initdb", help="create the tables and load the demo data if empty")
    inv = sub.add_parser("invite", help="create a one-time invite code for a role on a unit")
    inv.add_argument("--role", choices=("chair", "support", "admin"), required=True)
    inv.add_argument("--unit", required=True, help="the unit's code (admin: usually VN)")
    inv.add_argument("--days", type=int, default=7, help="days before the code expires")
    rev = sub.add_parser("revoke", help="withdraw an invite code and any role it granted")
    rev.add_argument("code")
    cli_units.add_parser(sub)
    cli_db.add_parser(sub)
    args = parser.parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level if args.command == "run" else "WARNING",
                  settings.secrets())
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        if args.command == "db":
            return await cli_db.run(args, engine)
        await upgrade(engine=engine)
        if args.command == "units":  # before seeding: a real directory replaces the demo
            return await cli_units.run(args, engine)
        if settings.seed_demo_data:
            loaded = await seed_if_empty(engine)
            if loaded:
                log.info("loaded %d demo units", loaded)
        if args.command == "initdb":
            return 0
        if args.command in ("invite", "revoke"):
            return await _invites(args, engine)
        core = Core(engine, default_locale=settings.default_language)
        try:
            if args.command == "chat":
                return await _chat(core, user=args.user)
            return await _run(core, settings)
        finally:
            await core.aclose()
    finally:
        await engine.dispose()


async def _invites(args: argparse.Namespace, engine: AsyncEngine) -> int:
    """The administrator's side of roles: trusted, since it needs the server's shell."""
    now = utcnow()
    async with engine.begin() as conn:
        if args.command == "revoke":
            code_revoked, roles = await conn.run_sync(
                lambda c: access.revoke_code_and_roles(c, code=args.code, now=now))
            print(f"code withdrawn: {'yes' if code_revoked else 'no'}; roles revoked: {roles}")
            log.warning("admin revoked %s (%d roles)", args.code, roles)
            return 0 if code_revoked or roles else 1
        unit = await conn.run_sync(lambda c: queries.unit_by_code(c, args.unit))
        if unit is None:
            print(f"no unit with code {args.unit}", file=sys.stderr)
            return 2
        code = await conn.run_sync(lambda c: access.create_code(
            c, purpose="invite", role=args.role, unit_id=unit.id, now=now,
            expires_at=now + timedelta(days=args.days)))
    print(f"{code}\n{args.role} of {unit.name}, valid {args.days} days.\n"
          f"The person types: /start {code}  (or just the code)")
    log.warning("admin created an invite for %s of %s", args.role, unit.code)
    return 0


async def _chat(core: Core, *, user: str) -> int:
    terminal = importlib.import_module("handlers.terminal")
    interactive = sys.stdin.isatty()
    channel = terminal.TerminalChannel(core, user_id=user)
    if interactive:
        sys.stdout.write(terminal.render(await channel.send("/start")) + "\n\n")
    await channel.run(terminal.stdin_lines("> " if interactive else None),
                      lambda s: (sys.stdout.write(s), sys.stdout.flush()), echo=not interactive)
    return 0


async def _run(core: Core, settings: Settings) -> int:
    channels: list[Any] = []
    senders: list[Any] = []
    if settings.telegram_bot_token:
        telegram = importlib.import_module("handlers.telegram")
        telegram_sender = importlib.import_module("handlers.telegram_sender")
        tg = telegram.TelegramChannel(
            core, token=settings.telegram_bot_token.get_secret_value(),
            base_url=settings.telegram_base_url)
        channels.append(tg)
        senders.append(telegram_sender.TelegramSender(tg.app.bot))
    if settings.zalo_bot_token:
        zalo = importlib.import_module("handlers.zalo")
        zl = zalo.ZaloChannel(
            core, token=settings.zalo_bot_token.get_secret_value(),
            base_url=settings.zalo_base_url, webhook_url=settings.zalo_webhook_url,
            webhook_secret=(settings.zalo_webhook_secret.get_secret_value()
                            if settings.zalo_webhook_secret else None),
            listen_host=settings.zalo_listen_host, listen_port=settings.zalo_listen_port)
        channels.append(zl)
        senders.append(zl)  # the Zalo channel is its own outbox sender
    if not channels:
        log.info("no channel configured: opening the terminal chat")
        return await _chat(core, user="demo-worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for ch in channels:
        await ch.start()
    worker = OutboxWorker(core.engine, senders)
    core.on_enqueued = worker.wake
    await worker.start()
    upkeep = asyncio.create_task(_upkeep(core, settings, stop))
    # What is loaded by now (modules, PTB, SQLAlchemy's metadata, Babel's data) lives as long
    # as the process: take it out of the cyclic collector's full passes, each of which
    # otherwise walks it all (measured: a 120 ms pause for every chat, every few thousand
    # messages; none after the freeze).
    gc.collect()
    gc.freeze()
    log.info("running: %s (%d long-lived objects kept out of garbage collection)",
             ", ".join(type(c).__name__ for c in channels), gc.get_freeze_count())
    await stop.wait()
    await upkeep
    await worker.stop()  # before the channels: an in-flight send needs their HTTP clients
    for ch in reversed(channels):
        await ch.stop()
    return 0


async def _upkeep(core: Core, settings: Settings, stop: asyncio.Event) -> None:
    """Durable periodic work: daily digests (idempotent per person and day), pruning."""
    while not stop.is_set():
        try:
            async with core.engine.begin() as conn:
                made = await conn.run_sync(lambda c: compose_digests(
                    c, now=utcnow(), default_locale=settings.default_language))
            if made:
                core.on_enqueued and core.on_enqueued()
            await core.prune_events()
            async with core.engine.begin() as conn:   # sent messages, after 30 days
                await conn.run_sync(lambda c: outbox_store.prune(
                    c, before=utcnow() - timedelta(days=30)))
        except Exception:
            log.exception("upkeep round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=60)
        except TimeoutError:
            pass
