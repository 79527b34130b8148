"""Who may do what with an initiative, in one place: every check and every alert agrees.

- A reviewer is a support team member or chair of the receiving union, or of a union above
  it (an administrator anywhere); a reviewer decides.
- A chair of the receiving union (or above) may also reopen a decided initiative.
- The author (the account it belongs to, or who typed it in for them) may view, withdraw it
  while under review, and revise it when it is returned.
- The author's own support team (support or chair of the author's grassroots union, or of a
  union above it) helps the author: it is told of the initiative, may open it and sees it
  in its list, but does not decide on it unless it is also a reviewer.
- Nobody decides on an initiative they took part in (an author or co-author, or who typed it
  in for the author): another reviewer must.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from bot.services.actor import Actor
from storage import access
from storage import review as review_store

REVIEWER_ROLES = review_store.REVIEWER_ROLES


@dataclass(frozen=True, slots=True)
class InitiativeAccess:
    reviewer: bool            # may decide
    author: bool
    helper: bool = False
    own: bool = False         # a reviewer who took part in it: may not decide

    @property
    def can_view(self) -> bool:
        return self.reviewer or self.author or self.helper or self.own


def is_author(ini: dict[str, Any], actor: Actor) -> bool:
    return actor.person_id is not None and review_store.is_author(ini, actor.person_id)


def took_part(ini: dict[str, Any], actor: Actor) -> bool:
    """An author, a co-author who uses the bot, or who typed it in for the author."""
    return is_author(ini, actor) or actor.person_id in ini.get("author_ids", ())


def initiative_access(*, conn: Connection, actor: Actor, ini: dict[str, Any]
                      ) -> InitiativeAccess:
    """What `actor` may do with `ini` (whether they chair it: `chairs`, asked only where a
    reopen could be offered)."""
    if actor.is_shell:
        return InitiativeAccess(reviewer=True, author=False)
    assert actor.person_id is not None
    covers = access.covers(conn, person_id=actor.person_id, roles=REVIEWER_ROLES,
                           unit_id=ini["unit_id"])
    own = covers and took_part(ini, actor)
    reviewer = covers and not own
    helper = (not covers and ini.get("author_unit_id") is not None
              and access.covers(conn, person_id=actor.person_id, roles=REVIEWER_ROLES,
                                unit_id=ini["author_unit_id"]))
    return InitiativeAccess(reviewer=reviewer, author=is_author(ini, actor), helper=helper,
                            own=own)


def chairs(*, conn: Connection, actor: Actor, ini: dict[str, Any]) -> bool:
    """Is the actor a chair of the receiving union or of a union above it?"""
    return covers_unit(conn=conn, actor=actor, roles=("chair",), unit_id=ini["unit_id"])


def holds_role(*, conn: Connection, actor: Actor, roles: tuple[str, ...]) -> bool:
    """Does the actor hold one of `roles` (or admin) on some unit?"""
    if actor.is_shell:
        return True
    assert actor.person_id is not None
    return bool(access.grants(conn, person_id=actor.person_id, roles=roles))


def covers_unit(*, conn: Connection, actor: Actor, roles: tuple[str, ...], unit_id: int) -> bool:
    """Does the actor hold one of `roles` (or admin) on the unit or a union above it?"""
    if actor.is_shell:
        return True
    assert actor.person_id is not None
    return access.covers(conn, person_id=actor.person_id, roles=roles, unit_id=unit_id)
