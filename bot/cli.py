"""`sangkien`: the command line.

It builds the settings, the engine and the core, then starts the channels it finds as
`sangkien.channels` entry points (`bot.channels`), so `bot/` itself never imports a chat
library or `handlers/`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import channels, cli_db, cli_units, fields
from bot.config import Settings
from bot.core import Core
from bot.demo import seed_if_empty
from bot.logs import setup_logging
from bot.outbox import OutboxWorker
from bot.services import roles
from bot.services.actor import Actor
from bot.services.digests import compose_digests
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
    fields.use_file(settings.sangkien_fields_file)
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
            return await cli_units.run(args, engine, settings)
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
                return await channels.terminal(core, settings).chat(user=args.user)
            return await _run(core, settings)
        finally:
            await core.aclose()
    finally:
        await engine.dispose()


async def _invites(args: argparse.Namespace, engine: AsyncEngine) -> int:
    """The administrator's side of roles: trusted, since it needs the server's shell."""
    now, shell = utcnow(), Actor.shell()
    async with engine.begin() as conn:
        if args.command == "revoke":
            revoked = await conn.run_sync(
                lambda c: roles.revoke(conn=c, actor=shell, now=now, code=args.code))
            assert isinstance(revoked, roles.Revoked)
            print(f"code withdrawn: {'yes' if revoked.code_withdrawn else 'no'}; "
                  f"roles revoked: {revoked.roles_revoked}")
            return 0 if revoked.code_withdrawn or revoked.roles_revoked else 1
        invite = await conn.run_sync(lambda c: roles.create_invite(
            conn=c, actor=shell, now=now, role=args.role, unit_code=args.unit, days=args.days))
    if not isinstance(invite, roles.Invite):
        print(f"no unit with code {args.unit}", file=sys.stderr)
        return 2
    print(f"{invite.code}\n{args.role} of {invite.unit_name}, valid {args.days} days.\n"
          f"The person types: /start {invite.code}  (or just the code)")
    return 0


async def _run(core: Core, settings: Settings) -> int:
    plugins = channels.configured(core, settings)
    if not plugins:
        log.info("no channel configured: opening the terminal chat")
        return await channels.terminal(core, settings).chat(user="demo-worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[channels.Channel] = []
    for plugin in plugins:
        if plugin.channel is None:
            continue
        try:
            await plugin.channel.start()
        except Exception as exc:   # a rejected token, an unreachable API: said, not a traceback
            log.critical("%s could not start: %s", plugin.name, exc)
            for ch in reversed(started):
                await ch.stop()
            return 1
        started.append(plugin.channel)
    worker = OutboxWorker(core.engine, [s for p in plugins for s in p.senders])
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
             ", ".join(p.name for p in plugins), gc.get_freeze_count())
    stopping = asyncio.create_task(stop.wait())
    watched = [t for ch in started for t in channels.fatal_tasks(ch)]
    done, _pending = await asyncio.wait([stopping, *watched],
                                        return_when=asyncio.FIRST_COMPLETED)
    failed = stopping not in done
    if failed:
        log.critical("a channel stopped working: shutting down")
    stop.set()
    await upkeep
    await worker.stop()  # before the channels: an in-flight send needs their HTTP clients
    for ch in reversed(started):
        await ch.stop()
    return 1 if failed else 0


async def _upkeep(core: Core, settings: Settings, stop: asyncio.Event) -> None:
    """Durable periodic work: daily digests (idempotent per person and day), pruning."""
    while not stop.is_set():
        try:
            async with core.engine.begin() as conn:
                made = await conn.run_sync(lambda c: compose_digests(
                    conn=c, now=utcnow(), default_locale=settings.default_language))
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
