"""`sangkien targets …`, `sangkien initiatives import`, `sangkien snapshot`: the data behind
progress (bot/progress_files.py, storage/progress.py).

    sangkien targets import FILE        CSV or .xlsx; all or nothing
    sangkien targets export [-o FILE]   CSV (UTF-8), or .xlsx by the file name; stdout by default
    sangkien initiatives import FILE    initiatives registered elsewhere; a known code updates
    sangkien snapshot [--phase CODE]    freeze the figures of ended phases (or of CODE)
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

from bot import initiative_files
from bot import progress_files as files
from bot.config import Settings
from bot.directory import DirectoryError
from bot.i18n import Gettext, gettext_for
from bot.progress_jobs import ended_unfrozen
from storage import progress as store
from storage import targets as target_store
from storage.engine import utcnow

COMMANDS = ("targets", "initiatives", "snapshot")


def add_parsers(subparsers: Any, *, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    targets = subparsers.add_parser("targets", help="phases and targets: import or export them")
    sub = targets.add_subparsers(dest="targets_command", required=True)
    imp = sub.add_parser("import", parents=list(parents),
                         help="load targets from a CSV or .xlsx file (replaces the targets of "
                         "each unit and phase it names)")
    imp.add_argument("file", help="the file (- for standard input)")
    exp = sub.add_parser("export", parents=list(parents), help="write every target out")
    exp.add_argument("-o", "--output", default="-",
                     help="the file: CSV, or .xlsx by the name (default: - for stdout)")
    ini = subparsers.add_parser("initiatives", help="initiatives registered elsewhere")
    isub = ini.add_subparsers(dest="initiatives_command", required=True)
    iimp = isub.add_parser("import", parents=list(parents),
                           help="load initiatives from a CSV or .xlsx file (a known code "
                           "updates that initiative)")
    iimp.add_argument("file", help="the file (- for standard input)")
    snap = subparsers.add_parser("snapshot", parents=list(parents),
                                 help="freeze each ended phase's figures (as the worker does)")
    snap.add_argument("--phase", help="freeze this phase now, even if it has not ended")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


async def run(args: argparse.Namespace, engine: AsyncEngine, settings: Settings) -> int:
    _ = gettext_for(settings.default_language)
    if args.command == "snapshot":
        return await _snapshot(engine, args.phase, _)
    if args.command == "targets" and args.targets_command == "export":
        return await _export(engine, args.output, _)
    file = args.file
    try:
        try:
            data = await asyncio.to_thread(
                files.read_file, sys.stdin.buffer if file == "-" else file)
        except OSError as exc:
            _err(_("Cannot read {file}: {error}").format(file=file, error=exc.strerror or exc))
            return 2
        if args.command == "targets":
            stats = await files.import_targets(engine, data)
            print(_("Imported {file}: {targets} targets of {units} units in {phases} phases."
                    ).format(file=file, targets=stats.targets, units=stats.units,
                             phases=stats.phases))
            if stats.recounted:
                print(_("Phase dates changed: the figures were counted again."))
        else:
            got = await initiative_files.import_initiatives(engine, data, now=utcnow())
            print(_("Imported {file}: {added} new initiatives, {updated} updated.").format(
                file=file, added=got.added, updated=got.updated))
    except DirectoryError as exc:
        _err(_("{file} was rejected; nothing was changed. Problems: {count}").format(
            file=file, count=len(exc.problems)))
        for line in exc.render(_):
            _err("  " + line)
        return 1
    return 0


async def _export(engine: AsyncEngine, file: str, _: Gettext) -> int:
    rows = await files.export_targets(engine)
    if file == "-":
        try:
            files.write_targets_csv(rows, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    path = Path(file)
    try:
        if path.suffix.lower() == ".xlsx":
            await asyncio.to_thread(files.write_targets_xlsx, rows, path)
        else:
            buf = io.StringIO()
            files.write_targets_csv(rows, buf)
            await asyncio.to_thread(path.write_bytes, buf.getvalue().encode("utf-8-sig"))
    except OSError as exc:
        _err(_("Cannot write {file}: {error}").format(file=file, error=exc.strerror or exc))
        return 2
    print(_("Exported {count} targets to {file}.").format(count=len(rows), file=file))
    return 0


async def _snapshot(engine: AsyncEngine, phase: str | None, _: Gettext) -> int:
    now = utcnow()
    async with engine.begin() as conn:
        if phase:   # its exact code, else accents and case optional
            rows = {code: row.id for code, row in (await conn.run_sync(target_store.phases))
                    .items()}
            found = target_store.matching_phases(rows, phase)
            if len(found) > 1:
                _err(_("«{phase}» could be more than one phase: {phases}. Type the phase's "
                       "code as it is written, with its accents.").format(
                    phase=phase, phases=", ".join(found)))
                return 1
            if not found:
                _err(_("No phase is called «{phase}». The phases: {phases}.").format(
                    phase=phase, phases=", ".join(rows) or "–"))
                return 1
            ids = [rows[found[0]]]
        else:
            ids = await conn.run_sync(lambda c: ended_unfrozen(c, now=now))
        for phase_id in ids:
            await conn.run_sync(lambda c, p=phase_id: store.snapshot(c, phase_id=p, now=now))
        if not ids:
            await conn.run_sync(store.fold)
    print(_("Phases frozen: {count}.").format(count=len(ids)))
    return 0
