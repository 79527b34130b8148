"""Review in the chat: decisions (an alert's button, or /hople · /bosung · /khonghople CODE),
the author's side (/rut, /suasangkien), a chair's reopening (/moilai), /xem, /choduyet and
/thongbao. The rules themselves are `bot.services.review`'s.

Buttons in alerts and notices carry self-describing tokens ("a:valid:123"), checked again when
pressed: the role on the unit, and the initiative's status at that moment.
"""

from __future__ import annotations

from typing import Any

from bot.conversation import Ctx
from bot.dates import applied_text
from bot.flows.engine import Flow, Next, Result, Step, command, home, join, run
from bot.flows.widgets import page_options, similar_text, turn_page
from bot.formatting import esc, local_datetime, name_case, number, shorten
from bot.i18n import N_
from bot.inputs import parse_id
from bot.labels import ACTION_COMMANDS, ACTION_LABELS, DECISIONS, NOT_ALLOWED, status_label
from bot.notices import card
from bot.services import review as decisions
from bot.services import submissions
from bot.services.digests import DIGEST_HOUR
from bot.services.permissions import (
    REVIEWER_ROLES,
    chairs,
    holds_role,
    initiative_access,
    is_author,
)
from bot.services.results import Refused, Unchanged, refuse, refuse_role
from bot.state import PendingDecision
from storage import review as review_store
from storage import similar
from storage.imports import IMPORTER_NAME

TRANSITIONS: dict[str, set[str]] = {
    "review_reason": {"decision_confirm"},   # invalid: confirm; needs revision: done, home
    "decision_confirm": set(),     # taken or not: home
    "view": set(),                 # an action on it runs as the alert's button does
    "pending": set(),              # an initiative picked opens as /xem does
    "alert_mode": set(),
}
# Final decisions are confirmed before they are taken (needs revision is not final).
FINAL = ("valid", "invalid", "withdrawn")

PENDING_PAGE = 5


def not_allowed(ctx: Ctx) -> Next:
    return home(ctx._(NOT_ALLOWED))


def need_code(ctx: Ctx, example: str, typed: str = "") -> Next:
    """No initiative: none was named, or none has the code typed."""
    code = decisions.typed_code(typed)    # as it was read: «SK-000241» for «241»
    if code:
        return home(ctx._("No initiative has the code «{code}». Your initiatives are in "
                          "/cuatoi; codes are written like {example}.").format(
            code=esc(shorten(code, 20)), example="SK-000123"))
    return home(ctx._("Give the initiative's code, e.g. {example}.").format(
        example=f"{example} SK-000123"))


def find(ctx: Ctx, args: str) -> dict[str, Any] | None:
    return decisions.find(conn=ctx.conn, code_or_id=args) if args.strip() else None


# ============================================================================ decisions


def decide(ctx: Ctx, ini: dict[str, Any], to_status: str, reason: str | None) -> Next:
    _ = ctx._
    result = decisions.decide(conn=ctx.conn, actor=ctx.actor, now=ctx.now, ini=ini,
                              to_status=to_status, reason=reason,
                              default_locale=ctx.default_locale)
    if isinstance(result, decisions.Decided):
        return home(_("{code} is now {status}.").format(
            code=result.code, status=status_label(_, result.to_status)))
    if isinstance(result, Refused):
        return not_allowed(ctx)
    if isinstance(result, Unchanged) and result.status != to_status and to_status == "withdrawn":
        return home(_("{code} is {status}: only an initiative under review can be withdrawn.")
                    .format(code=result.code, status=status_label(_, result.status)))
    if isinstance(result, Unchanged):
        return home(_("{code} is already {status}: nothing was changed.").format(
            code=result.code, status=status_label(_, result.status)))
    if isinstance(result, decisions.DecidedMeanwhile):
        return home(_("{code} was already decided by someone else: it is now {status}.")
                    .format(code=result.code, status=status_label(_, result.status)))
    if isinstance(result, decisions.TookPart):
        return home(_("You took part in {code}, so another reviewer must decide on it.")
                    .format(code=result.code))
    return home(reason_error(ctx))


def confirm(ctx: Ctx, ini: dict[str, Any], to_status: str, reason: str | None = None) -> Next:
    ctx.state.decision = PendingDecision(ini["id"], to_status, reason)
    return Next("decision_confirm")


def reason_error(ctx: Ctx) -> str:
    return ctx._("A reason must be {min}–{max} characters long.").format(
        min=decisions.REASON_MIN, max=number(decisions.REASON_MAX, ctx.locale))


def start_decision(ctx: Ctx, action: str, args: str) -> Result:
    """/hople CODE · /bosung CODE [reason] · /khonghople CODE [reason]."""
    code, _sep, reason = args.strip().partition(" ")
    ini = find(ctx, code) if code else None
    if ini is None:
        return need_code(ctx, ACTION_COMMANDS[action], code)
    return start_decision_on(ctx, action, ini, reason)


def start_decision_on(ctx: Ctx, action: str, ini: dict[str, Any], reason: str = "") -> Result:
    """A decision on an initiative already read (a typed command, or a button): taken at
    once, or after asking for the reason it needs."""
    to_status = DECISIONS[action]
    reason = reason.strip()
    if (not initiative_access(conn=ctx.conn, actor=ctx.actor, ini=ini).reviewer
            or ini["status"] != "under_review"):
        return decide(ctx, ini, to_status, None)   # refused, or why not, by the service
    if reason and not decisions.reason_ok(reason):
        return home(reason_error(ctx))
    if to_status == "valid" or (reason and to_status in FINAL):
        return confirm(ctx, ini, to_status, reason or None)
    if reason:
        return decide(ctx, ini, to_status, reason)
    ctx.state.decision = PendingDecision(ini["id"], to_status)
    return Next("review_reason")


def withdraw_on(ctx: Ctx, ini: dict[str, Any]) -> Result:
    """The author withdraws: confirmed first (anyone else is refused by the service)."""
    if is_author(ini, ctx.actor) and ini["status"] == "under_review":
        return confirm(ctx, ini, "withdrawn")
    return decide(ctx, ini, "withdrawn", None)


class ReviewReason(Step):
    name = "review_reason"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, _("Why? The author will read this reason ({min}–{max} characters).")
                     .format(min=decisions.REASON_MIN,
                             max=number(decisions.REASON_MAX, ctx.locale))),
                [(_("‹ Cancel"), "cancel")])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        reason = " ".join(text.split())
        if not decisions.reason_ok(reason):
            return cls.ask(ctx, error=reason_error(ctx))
        pending, ctx.state.decision = ctx.state.decision, None
        ini = (review_store.initiative(ctx.conn, initiative_id=pending.initiative_id)
               if pending else None)
        if pending is None or ini is None:
            return home()
        if pending.to_status in FINAL:
            return confirm(ctx, ini, pending.to_status, reason)
        return decide(ctx, ini, pending.to_status, reason)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        return home()


class DecisionConfirm(Step):
    """A final decision, said back with its reason, taken only on yes."""

    name = "decision_confirm"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        pending = ctx.state.decision
        ini = (review_store.initiative(ctx.conn, initiative_id=pending.initiative_id)
               if pending else None)
        if pending is None or ini is None:
            return home()
        what = {"code": ini["code"], "title": esc(shorten(ini["title"], 80)),
                "reason": esc(pending.reason or "")}
        question = {
            "valid": _("Mark <b>{code}</b> «{title}» as <b>valid</b>? This is a final "
                       "decision; the author is told."),
            "invalid": _("Mark <b>{code}</b> «{title}» as <b>invalid</b>, with the reason "
                         "«{reason}»? This is a final decision; the author is told."),
            "withdrawn": _("Withdraw <b>{code}</b> «{title}»? It will no longer be "
                           "reviewed."),
        }[pending.to_status].format(**what)
        ctx.ask(join(error, question), [(_("Yes, confirm"), "yes"), (_("Cancel"), "no")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        pending, ctx.state.decision = ctx.state.decision, None
        ini = (review_store.initiative(ctx.conn, initiative_id=pending.initiative_id)
               if pending else None)
        if value != "yes" or pending is None or ini is None:
            return home(ctx._("Nothing was changed."))
        return decide(ctx, ini, pending.to_status, pending.reason)


def decision_command(action: str) -> Any:
    return lambda ctx, args: start_decision(ctx, action, args)


def withdraw(ctx: Ctx, args: str) -> Result:
    ini = find(ctx, args)
    return withdraw_on(ctx, ini) if ini else need_code(ctx, "/rut", args)


def reopen(ctx: Ctx, args: str) -> Result:
    ini = find(ctx, args)
    return decide(ctx, ini, "under_review", None) if ini else need_code(ctx, "/moilai",
                                                                        args)


def edit_returned(ctx: Ctx, args: str) -> Result:
    return edit_returned_on(ctx, find(ctx, args))


def edit_returned_on(ctx: Ctx, ini: dict[str, Any] | None) -> Result:
    """Open a returned initiative as a draft; submitting it sends it back under review."""
    _ = ctx._
    result = submissions.start_revision(conn=ctx.conn, actor=ctx.actor, now=ctx.now, ini=ini)
    if isinstance(result, Refused):
        return not_allowed(ctx)
    if isinstance(result, Unchanged):
        return home(_("{code} is {status}: only an initiative returned for revision can be "
                      "edited.").format(code=result.code,
                                        status=status_label(_, result.status)))
    ctx.conv.track_draft(result)
    ctx.conv.draft_id = result.id
    assert ini is not None
    ctx.say(_("Editing {code}. Change what the reviewer asked for, then submit it again.")
            .format(code=ini["code"]))
    return Next("summary")


# ============================================================================ viewing


def view(ctx: Ctx, args: str) -> Result:
    ini = find(ctx, args)
    return view_on(ctx, ini) if ini else need_code(ctx, "/xem", args)


def view_on(ctx: Ctx, ini: dict[str, Any]) -> Result:
    if not initiative_access(conn=ctx.conn, actor=ctx.actor, ini=ini).can_view:
        refuse(ctx.actor, "view", ini)
        return not_allowed(ctx)
    ctx.state.viewing = ini["id"]
    return Next("view")


class View(Step):
    name = "view"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ini = review_store.initiative(ctx.conn, initiative_id=ctx.state.viewing or -1)
        if ini is None:
            return home(error)
        rights = initiative_access(conn=ctx.conn, actor=ctx.actor, ini=ini)
        lines = [card(_, ctx.locale, ini),
                 _("<b>Description:</b> {text}").format(text=esc(shorten(ini["description"],
                                                                         1500))),
                 _("<b>First applied:</b> {day}").format(
                     day=applied_text(ini["applied_on"], ini["applied_month_only"], ctx.locale)
                     if ini["applied_on"] else "—"),
                 _("<b>Submitted:</b> {when}").format(
                     when=local_datetime(ini["submitted_at"], ctx.locale))]
        events = review_store.history(ctx.conn, initiative_id=ini["id"])
        if events:
            lines.append(_("<b>History</b>"))
            for e in events:
                line = f"• {local_datetime(e['at'], ctx.locale)} · " + status_label(
                    _, e["to_status"])
                if e["actor_name"] == IMPORTER_NAME:   # no person: a file brought it in
                    line += " · " + _("imported from a file")
                elif e["actor_name"]:
                    line += f" · {esc(name_case(e['actor_name']))}"
                if e["reason"]:
                    line += f" — {esc(e['reason'])}"
                lines.append(line)
        if rights.reviewer:
            hits = similar.find_similar(ctx.conn, unit_id=ini["unit_id"], title=ini["title"],
                                        description=ini["description"], exclude_id=ini["id"])
            if hits:
                lines.append(similar_text(ctx, hits))
        options: list[tuple[str, str]] = []
        if rights.reviewer and ini["status"] == "under_review":
            options += [(_(ACTION_LABELS[a]), a) for a in ("valid", "revise", "invalid")]
        if (ini["status"] in ("valid", "invalid") and rights.reviewer
                and chairs(conn=ctx.conn, actor=ctx.actor, ini=ini)):
            options.append((_(ACTION_LABELS["reopen"]), "reopen"))
        if rights.author:
            if ini["status"] == "under_review":
                options.append((_(ACTION_LABELS["withdraw"]), "withdraw"))
            if ini["status"] == "needs_revision":
                options.append((_(ACTION_LABELS["edit"]), "edit"))
        options.append((_("‹ Close"), "close"))
        ctx.ask(join(error, "\n".join(lines)), options)
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        ini_id, ctx.state.viewing = ctx.state.viewing, None
        if value == "close" or ini_id is None:
            return home()
        return run(ctx, "act", f"a:{value}:{ini_id}")


def act(ctx: Ctx, token: str) -> Result:
    """A button from an alert or notice: "a:<action>:<initiative id>"."""
    _kind, _sep, rest = token.partition(":")
    action, _sep, ini_id = rest.partition(":")
    if action == "draft":   # a campaign message's button (bot/flows/campaigns.py)
        return run(ctx, "resume_draft", ini_id)
    number = parse_id(ini_id)
    ini = review_store.initiative(ctx.conn, initiative_id=number) if number else None
    if ini is None:
        return home()
    if action == "view":
        return view_on(ctx, ini)
    if action in DECISIONS:
        return start_decision_on(ctx, action, ini)
    if action == "edit":
        return edit_returned_on(ctx, ini)
    if action == "withdraw":
        return withdraw_on(ctx, ini)
    if action == "reopen":
        return decide(ctx, ini, "under_review", None)
    return home()


# ============================================================================ queues


def pending(ctx: Ctx, _args: str = "") -> Result:
    if not holds_role(conn=ctx.conn, actor=ctx.actor, roles=REVIEWER_ROLES):
        refuse_role(ctx.actor, "/choduyet")
        return home(ctx._("Only support teams and chairs review initiatives."))
    ctx.state.page = 0
    return Next("pending")


class Pending(Step):
    name = "pending"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        page = ctx.state.page
        rows = review_store.pending_in_scope(ctx.conn, person_id=ctx.conv.person_id,
                                             offset=page * PENDING_PAGE, limit=PENDING_PAGE + 1)
        if not rows and page == 0:
            return home(join(error, _("Nothing is waiting for review.")))
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
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if turn_page(ctx, value):
            return cls.ask(ctx)
        if value.startswith("v:"):
            return run(ctx, "act", f"a:view:{value[2:]}")
        return home()


def choose_alerts(ctx: Ctx, _args: str = "") -> Result:
    return Next("alert_mode")


class AlertMode(Step):
    """/thongbao: how a reviewer hears of new initiatives — the setting shown, then chosen."""

    name = "alert_mode"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        current = ctx.person()["alert_mode"]
        modes = {"instant": _("An alert for each new initiative"),
                 "digest": _("One summary a day, at {hour}:00").format(hour=DIGEST_HOUR)}
        ctx.ask(join(error, _("<b>Alerts</b>\nNow: {mode}. How do you want to hear of new "
                              "initiatives?").format(mode=modes[current])),
                [*((("✓ " if mode == current else "") + label, mode)
                   for mode, label in modes.items()), (_("‹ Close"), "close")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        if value not in ("instant", "digest"):
            return home()
        ctx.update_person(alert_mode=value)
        return home(_("You will now get one digest a day, at {hour}:00, instead of an alert "
                      "for each new initiative.").format(hour=DIGEST_HOUR)
                    if value == "digest"
                    else _("You will now get an alert for each new initiative."))


FLOW = Flow(
    name="review",
    steps=(ReviewReason, DecisionConfirm, View, Pending, AlertMode),
    transitions=TRANSITIONS,
    commands=(
        *(command(action, decision_command(action),
                  opens={"review_reason", "decision_confirm"}, words=words,
                  label=ACTION_LABELS[action])
          for action, words in (("valid", ("hople", "approve")),
                                ("revise", ("bosung", "revise")),
                                ("invalid", ("khonghople", "reject")))),
        command("withdraw", withdraw, opens={"decision_confirm"}, words=("rut", "withdraw"),
                label=N_("Withdraw")),
        command("reopen", reopen, words=("moilai", "reopen"), label=N_("Reopen")),
        command("edit_returned", edit_returned, opens={"summary"},
                words=("suasangkien", "editinitiative"), label=N_("Edit it now")),
        command("view", view, opens={"view"}, words=("xem", "view"), label=N_("Details")),
        # An alert's or a notice's button (no words: it is pressed, not typed).
        command("act", act, opens={"view", "review_reason", "decision_confirm", "summary"}),
        command("pending", pending, opens={"pending"}, words=("choduyet", "pending"),
                label=N_("To review")),
        command("alerts", choose_alerts, opens={"alert_mode"}, words=("thongbao", "alerts"),
                label=N_("Alerts")),
    ),
)
