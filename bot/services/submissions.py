"""Submitting an initiative: a complete draft becomes an initiative under review, its
reviewers are told, and one registered for a worker (kê khai hộ) gets a claim code; a
returned initiative is opened as a draft, edited and sent back under review."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from bot.draft import Draft
from bot.services import alerts
from bot.services.actor import Actor
from bot.services.permissions import covers_unit, is_author
from bot.services.results import Refused, Unchanged, refuse
from storage import access, queries, similar, submitting
from storage import progress as progress_store
from storage import review as review_store
from storage.unit_cache import Units

log = logging.getLogger(__name__)

CLAIM_DAYS = 180
HELPER_ROLES = ("support", "chair")  # who may register initiatives for workers


@dataclass(frozen=True, slots=True)
class Submitted:
    initiative_id: int
    code: str
    claim_code: str | None      # on behalf: the code that hands it to the worker later
    author_name: str | None     # on behalf: whom it was registered for


@dataclass(frozen=True, slots=True)
class Resubmitted:
    code: str


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A question is still unanswered (or answered "not yet recognised": `unanswered` is
    False then)."""

    step: str
    unanswered: bool = True


def authors_of(draft: Draft, person: dict[str, Any]) -> list[str]:
    """The author group, first author first (the user, or whom it is registered for)."""
    first = draft.author_name if draft.on_behalf else person["name"]
    return [first or "", *(draft.coauthors or [])]


def may_register_for(*, conn: Connection, actor: Actor, unit_id: int) -> bool:
    """A support team (or chair) registers only for workers of the units it looks after."""
    if covers_unit(conn=conn, actor=actor, roles=HELPER_ROLES, unit_id=unit_id):
        return True
    log.info("refused: person %s registering for unit %s outside their scope",
                actor.person_id, unit_id)
    return False


def submit(*, conn: Connection, actor: Actor, now: datetime, draft: Draft,
           default_locale: str = "vi", person: dict[str, Any] | None = None,
           units: Units | None = None,
           ) -> Submitted | Resubmitted | Incomplete | Refused | Unchanged:
    """Submit `draft` (the actor's own), or send a revised one back under review. `person`:
    the actor's person row when the caller has read it in this transaction; `units`: the
    unit lookups of the caller's batch (their kept chains of unions)."""
    missing = draft.missing_step()
    if missing:
        return Incomplete(missing)
    if not draft.recognized:
        return Incomplete("recognized", unanswered=False)
    if draft.initiative_id:
        return resubmit(conn=conn, actor=actor, now=now, draft=draft, default_locale=default_locale)
    assert actor.person_id is not None
    if person is None or person["id"] != actor.person_id:
        person = access.get_person(conn, person_id=actor.person_id)
    if draft.on_behalf:
        # Checked again here, not only when the union was picked: a support member removed
        # from the team in between must not submit.
        assert draft.author_unit_id is not None
        if not may_register_for(conn=conn, actor=actor, unit_id=draft.author_unit_id):
            return Refused()
    else:  # the author's own name and grassroots union, from their profile
        if not person["onboarded"] or not person["name"]:
            return Incomplete("author_name")   # the name to credit, never confirmed
        if person["unit_id"] is None:
            return Incomplete("author_unit")
        draft.author_unit_id = person["unit_id"]
    row = draft.to_row()
    authors = authors_of(draft, person)
    author_person_id = None if draft.on_behalf else actor.person_id
    initiative_id, code, reviewers = submitting.submit_initiative(
        conn, draft=row, authors=authors, author_person_id=author_person_id,
        channel=actor.channel, now=now, actor_id=actor.person_id)
    # Counted from what was just stored, without reading it back.
    progress_store.apply_change(conn, None, progress_store.contribution_of(
        author_unit_id=row["author_unit_id"], unit_id=row["unit_id"], submitted_at=now,
        status="under_review", benefit_vnd=row["benefit_vnd"],
        authors=submitting.credited(authors, author_person_id)),
        kept_chains=units.chain_of if units is not None else None)
    assert draft.unit_id is not None   # indexed for the similarity search with its row
    alerts.alert_submission(conn=conn, now=now, initiative_id=initiative_id, unit_id=draft.unit_id,
                            author_unit_id=draft.author_unit_id, exclude=actor.person_id,
                            default_locale=default_locale, recipients=reviewers)
    claim = None
    if draft.on_behalf:
        claim = access.create_code(
            conn, purpose="claim", now=now, expires_at=now + timedelta(days=CLAIM_DAYS),
            target_id=initiative_id, created_by=actor.person_id)
    return Submitted(initiative_id, code, claim, draft.author_name if draft.on_behalf else None)


def resubmit(*, conn: Connection, actor: Actor, now: datetime, draft: Draft,
             default_locale: str = "vi") -> Resubmitted | Refused | Unchanged:
    """A returned initiative, edited as `draft`, goes back under review."""
    assert draft.initiative_id is not None
    ini = review_store.initiative(conn, initiative_id=draft.initiative_id)
    if ini is None or not is_author(ini, actor):
        return refuse(actor, "resubmit", ini)
    before = progress_store.contribution(conn, initiative_id=ini["id"])
    ok = review_store.resubmit(conn, draft=draft.to_row(), coauthors=draft.coauthors or [],
                               actor_id=actor.person_id, now=now)
    if not ok:
        return Unchanged(ini["code"], ini["status"])
    progress_store.track(conn, initiative_id=ini["id"], before=before)
    assert draft.unit_id is not None and draft.title and draft.description
    similar.reindex_initiative(conn, initiative_id=ini["id"], unit_id=draft.unit_id,
                               title=draft.title, description=draft.description)
    # The draft's union is now the initiative's; resubmitting leaves the author's as it was.
    alerts.alert_submission(conn=conn, now=now, initiative_id=ini["id"], unit_id=draft.unit_id,
                            author_unit_id=ini["author_unit_id"], resubmitted=True,
                            changes=changed(ini, draft), exclude=actor.person_id,
                            default_locale=default_locale)
    return Resubmitted(ini["code"])


def changed(ini: dict[str, Any], draft: Draft) -> list[str]:
    """What a revision changed, as the draft's question names (for the reviewers)."""
    before = Draft.from_row({**draft.to_row(), "attachments": ini["attachments"]})
    pairs = {
        "title": (ini["title"], draft.title), "description": (ini["description"],
                                                             draft.description),
        "field": (ini["field_code"], draft.field_code),
        "applied": ((ini["applied_on"], bool(ini["applied_month_only"])),
                    (draft.applied_on, draft.applied_month_only)),
        "benefit": ((ini["benefit_vnd"], bool(ini["benefit_known"])),
                    (draft.benefit_vnd, bool(draft.benefit_known))),
        "coauthors": (list(ini["authors"][1:]), draft.coauthors or []),
        "unit": (ini["unit_id"], draft.unit_id),
        "attachments": (before.attachments, draft.attachments),
    }
    return [name for name, (old, new) in pairs.items() if old != new]


def start_revision(*, conn: Connection, actor: Actor, now: datetime, ini: dict[str, Any] | None
                   ) -> Draft | Refused | Unchanged:
    """Open a returned initiative as a draft of the author's (saved), at its summary."""
    if ini is None or not is_author(ini, actor):
        return refuse(actor, "edit", ini)
    if ini["status"] != "needs_revision":
        return Unchanged(ini["code"], ini["status"])
    assert actor.person_id is not None
    draft = Draft.from_row(queries.create_draft(conn, person_id=actor.person_id, now=now,
                                                step="summary"))
    draft.initiative_id = ini["id"]
    for name in ("title", "description", "field_code", "applied_on", "applied_month_only",
                 "recognized",
                 "benefit_vnd", "benefit_known", "unit_id", "author_name", "author_phone",
                 "author_unit_id"):
        setattr(draft, name, ini[name])
    draft.coauthors = list(ini["authors"][1:])
    draft.on_behalf = ini["person_id"] is None
    draft.attachments = Draft.from_row({**draft.to_row(),
                                        "attachments": ini["attachments"]}).attachments
    row = draft.to_row()
    queries.save_drafts(conn, [{"_id": draft.id, **{f: row[f] for f in queries.DRAFT_FIELDS},
                                "updated_at": now}])
    return draft
