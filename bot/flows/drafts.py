"""A worker's own lists: drafts to go on with or delete (/nhap), initiatives sent (/cuatoi)."""

from __future__ import annotations

from bot.conversation import Ctx
from bot.draft import ORDER_BEHALF
from bot.flows.engine import Flow, Next, Result, Step, command, home, join, leave_flow, run
from bot.flows.submission import draft_label
from bot.flows.widgets import page_options, turn_page
from bot.formatting import esc, local_datetime, shorten
from bot.i18n import N_
from bot.labels import STEP_LABELS, status_label
from storage import queries
from storage import review as review_store

TRANSITIONS = {
    "drafts": {"draft_actions"},
    # Go on: the question the draft was left at (any of them, or its summary).
    "draft_actions": {"drafts", "discard", *ORDER_BEHALF},
    "discard": {"drafts", "summary"},
    "mine": set(),
}

DRAFTS_SHOWN = 10
MINE_PAGE = 5


def show_drafts(ctx: Ctx, _args: str = "") -> Result:
    leave_flow(ctx)
    return Next("drafts")


def show_mine(ctx: Ctx, _args: str = "") -> Result:
    leave_flow(ctx)
    return Next("mine")


class Drafts(Step):
    name = "drafts"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        drafts = queries.list_drafts(ctx.conn, person_id=ctx.conv.person_id, limit=DRAFTS_SHOWN)
        if not drafts:
            return home(join(error, _("You have no drafts.")))
        options = [(
            _("{title} · at: {step} · {when}").format(
                title=draft_label(ctx, d["title"]),
                step=_(STEP_LABELS.get(d["step"], d["step"])),
                when=local_datetime(d["updated_at"], ctx.locale)),
            f"d:{d['id']}") for d in drafts]
        options.append((_("‹ Close"), "close"))
        ctx.ask(join(error, _("<b>Your drafts</b> (most recent first). Pick one:")), options)
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value.startswith("d:"):
            ctx.state.selected_draft = int(value[2:])
            return Next("draft_actions")
        return home()


class DraftActions(Step):
    name = "draft_actions"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        draft = queries.get_draft(ctx.conn, draft_id=ctx.state.selected_draft or -1,
                                  person_id=ctx.conv.person_id)
        if draft is None:
            return Next("drafts", _("That draft no longer exists."))
        ctx.ask(join(error, _("Draft «{title}» — what now?").format(
            title=esc(draft_label(ctx, draft["title"])))), [
            (_("Go on with it"), "resume"),
            (_("Delete it"), "delete"),
            (_("‹ Back"), "back"),
        ])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        if value == "resume":
            draft = ctx.open_draft(ctx.state.selected_draft or -1)
            if draft is None:
                return Next("drafts", _("That draft no longer exists."))
            ctx.state.selected_draft = None
            seq = draft.order
            return Next(draft.step if draft.step in seq else seq[0])
        if value == "delete":
            ctx.state.discard_back = "drafts"
            return Next("discard")
        ctx.state.selected_draft = None
        return Next("drafts")


def revised_code(ctx: Ctx, draft_id: int | None = None) -> str | None:
    """The code of the returned initiative the selected draft revises, if it is one."""
    wanted = draft_id if draft_id is not None else ctx.state.selected_draft
    draft = ctx.conv.drafts.get(wanted) if wanted is not None else None
    if draft is None or not draft.initiative_id:
        return None
    ini = review_store.initiative(ctx.conn, initiative_id=draft.initiative_id)
    return ini["code"] if ini else None


class Discard(Step):
    name = "discard"
    in_draft = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        code = revised_code(ctx)
        if code:
            ctx.ask(join(error, _("Discard your changes? {code} stays as it was, returned for "
                                  "revision.").format(code=esc(code))),
                    [(_("Yes, discard them"), "yes"), (_("No, keep them"), "no")])
            return None
        ctx.ask(join(error, _("Delete this draft for good?")),
                [(_("Yes, delete it"), "yes"), (_("No, keep it"), "no")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        draft_id, ctx.state.selected_draft = ctx.state.selected_draft, None
        back, ctx.state.discard_back = ctx.state.discard_back or "drafts", None
        if value == "yes" and draft_id is not None:
            code = revised_code(ctx, draft_id)
            queries.delete_draft(ctx.conn, draft_id=draft_id, person_id=ctx.conv.person_id)
            ctx.conv.forget_draft(draft_id)
            if code:
                return home(_("Changes discarded: {code} is as it was.").format(code=esc(code)))
            return home(_("Draft deleted."))
        if back == "summary" and ctx.conv.draft is not None:
            return Next("summary")
        return Next("drafts")


class Mine(Step):
    name = "mine"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        page = ctx.state.page
        rows = queries.list_initiatives(ctx.conn, person_id=ctx.conv.person_id,
                                        offset=page * MINE_PAGE, limit=MINE_PAGE + 1)
        if not rows and page == 0:
            return home(join(
                error, _("You have not submitted any initiative yet. Type /sangkien to start.")))
        lines = [_("<b>Your initiatives</b> (page {page}):").format(page=page + 1)]
        options = []
        for r in rows[:MINE_PAGE]:
            lines.append(_("<b>{code}</b> · {title}\n   {status} · {unit} · {when}").format(
                code=r["code"], title=esc(shorten(r["title"], 80)),
                status=status_label(_, r["status"]),
                unit=esc(r["unit_name"]), when=local_datetime(r["submitted_at"], ctx.locale)))
            if r["reason"] and r["status"] in ("needs_revision", "invalid"):
                lines.append("   " + _("Reason: {reason}").format(
                    reason=esc(shorten(r["reason"], 300))))
            options.append((r["code"], f"v:{r['id']}"))
        ctx.ask(join(error, "\n".join(lines)),
                [*options, *page_options(ctx, page=page, more=len(rows) > MINE_PAGE)])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if turn_page(ctx, value):
            return cls.ask(ctx)
        if value.startswith("v:"):   # opens as /xem does
            return run(ctx, "act", f"a:view:{value[2:]}")
        return home()


FLOW = Flow(
    name="drafts",
    steps=(Drafts, DraftActions, Discard, Mine),
    transitions=TRANSITIONS,
    commands=(
        command("drafts", show_drafts, opens={"drafts"}, words=("nhap", "drafts"),
                label=N_("My drafts")),
        command("mine", show_mine, opens={"mine"}, words=("cuatoi", "mine"),
                label=N_("My initiatives")),
    ),
)
