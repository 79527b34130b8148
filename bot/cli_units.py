"""`sangkien units …`: import and export the union directory, print QR posters.

    sangkien units import FILE                 CSV or .xlsx; all or nothing
    sangkien units export [FILE|-]             CSV (UTF-8), or .xlsx by the file name
    sangkien units qr CODE [--out FILE.png] [--bot-username NAME] [--font FILE.ttf]

The poster's deep link needs the Telegram bot's username: --bot-username, else
TELEGRAM_BOT_USERNAME, else Telegram is asked (getMe) when TELEGRAM_BOT_TOKEN is set.
Messages are in the default language (DEFAULT_LANGUAGE or --lang, Vietnamese unless set).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import channels, directory, posters
from bot.config import Settings
from bot.core import Core
from bot.i18n import Gettext, gettext_for

LISTED = 10  # codes named in the summary before "…"


def add_parser(subparsers: Any, *, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """`parents`: the options every command takes (--lang)."""
    units = subparsers.add_parser(
        "units", help="the union directory: import or export it, print QR posters")
    sub = units.add_subparsers(dest="units_command", required=True)
    imp = sub.add_parser("import", parents=list(parents),
                         help="load or update units from a CSV or .xlsx file")
    imp.add_argument("file", help="the file (- for standard input)")
    exp = sub.add_parser("export", parents=list(parents),
                         help="write every unit out (CSV, or .xlsx by the name)")
    exp.add_argument("file", nargs="?", default="-", help="the file (default: - for stdout)")
    qr = sub.add_parser("qr", parents=list(parents),
                        help="a printable PNG poster with the unit's Telegram QR code")
    qr.add_argument("code", help="the unit's code")
    qr.add_argument("--out", help="the PNG file (default: qr-CODE.png)")
    qr.add_argument("--bot-username", help="the Telegram bot's username (default: "
                    "TELEGRAM_BOT_USERNAME, else asked of Telegram with TELEGRAM_BOT_TOKEN)")
    qr.add_argument("--font", help="a TrueType font with Vietnamese letters "
                    "(default: DejaVu Sans when installed)")


async def run(args: argparse.Namespace, engine: AsyncEngine, settings: Settings) -> int:
    _ = gettext_for(settings.default_language)
    if args.units_command == "import":
        return await _import(engine, args.file, _)
    if args.units_command == "export":
        return await _export(engine, args.file, _)
    return await _qr(engine, args, settings, _)


async def _ask_bot_username(engine: AsyncEngine, settings: Settings) -> str | None:
    """Ask the chat app (Telegram's getMe), when a channel with a token can tell."""
    core = Core(engine, default_locale=settings.default_language)
    try:
        for plugin in channels.configured(core, settings):
            if plugin.bot_username is not None and (name := await plugin.bot_username()):
                return name
        return None
    finally:
        await core.aclose()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _codes(codes: list[str]) -> str:
    shown = ", ".join(codes[:LISTED])
    return shown + (", …" if len(codes) > LISTED else "")


async def _import(engine: AsyncEngine, file: str, _: Gettext) -> int:
    try:
        try:
            data = await asyncio.to_thread(
                directory.read_file, sys.stdin.buffer if file == "-" else file)
        except OSError as exc:
            _err(_("Cannot read {file}: {error}").format(file=file, error=exc.strerror or exc))
            return 2
        parsed = directory.parse(data)
        stats = await directory.import_parsed(engine, parsed)
    except directory.DirectoryError as exc:
        _err(_("{file} was rejected and nothing was changed. Problems: {count}").format(
            file=file, count=len(exc.problems)))
        for line in exc.render(_):
            _err("  " + line)
        return 1
    out = [_("Imported {file}: {added} new, {updated} updated, {unchanged} unchanged.").format(
        file=file, added=stats.added, updated=stats.updated, unchanged=stats.unchanged)]
    if stats.moved:
        out.append(_("Moved to another parent: {codes}").format(codes=_codes(stats.moved)))
    if stats.renamed:
        out.append(_("Renamed: {codes}").format(codes=_codes(stats.renamed)))
    if stats.terms_rebuilt:
        out.append(_("Search terms recomputed for {count} units.").format(
            count=stats.terms_rebuilt))
    if parsed.formula_like:
        out.append(_("Names or clusters that a spreadsheet would take for a formula (they start "
                     "with =, +, - or @; exports write them as text): {codes}").format(
            codes=_codes(parsed.formula_like)))
    if stats.untouched:
        out.append(_("{count} units in the directory are not in the file; they were left as "
                     "they are.").format(count=stats.untouched))
    print("\n".join(out))
    return 0


async def _export(engine: AsyncEngine, file: str, _: Gettext) -> int:
    rows = await directory.export_units(engine)
    if file == "-":
        try:
            directory.write_csv(rows, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:     # `… | head`: the reader has gone, that is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    path = Path(file)
    try:
        if path.suffix.lower() == ".xlsx":
            await asyncio.to_thread(directory.write_xlsx, rows, path)
        else:
            # With a BOM, as Excel's «CSV UTF-8»: Excel then shows the accents right.
            buf = io.StringIO()
            directory.write_csv(rows, buf)
            await asyncio.to_thread(path.write_bytes, buf.getvalue().encode("utf-8-sig"))
    except OSError as exc:
        _err(_("Cannot write {file}: {error}").format(file=file, error=exc.strerror or exc))
        return 2
    print(_("Exported {count} units to {file}.").format(count=len(rows), file=file))
    return 0


async def _qr(engine: AsyncEngine, args: argparse.Namespace, settings: Settings,
              _: Gettext) -> int:
    username = (args.bot_username or settings.telegram_bot_username
                or await _ask_bot_username(engine, settings))
    if not username:
        _err(_("Give the bot's Telegram username with --bot-username or "
               "TELEGRAM_BOT_USERNAME."))
        return 2
    async with engine.connect() as conn:
        found = await conn.run_sync(directory.unit_by_code_sync, args.code)
    if found is None:
        _err(_("No unit has the code {code}.").format(code=args.code))
        return 1
    name, parent_name = found
    code = args.code.strip().upper()
    out = args.out or f"qr-{code}.png"
    if args.font and not await asyncio.to_thread(Path(args.font).is_file):
        _err(_("Cannot read {file}: {error}").format(file=args.font, error="not a file"))
        return 2
    link = posters.deep_link(username, code)
    try:
        await asyncio.to_thread(lambda: posters.render_poster(
            name=name, parent_name=parent_name, link=link, out=out, _=_, font_path=args.font))
    except OSError as exc:
        _err(_("Cannot write {file}: {error}").format(file=out, error=exc.strerror or exc))
        return 2
    print(_("Poster for {name} written to {file} ({link}).").format(
        name=name, file=out, link=link))
    return 0
