"""Results several services share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.services.actor import Actor

log = logging.getLogger("bot.services")


@dataclass(frozen=True, slots=True)
class Refused:
    """Not allowed: an outsider learns nothing about the thing asked for, not even whether
    it exists. The refusal is logged (at INFO: refusals are ordinary, not warnings)."""


@dataclass(frozen=True, slots=True)
class Unchanged:
    """That change is not possible from the initiative's status (e.g. already decided)."""

    code: str
    status: str


def refuse(actor: Actor, what: str, ini: dict[str, Any] | None) -> Refused:
    log.info("refused: person %s tried %s on initiative %s", actor.person_id, what,
                ini["id"] if ini else "-")
    return Refused()


def refuse_role(actor: Actor, what: str) -> Refused:
    """A command for a role the actor does not hold."""
    log.info("refused: person %s tried %s without the role", actor.person_id, what)
    return Refused()
