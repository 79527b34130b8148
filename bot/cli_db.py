"""`sangkien db …`: the database schema (migrations in `migrations/`, run by storage.migrate).

    sangkien db upgrade     migrate to the newest revision (every other command does it too)
    sangkien db current     print the revision; exit status 1 when it is not the newest
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate


def add_parser(subparsers: Any, *, parents: list[Any] = ()) -> None:
    db = subparsers.add_parser("db", parents=list(parents),
                               help="the database schema: upgrade it, show its revision")
    sub = db.add_subparsers(dest="db_command", required=True)
    sub.add_parser("upgrade", help="migrate the database to the newest revision")
    sub.add_parser("current", help="print the database's revision "
                   "(exit status 1 when it is not the newest)")


async def run(args: argparse.Namespace, engine: AsyncEngine) -> int:
    if args.db_command == "upgrade":
        before = await migrate.current(engine=engine)
        try:
            await migrate.upgrade(engine=engine)
        except migrate.MigrationError as exc:
            print(f"cannot upgrade: {exc}", file=sys.stderr)
            return 2
        after = await migrate.current(engine=engine)
        print(f"upgraded from {before or 'none'} to {after} (head)" if before != after
              else f"{after} (head): nothing to do")
        return 0
    rev, head = await migrate.current(engine=engine), migrate.head()
    if rev == head:
        print(f"{rev} (head)")
        return 0
    print(f"{rev or 'none'} (head is {head}: run `sangkien db upgrade`)")
    return 1
