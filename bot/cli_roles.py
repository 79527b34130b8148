"""`sangkien invite` and `sangkien revoke`: the administrator's side of roles, trusted since
it needs the server's shell.

    sangkien invite --role chair|support|admin --unit CODE [--days N]
    sangkien revoke CODE

Messages are in the default language (DEFAULT_LANGUAGE, or --lang; Vietnamese unless set).
What was done is logged at INFO (`bot.services.roles`) in the log file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.i18n import normalise_locale, translations
from bot.labels import ROLE_LABELS
from bot.services import roles
from bot.services.actor import Actor
from storage.engine import utcnow

COMMANDS = ("invite", "revoke")


def add_parsers(subparsers: Any, *, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    inv = subparsers.add_parser("invite", parents=list(parents),
                                help="create a one-time invite code for a role on a unit")
    inv.add_argument("--role", choices=tuple(ROLE_LABELS), required=True)
    inv.add_argument("--unit", required=True, help="the unit's code (admin: usually VN)")
    inv.add_argument("--days", type=int, default=roles.INVITE_DAYS,
                     help="days before the code expires")
    rev = subparsers.add_parser("revoke", parents=list(parents),
                                help="withdraw an invite code and any role it granted")
    rev.add_argument("code")


async def run(args: argparse.Namespace, engine: AsyncEngine, settings: Settings) -> int:
    t = translations(normalise_locale(settings.default_language))
    if args.command == "revoke":
        return await _revoke(engine, args.code.strip().upper(), t.gettext, t.ngettext)
    return await _invite(engine, args, t.gettext, t.ngettext)


async def _invite(engine: AsyncEngine, args: argparse.Namespace, _: Any,
                  ngettext: Any) -> int:
    async with engine.begin() as conn:
        invite = await conn.run_sync(lambda c: roles.create_invite(
            conn=c, actor=Actor.shell(), now=utcnow(), role=args.role, unit_code=args.unit,
            days=args.days))
    if not isinstance(invite, roles.Invite):
        print(_("No unit has the code {code}.").format(code=args.unit), file=sys.stderr)
        return 2
    print(invite.code)
    print(ngettext("An invite to the role {role} of {unit}, valid for {days} day.",
                   "An invite to the role {role} of {unit}, valid for {days} days.",
                   invite.days).format(role=_(ROLE_LABELS[invite.role]),
                                       unit=invite.unit_name, days=invite.days))
    print(_("The person types /start {code} in the chat with the bot (or just the "
            "code).").format(code=invite.code))
    return 0


async def _revoke(engine: AsyncEngine, code: str, _: Any, ngettext: Any) -> int:
    async with engine.begin() as conn:
        revoked = await conn.run_sync(lambda c: roles.revoke(
            conn=c, actor=Actor.shell(), now=utcnow(), code=code))
    assert isinstance(revoked, roles.Revoked)
    if revoked.roles_revoked:
        print(ngettext("Revoked the code {code} and {count} role granted through it.",
                       "Revoked the code {code} and {count} roles granted through it.",
                       revoked.roles_revoked).format(code=code, count=revoked.roles_revoked))
    elif revoked.code_withdrawn:
        print(_("Withdrew the code {code}; nobody had used it yet.").format(code=code))
    else:
        print(_("Nothing to revoke: no unused code {code}, and no role granted through "
                "it.").format(code=code), file=sys.stderr)
        return 1
    return 0
