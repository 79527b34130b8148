"""Review: alerts to support teams and chairs, decisions with reasons, the author's side
(withdraw, revise and resubmit), a chair's reopening, /choduyet, /xem and digests.

    under_review ─▶ valid | needs_revision (reason) | invalid (reason)   (reviewer in scope)
    under_review ─▶ withdrawn                                            (author)
    needs_revision ─▶ (author edits) ─▶ under_review
    valid | invalid ─▶ under_review                                      (chair: reopen)

Buttons in alerts and notices carry self-describing tokens ("a:valid:123"), checked again when
pressed: the role on the unit, and the initiative's status at that moment.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from bot.conversation import Ctx
from bot.events import Option
from bot.fields import field_label
from bot.formatting import TIMEZONE, esc, local_datetime, shorten, vnd
from bot.i18n import N_, gettext_for
from bot.steps import Step, command, goto, home, join, page_options, step, turn_page
from bot.submission import STATUS_LABELS, coauthor_list
from storage import access, outbox, review, similar

log = logging.getLogger(__name__)

REASON_MIN, REASON_MAX = 5, 1000
PENDING_PAGE = 5
DIGEST_HOUR = 17  # local time: one message a day for reviewers who chose the digest
DECISIONS = {"valid": "valid", "revise": "needs_revision", "invalid": "invalid"}
ACTION_COMMANDS = {"valid": "/hople", "revise": "/bosung", "invalid": "/khonghople",
                   "view": "/xem", "edit": "/suasangkien", "withdraw": "/rut",
                   "reopen": "/moilai"}
ACTION_LABELS = {
    "valid": N_("Valid"), "revise": N_("Needs revision"), "invalid": N_("Invalid"),
    "view": N_("Details"), "edit": N_("Edit it now"), "withdraw": N_("Withdraw"),
    "reopen": N_("Reopen"),
}


def action_option(_: Any, action: str, ini: dict[str, Any]) -> Option:
    return Option(_(ACTION_LABELS[action]), f"a:{action}:{ini['id']}",
                  f"{ACTION_COMMANDS[action]} {ini['code']}")


# ============================================================================ alerts


def card(_: Any, locale: str, ini: dict[str, Any]) -> str:
    """The facts a reviewer needs at a glance."""
    return "\n".join([
        _("<b>{code}</b> · {title}").format(code=ini["code"], title=esc(ini["title"])),
        _("<b>Authors:</b> {names}").format(names=esc(", ".join(ini["authors"]))),
        _("<b>Receiving union:</b> {unit}").format(unit=esc(ini["unit_name"])),
        _("<b>Field:</b> {field}").format(
            field=esc(field_label(ini.get("field_code"), locale) or "—")),
        _("<b>Benefit value:</b> {benefit}").format(benefit=esc(_benefit(_, locale, ini))),
        _("<b>Status:</b> {status}").format(status=_(STATUS_LABELS[ini["status"]])),
    ])


def _benefit(_: Any, locale: str, ini: dict[str, Any]) -> str:
    # Not submission.benefit_text: that one speaks the user's language, a card the reader's.
    if not ini.get("benefit_known") or ini.get("benefit_vnd") is None:
        return _("not quantifiable in money")
    return vnd(ini["benefit_vnd"], locale)


def alert_submission(ctx: Ctx, *, initiative_id: int, unit_id: int,
                     author_unit_id: int | None, resubmitted: bool = False) -> None:
    """Tell the reviewers of a new (or resubmitted) initiative, in each one's language.

    The caller passes the receiving and the author's union (as stored now): the initiative's
    card is read only when somebody is to be told."""
    people = [p for p in review.alert_recipients(
        ctx.conn, unit_id=unit_id, author_unit_id=author_unit_id)
        if p != ctx.conv.person_id]
    if not people:
        return
    ini = review.initiative(ctx.conn, initiative_id=initiative_id)
    assert ini is not None
    for target in review.notify_targets(ctx.conn, person_ids=people).values():
        if target.alert_mode == "digest":
            review.hold_alert(ctx.conn, person_id=target.person_id, initiative_id=ini["id"],
                              now=ctx.now)
            continue
        locale = target.locale or ctx.default_locale
        _ = gettext_for(locale)
        head = (_("🔁 Resubmitted after revision") if resubmitted
                else _("🔔 New initiative to review"))
        options = [action_option(_, a, ini) for a in ("valid", "revise", "invalid", "view")]
        enqueue(ctx, target, kind="alert", locale=locale, text=join(head, card(_, locale, ini)),
                options=options, key=f"alert:{ini['id']}:{target.person_id}:{ctx.now.isoformat()}")


def enqueue(ctx: Ctx, target: review.Target, *, kind: str, locale: str, text: str,
            options: list[Option], key: str | None = None) -> None:
    outbox.enqueue(
        ctx.conn, channel=target.channel, chat_id=target.chat_id, account_id=target.account_id,
        kind=kind, locale=locale, text=text, now=ctx.now, dedupe_key=key,
        options=[{"label": o.label, "token": o.token, "command": o.command} for o in options])
    ctx.enqueued = True


def tell_author(ctx: Ctx, ini: dict[str, Any], *, to_status: str, reason: str | None) -> None:
    people = [p for p in {ini.get("person_id"), ini.get("entered_by")}
              if p is not None and p != ctx.conv.person_id]
    for target in review.notify_targets(ctx.conn, person_ids=people).values():
        locale = target.locale or ctx.default_locale
        _ = gettext_for(locale)
        text = _("Your initiative <b>{code}</b> «{title}» is now: <b>{status}</b>.").format(
            code=ini["code"], title=esc(shorten(ini["title"], 80)),
            status=_(STATUS_LABELS[to_status]))
        if reason:
            text += "\n" + _("Reason: {reason}").format(reason=esc(reason))
        options = [action_option(_, "view", ini)]
        if to_status == "needs_revision" and target.person_id in (ini.get("person_id"),
                                                                  ini.get("entered_by")):
            options.insert(0, action_option(_, "edit", ini))
        enqueue(ctx, target, kind="decision", locale=locale, text=text, options=options)


# ============================================================================ decisions


def find(ctx: Ctx, code_or_id: str) -> dict[str, Any] | None:
    token = code_or_id.strip()
    if token.isdigit():
        return review.initiative(ctx.conn, initiative_id=int(token))
    return review.initiative(ctx.conn, code=token.split()[0] if token else "")


def may_review(ctx: Ctx, ini: dict[str, Any]) -> bool:
    return access.covers(ctx.conn, person_id=ctx.conv.person_id, roles=review.REVIEWER_ROLES,
                         unit_id=ini["unit_id"])


def refuse(ctx: Ctx, what: str, ini: dict[str, Any] | None) -> None:
    log.warning("refused: person %s tried %s on initiative %s", ctx.conv.person_id, what,
                ini["id"] if ini else "-")
    home(ctx, error=ctx._("You are not allowed to do that for this initiative."))


def may_chair(ctx: Ctx, ini: dict[str, Any]) -> bool:
    return access.covers(ctx.conn, person_id=ctx.conv.person_id, roles=("chair",),
                         unit_id=ini["unit_id"])


def decide(ctx: Ctx, ini: dict[str, Any], to_status: str, reason: str | None, *,
           reviewer: bool | None = None) -> None:
    """`reviewer`: whether `may_review` holds, when the caller has just checked it."""
    _ = ctx._
    if reviewer is None:
        reviewer = may_review(ctx, ini)
    author = review.is_author(ini, ctx.conv.person_id)
    if not (reviewer or author):
        return refuse(ctx, to_status, ini)  # an outsider learns nothing, not even the status
    role = review.TRANSITIONS.get((ini["status"], to_status))
    if role is None:
        return home(ctx, error=_("{code} is already {status}: nothing was changed.").format(
            code=ini["code"], status=_(STATUS_LABELS[ini["status"]])))
    if role == "chair":  # a chair is a reviewer: who is not one is no chair either
        allowed = reviewer and may_chair(ctx, ini)
    else:
        allowed = reviewer if role == "reviewer" else author
    if not allowed:
        return refuse(ctx, to_status, ini)
    ok = review.transition(ctx.conn, initiative_id=ini["id"], from_status=ini["status"],
                           to_status=to_status, actor_id=ctx.conv.person_id, reason=reason,
                           now=ctx.now)
    if not ok:  # someone else decided between our read and our write
        fresh = review.initiative(ctx.conn, initiative_id=ini["id"])
        return home(ctx, error=_("{code} was already decided by someone else: it is now "
                                 "{status}.").format(code=ini["code"],
                                                     status=_(STATUS_LABELS[fresh["status"]])))
    tell_author(ctx, ini, to_status=to_status, reason=reason)
    if to_status == "under_review":  # reopened: the reviewers hear of it again
        alert_submission(ctx, initiative_id=ini["id"], unit_id=ini["unit_id"],
                         author_unit_id=ini["author_unit_id"], resubmitted=True)
    home(ctx, error=_("{code} is now {status}.").format(code=ini["code"],
                                                        status=_(STATUS_LABELS[to_status])))


def need_code(ctx: Ctx, example: str) -> None:
    home(ctx, error=ctx._("Give the initiative's code, e.g. {example}.").format(
        example=f"{example} SK-000123"))


def start_decision(ctx: Ctx, action: str, args: str) -> None:
    """/hople CODE · /bosung CODE [reason] · /khonghople CODE [reason]."""
    code, _sep, reason = args.strip().partition(" ")
    ini = find(ctx, code) if code else None
    if ini is None:
        return need_code(ctx, ACTION_COMMANDS[action])
    start_decision_on(ctx, action, ini, reason)


def start_decision_on(ctx: Ctx, action: str, ini: dict[str, Any], reason: str = "") -> None:
    """A decision on an initiative already read (a typed command, or a button)."""
    _ = ctx._
    to_status = DECISIONS[action]
    if not may_review(ctx, ini):
        return refuse(ctx, to_status, ini)
    if to_status == "valid" or reason.strip():
        if reason.strip() and not REASON_MIN <= len(reason.strip()) <= REASON_MAX:
            return home(ctx, error=_("A reason must be {min}–{max} characters long.").format(
                min=REASON_MIN, max=REASON_MAX))
        return decide(ctx, ini, to_status, reason.strip() or None, reviewer=True)
    if ini["status"] != "under_review":
        # explains that it is already decided
        return decide(ctx, ini, to_status, None, reviewer=True)
    ctx.conv.state["rv"] = {"id": ini["id"], "to": to_status}
    goto(ctx, "review_reason")


@step("review_reason")
class ReviewReason(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        ctx.ask(join(error, _("Why? The author will read this reason ({min}–{max} characters).")
                     .format(min=REASON_MIN, max=REASON_MAX)), [(_("‹ Cancel"), "cancel")])

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        reason = " ".join(text.split())
        if not REASON_MIN <= len(reason) <= REASON_MAX:
            return cls.ask(ctx, error=ctx._("A reason must be {min}–{max} characters long.")
                           .format(min=REASON_MIN, max=REASON_MAX))
        rv = ctx.conv.state.pop("rv", None)
        ini = review.initiative(ctx.conn, initiative_id=rv["id"]) if rv else None
        if ini is None:
            return home(ctx)
        decide(ctx, ini, rv["to"], reason)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        ctx.conv.state.pop("rv", None)
        home(ctx)


for _action, _words in (("valid", ("hople", "approve")), ("revise", ("bosung", "revise")),
                        ("invalid", ("khonghople", "reject"))):
    command(_action, *_words, label=ACTION_LABELS[_action])(
        lambda ctx, args, _a=_action: start_decision(ctx, _a, args))


@command("withdraw", "rut", "withdraw", label=N_("Withdraw"))
def withdraw(ctx: Ctx, args: str) -> None:
    ini = find(ctx, args) if args.strip() else None
    if ini is None:
        return need_code(ctx, "/rut")
    decide(ctx, ini, "withdrawn", None)


@command("reopen", "moilai", "reopen", label=N_("Reopen"))
def reopen(ctx: Ctx, args: str) -> None:
    ini = find(ctx, args) if args.strip() else None
    if ini is None:
        return need_code(ctx, "/moilai")
    decide(ctx, ini, "under_review", None)


@command("edit_returned", "suasangkien", "editinitiative", label=N_("Edit it now"))
def edit_returned(ctx: Ctx, args: str) -> None:
    edit_returned_on(ctx, find(ctx, args) if args.strip() else None)


def edit_returned_on(ctx: Ctx, ini: dict[str, Any] | None) -> None:
    """Open a returned initiative as a draft; submitting it sends it back under review."""
    _ = ctx._
    if ini is None or not review.is_author(ini, ctx.conv.person_id):
        return refuse(ctx, "edit", ini)
    if ini["status"] != "needs_revision":
        return home(ctx, error=_("{code} is {status}: only an initiative returned for "
                                 "revision can be edited.").format(
            code=ini["code"], status=_(STATUS_LABELS[ini["status"]])))
    draft = ctx.new_draft(step="summary")
    draft.update(
        initiative_id=ini["id"], title=ini["title"], description=ini["description"],
        field_code=ini["field_code"], applied_on=ini["applied_on"],
        recognized=ini["recognized"], benefit_vnd=ini["benefit_vnd"],
        benefit_known=ini["benefit_known"], unit_id=ini["unit_id"],
        attachments=ini["attachments"], coauthors=json.dumps(ini["authors"][1:],
                                                             ensure_ascii=False),
        on_behalf=ini["person_id"] is None, author_name=ini["author_name"],
        author_phone=ini["author_phone"], author_unit_id=ini["author_unit_id"])
    ctx.say(_("Editing {code}. Change what the reviewer asked for, then submit it again.")
            .format(code=ini["code"]))
    goto(ctx, "summary")


def resubmit(ctx: Ctx, draft: dict[str, Any]) -> None:
    """Called by the summary's Submit for a draft that revises a returned initiative."""
    _ = ctx._
    ini = review.initiative(ctx.conn, initiative_id=draft["initiative_id"])
    if ini is None or not review.is_author(ini, ctx.conv.person_id):
        return refuse(ctx, "resubmit", ini)
    ok = review.resubmit(ctx.conn, draft=draft, coauthors=coauthor_list(draft),
                         actor_id=ctx.conv.person_id, now=ctx.now)
    if not ok:
        return home(ctx, error=_("{code} is no longer waiting for revision.").format(
            code=ini["code"]))
    similar.reindex_initiative(ctx.conn, initiative_id=ini["id"], unit_id=draft["unit_id"],
                               title=draft["title"], description=draft["description"])
    ctx.conv.forget_draft(draft["id"])
    # The draft's union is now the initiative's; resubmitting leaves the author's as it was.
    alert_submission(ctx, initiative_id=ini["id"], unit_id=draft["unit_id"],
                     author_unit_id=ini["author_unit_id"], resubmitted=True)
    home(ctx, error=_("{code} was sent again and is under review.").format(code=ini["code"]))


# ============================================================================ viewing


@command("view", "xem", "view", label=N_("Details"))
def view(ctx: Ctx, args: str) -> None:
    ini = find(ctx, args) if args.strip() else None
    if ini is None:
        return need_code(ctx, "/xem")
    view_on(ctx, ini)


def view_on(ctx: Ctx, ini: dict[str, Any]) -> None:
    reviewer = may_review(ctx, ini)
    if not (reviewer or review.is_author(ini, ctx.conv.person_id)):
        return refuse(ctx, "view", ini)
    ctx.conv.state["vw"] = ini["id"]
    ctx.conv.step = "view"  # what goto does, showing the row just read and checked
    View.show(ctx, ini, reviewer=reviewer)


@step("view")
class View(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        ini = review.initiative(ctx.conn, initiative_id=ctx.conv.state.get("vw", -1))
        if ini is None:
            return home(ctx, error=error)
        cls.show(ctx, ini, reviewer=may_review(ctx, ini), error=error)

    @classmethod
    def show(cls, ctx: Ctx, ini: dict[str, Any], *, reviewer: bool,
             error: str | None = None) -> None:
        _ = ctx._
        lines = [card(_, ctx.locale, ini),
                 _("<b>Description:</b> {text}").format(text=esc(shorten(ini["description"],
                                                                         1500))),
                 _("<b>First applied:</b> {day}").format(
                     day=ini["applied_on"].strftime("%d/%m/%Y") if ini["applied_on"] else "—"),
                 _("<b>Submitted:</b> {when}").format(
                     when=local_datetime(ini["submitted_at"], ctx.locale))]
        events = review.history(ctx.conn, initiative_id=ini["id"])
        if events:
            lines.append(_("<b>History</b>"))
            for e in events:
                line = f"• {local_datetime(e['at'], ctx.locale)} · " + _(
                    STATUS_LABELS[e["to_status"]])
                if e["actor_name"]:
                    line += f" · {esc(e['actor_name'])}"
                if e["reason"]:
                    line += f" — {esc(e['reason'])}"
                lines.append(line)
        if reviewer:
            hits = similar.find_similar(ctx.conn, unit_id=ini["unit_id"], title=ini["title"],
                                        description=ini["description"], exclude_id=ini["id"])
            if hits:
                lines.append(similar_text(ctx, hits))
        options: list[tuple[str, str]] = []
        if reviewer and ini["status"] == "under_review":
            options += [(_(ACTION_LABELS[a]), a) for a in ("valid", "revise", "invalid")]
        if ini["status"] in ("valid", "invalid") and reviewer and may_chair(ctx, ini):
            options.append((_(ACTION_LABELS["reopen"]), "reopen"))
        if review.is_author(ini, ctx.conv.person_id):
            if ini["status"] == "under_review":
                options.append((_(ACTION_LABELS["withdraw"]), "withdraw"))
            if ini["status"] == "needs_revision":
                options.append((_(ACTION_LABELS["edit"]), "edit"))
        options.append((_("‹ Close"), "close"))
        ctx.ask(join(error, "\n".join(lines)), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        ini_id = ctx.conv.state.pop("vw", None)
        if value == "close" or ini_id is None:
            return home(ctx)
        act(ctx, f"a:{value}:{ini_id}")


def similar_text(ctx: Ctx, hits: list[similar.SimilarHit]) -> str:
    _ = ctx._
    lines = [_("<b>Similar initiatives sent to this union</b> (possible duplicates):")]
    lines += [_("• {code} «{title}» — {score}% alike").format(
        code=h.code or "—", title=esc(shorten(h.title, 70)), score=round(h.score))
        for h in hits]
    return "\n".join(lines)


@command("act")
def act(ctx: Ctx, token: str) -> None:
    """A button from an alert or notice: "a:<action>:<initiative id>"."""
    _kind, _sep, rest = token.partition(":")
    action, _sep, ini_id = rest.partition(":")
    if not ini_id.isdigit():
        return home(ctx)
    ini = review.initiative(ctx.conn, initiative_id=int(ini_id))
    if ini is None:
        return home(ctx)
    if action == "view":
        return view_on(ctx, ini)
    if action in DECISIONS:
        return start_decision_on(ctx, action, ini)
    if action == "edit":
        return edit_returned_on(ctx, ini)
    if action == "withdraw":
        return decide(ctx, ini, "withdrawn", None)
    if action == "reopen":
        return decide(ctx, ini, "under_review", None)
    home(ctx)


# ============================================================================ queues


@command("pending", "choduyet", "pending", label=N_("To review"))
def pending(ctx: Ctx, _args: str = "") -> None:
    _ = ctx._
    if not access.grants(ctx.conn, person_id=ctx.conv.person_id, roles=review.REVIEWER_ROLES):
        log.warning("refused: person %s tried /choduyet without a role", ctx.conv.person_id)
        return home(ctx, error=_("Only support teams and chairs review initiatives."))
    ctx.conv.state["page"] = 0
    goto(ctx, "pending")


@step("pending")
class Pending(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        page = int(ctx.conv.state.get("page", 0))
        rows = review.pending_in_scope(ctx.conn, person_id=ctx.conv.person_id,
                                       offset=page * PENDING_PAGE, limit=PENDING_PAGE + 1)
        if not rows and page == 0:
            return home(ctx, error=join(error, _("Nothing is waiting for review.")))
        lines = [_("<b>Waiting for review</b>, oldest first (page {page}):").format(
            page=page + 1)]
        options = []
        for r in rows[:PENDING_PAGE]:
            lines.append(_("<b>{code}</b> · {title} · {unit} · {when}").format(
                code=r["code"], title=esc(shorten(r["title"], 60)), unit=esc(r["unit_name"]),
                when=local_datetime(r["submitted_at"], ctx.locale)))
            options.append((r["code"], f"v:{r['id']}"))
        options += page_options(ctx, page=page, more=len(rows) > PENDING_PAGE)
        ctx.ask(join(error, "\n".join(lines)), options)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if turn_page(ctx, value):
            return cls.ask(ctx)
        if value.startswith("v:"):
            return act(ctx, f"a:view:{value[2:]}")
        home(ctx)


@command("alerts", "thongbao", "alerts", label=N_("Alerts"))
def toggle_alerts(ctx: Ctx, _args: str = "") -> None:
    _ = ctx._
    person = ctx.person()
    mode = "instant" if person["alert_mode"] == "digest" else "digest"
    ctx.update_person(alert_mode=mode)
    home(ctx, error=_("You will now get one digest a day, at {hour}:00, instead of an alert "
                      "for each new initiative.").format(hour=DIGEST_HOUR)
         if mode == "digest" else _("You will now get an alert for each new initiative."))


# ============================================================================ digests


def compose_digests(conn: Any, *, now: datetime, default_locale: str = "vi",
                    limit: int = 500) -> int:
    """Turn held alerts into one message per reviewer, once a day after DIGEST_HOUR local.

    Idempotent across processes: the outbox row is keyed by person and day, and alerts are
    marked digested only when their message was written.
    """
    local = now.astimezone(TIMEZONE)
    if local.hour < DIGEST_HOUR:
        return 0
    day = local.date().isoformat()
    cutoff = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    batch = review.digest_batch(conn, before=cutoff, limit=limit)
    targets = review.notify_targets(conn, person_ids=list(batch))
    written = 0
    for person_id, alerts in batch.items():
        target = targets.get(person_id)
        if target is None:
            review.mark_digested(conn, alert_ids=[a["id"] for a in alerts], now=now)
            continue
        locale = target.locale or default_locale
        _ = gettext_for(locale)
        lines = [_("<b>Today's new initiatives</b> ({n}):").format(n=len(alerts))]
        lines += [f"• <b>{a['code']}</b> · {esc(shorten(a['title'], 70))} · "
                  f"{esc(a['unit_name'])} · {_(STATUS_LABELS[a['status']])}" for a in alerts]
        lines.append(_("Open the list with /choduyet."))
        row = outbox.enqueue(conn, channel=target.channel, chat_id=target.chat_id,
                             account_id=target.account_id, kind="digest", locale=locale,
                             text="\n".join(lines), options=[], now=now,
                             dedupe_key=f"digest:{person_id}:{day}")
        if row is not None:
            review.mark_digested(conn, alert_ids=[a["id"] for a in alerts], now=now)
            written += 1
    return written


def next_digest_time(now: datetime) -> datetime:
    local = now.astimezone(TIMEZONE)
    at = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=1)
