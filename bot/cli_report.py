"""`sangkien report UNIT [--phase P] -o FILE.xlsx`: the progress report of a unit, as /baocao
sends it, written at the server (any unit: the shell is trusted), with a progress bar on
standard error when it is a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.i18n import gettext_for
from bot.media import run_off_loop
from bot.services.actor import Actor
from storage import targets as target_store
from storage.engine import utcnow

BAR = 30


def add_parser(subparsers: Any, *, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    rep = subparsers.add_parser("report", parents=list(parents),
                                help="the progress report of a unit as an .xlsx file")
    rep.add_argument("unit", help="the unit's code")
    rep.add_argument("--phase", help="the phase's code (default: the current phase)")
    rep.add_argument("-o", "--out", help="the .xlsx file (default: baocao-UNIT-PHASE.xlsx)")


class Bar:
    """"[██████░░░░] 12.000 / 200.000" redrawn in place, at most ten times a second."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.shown < 0.1:
            return
        self.shown = now
        if total < done:   # no figures to go by (rollups not counted): the count alone
            self.stream.write(f"\r{done:,} …")
        else:
            filled = BAR * done // total if total else BAR
            self.stream.write(f"\r[{'█' * filled}{'░' * (BAR - filled)}] {done:,} / {total:,}")
        self.stream.flush()


async def run(args: argparse.Namespace, engine: AsyncEngine, settings: Settings) -> int:
    from bot.report import ReportDone, file_name, write_report

    _ = gettext_for(settings.default_language)
    bar = Bar(sys.stderr) if sys.stderr.isatty() else None
    out = Path(args.out) if args.out else None
    partial = (out or Path("baocao.xlsx")).with_suffix(".xlsx.part")

    def write(conn: Connection) -> Any:
        with partial.open("wb") as fh:
            return write_report(conn, actor=Actor.shell(), now=utcnow(), unit_code=args.unit,
                                phase_code=args.phase,   # accents and case optional
                                locale=settings.default_language, out=fh, on_progress=bar)

    try:
        done = await run_off_loop(engine, write)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if bar is not None:
        sys.stderr.write("\n")
    if not isinstance(done, ReportDone):
        partial.unlink(missing_ok=True)
        reason = getattr(done, "reason", "")
        codes = await run_off_loop(engine, lambda c: list(target_store.phases(c)))
        if reason == "ambiguous_phase":   # the phases it could be
            codes = target_store.matching_phases(codes, args.phase or "")
        phases = ", ".join(codes) or "–"
        print(_("No report: {reason}.").format(reason={
            "unknown_unit": _("no union has the code {code}").format(code=args.unit),
            "no_phase": _("no such phase (sangkien targets import loads them)"),
            "unknown_phase": _("no phase is called «{phase}»; the phases: {phases}").format(
                phase=args.phase, phases=phases),
            "ambiguous_phase": _("«{phase}» could be more than one phase: {phases}; type the "
                                 "phase's code as it is written, with its accents").format(
                phase=args.phase, phases=phases),
        }.get(reason, reason)), file=sys.stderr)
        return 1
    target = out or Path(file_name(done.unit_code, done.phase_code))
    partial.replace(target)
    print(_("{file}: {children} units, {initiatives} initiatives ({unit}, phase {phase}).")
          .format(file=target, children=done.children, initiatives=done.initiatives,
                  unit=done.unit_code, phase=done.phase_code))
    return 0
