"""The sangkien command line: the bot's channels, the terminal chat, units and roles.

It builds the settings, the engine and the core, then starts the channels it finds as
`sangkien.channels` entry points (`bot.channels`), so `bot/` itself never imports a chat
library or `handlers/`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import (
    channels,
    cli_campaigns,
    cli_db,
    cli_progress,
    cli_report,
    cli_roles,
    cli_units,
    demo_progress,
    fields,
)
from bot.config import DATABASE_FILE, Settings, home
from bot.core import Core
from bot.demo import seed_if_empty
from bot.i18n import SUPPORTED_LOCALES, gettext_for
from bot.logs import setup_logging
from bot.run import ROLES, serve
from bot.services import roles
from bot.services.actor import Actor
from storage.engine import make_engine, utcnow
from storage.migrate import upgrade

log = logging.getLogger("sangkien")
DEMO_CHAIR_UNIT = "BPC-PR"   # `sangkien chat --as chair`: a district with unions below it


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.load(**({"default_language": args.lang} if args.lang else {}))
    fields.use_file(settings.sangkien_fields_file)
    if (path := settings.database_file()) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _stray_database(settings, path)
    _setup_logs(args, settings)
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sangkien", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lang", choices=SUPPORTED_LOCALES,
                        help="the language spoken (default: DEFAULT_LANGUAGE, else vi)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common],
                         help="start every configured channel (the terminal chat if none)")
    run.add_argument("--role", choices=ROLES, default="all",
                     help="web: webhooks, health and metrics (any number of processes); "
                     "worker: the outbox and the scheduled jobs (any number); all: both "
                     "(default)")
    run.add_argument("--host", help="the address the web application listens on (default: "
                     "WEB_HOST, else 0.0.0.0)")
    run.add_argument("--port", type=int, help="its port (default: WEB_PORT, else 8080; for "
                     "a worker: WORKER_PORT, else none)")
    chat = sub.add_parser("chat", parents=[common],
                          help="talk to the bot in the terminal as a demo worker")
    chat.add_argument("--user", help="the terminal user's id (default: demo-worker, or "
                      "demo-worker-2… while other chats are open)")
    chat.add_argument("--as", dest="as_role", choices=("chair", "support", "admin"),
                      help="try another side of the demo: the chat starts with an invite to "
                      "this role (user demo-chair… unless --user)")
    chat.add_argument("--unit", default=DEMO_CHAIR_UNIT,
                      help=f"the union of --as (default: {DEMO_CHAIR_UNIT})")
    sub.add_parser("initdb", parents=[common],
                   help="create the tables and load the demo data if empty")
    cli_roles.add_parsers(sub, parents=[common])
    cli_units.add_parser(sub, parents=[common])
    cli_db.add_parser(sub, parents=[common])
    cli_campaigns.add_parser(sub, parents=[common])
    cli_progress.add_parsers(sub, parents=[common])
    cli_report.add_parser(sub, parents=[common])
    return parser


def _stray_database(settings: Settings, used: Path) -> None:
    """The database no longer depends on the current folder: say so where an older one
    was made here by earlier versions, so that nobody believes their data lost."""
    here = Path.cwd() / DATABASE_FILE
    if used == home() / DATABASE_FILE and here.is_file() and here.resolve() != used:
        _ = gettext_for(settings.default_language)
        print(_("Note: {file} is not used; the database is {database} (DATABASE_URL chooses "
                "another).").format(file=here, database=used), file=sys.stderr)


def _setup_logs(args: argparse.Namespace, settings: Settings) -> None:
    """Where log lines go. `run` serving chat apps, or in a role of its own: standard error,
    as a service manager expects. Anything else (the terminal chat, the administrator's
    commands): a file, so that no line lands in the middle of a conversation; warnings also
    on standard error, except in a chat at a terminal (its start says where the file is)."""
    command = args.command
    setup_logging(settings.log_level, settings.secrets(), fmt=settings.log_format)
    if command == "run" and (settings.serves_chat_apps() or args.role != "all"):
        return
    root = logging.getLogger()
    [screen] = root.handlers   # as setup_logging made it: its format, its redaction
    screen.setLevel(logging.WARNING)
    try:
        file = logging.FileHandler(settings.log_file(), encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write the log file: %s", exc)
        return
    file.setFormatter(screen.formatter)
    for redact in screen.filters:
        file.addFilter(redact)
    chatting = command in ("run", "chat") and sys.stdin.isatty()
    root.handlers[:] = [file] if chatting else [file, screen]


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        if args.command == "db":
            return await cli_db.run(args, engine)
        await upgrade(engine=engine)
        if args.command == "units":  # before seeding: a real directory replaces the demo
            return await cli_units.run(args, engine, settings)
        if settings.seed_demo_data:
            loaded = await _seed(engine)
            if loaded:
                log.info("loaded %d demo units", loaded)
        if settings.seed_demo_data and (args.command in ("initdb", "chat") or (
                args.command == "run" and args.role == "all")):
            # the demo's phase, targets and initiatives (once, on the demo directory)
            try:
                await demo_progress.seed(engine, now=utcnow())
            except IntegrityError:      # another process starting together seeded it
                pass
        if args.command == "initdb":
            return 0
        if args.command == cli_campaigns.COMMAND:
            return await cli_campaigns.run(args, engine, settings)
        if args.command == "report":
            return await cli_report.run(args, engine, settings)
        if args.command in cli_roles.COMMANDS:
            return await cli_roles.run(args, engine, settings)
        if args.command in cli_progress.COMMANDS:
            return await cli_progress.run(args, engine, settings)
        core = Core(engine, default_locale=settings.default_language)
        try:
            if args.command == "chat":
                return await _chat(core, settings, user=args.user, as_role=args.as_role,
                                   unit=args.unit)
            return await _run(core, settings, args)
        finally:
            await core.aclose()
    finally:
        await engine.dispose()


async def _seed(engine: AsyncEngine) -> int:
    """The demo directory, when the directory is empty. Processes starting together on an
    empty PostgreSQL database may all try: all but one fail on the unique unit codes, once
    the first has committed, and then find its units there."""
    try:
        return await seed_if_empty(engine)
    except IntegrityError:
        return await seed_if_empty(engine)


async def _chat(core: Core, settings: Settings, *, user: str | None,
                as_role: str | None = None, unit: str = DEMO_CHAIR_UNIT) -> int:
    """The terminal chat; at a terminal it first says which database and log file it uses.
    `as_role`: the chat opens with a fresh invite to that role on `unit` (the demo's other
    sides: a chair's /tiendo, /bangxephang, /baocao)."""
    _ = gettext_for(settings.default_language)
    if sys.stdin.isatty():
        print(_("Database: {database}").format(database=settings.database_shown()))
        print(_("Log: {file}").format(file=settings.log_file()))
    chat = channels.terminal(core, settings)
    if as_role is None:
        return await chat.chat(user=user)
    async with core.engine.begin() as conn:
        invite = await conn.run_sync(lambda c: roles.create_invite(
            conn=c, actor=Actor.shell(), now=utcnow(), role=as_role, unit_code=unit.upper()))
    if not isinstance(invite, roles.Invite):
        print(_("No unit has the code {code}.").format(code=unit), file=sys.stderr)
        return 2
    return await chat.chat(user=user or f"demo-{as_role}", start=invite.code)


async def _run(core: Core, settings: Settings, args: argparse.Namespace) -> int:
    try:
        plugins = channels.configured(core, settings)
    except ValueError as exc:   # a webhook secret Telegram or Zalo would not accept
        log.critical("%s", exc)
        return 1
    if not plugins and args.role == "all":
        log.info("no channel configured: opening the terminal chat")
        return await _chat(core, settings, user=None)
    return await serve(core, settings, plugins, role=args.role, host=args.host,
                       port=args.port)
