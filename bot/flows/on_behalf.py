"""Registering an initiative for a worker (kê khai hộ): a support team or chair first says
who the author is — name, phone (optional), grassroots union, which must be one the team
looks after — then the initiative's own questions follow (`bot.flows.submission`)."""

from __future__ import annotations

import re

from bot.conversation import Ctx
from bot.flows.engine import Flow, Next, Result, command, home, join, leave_flow
from bot.flows.submission import DraftStep, advance, header
from bot.flows.widgets import UnitSearch, keep_option, name_error, one_line
from bot.i18n import N_
from bot.services import submissions
from bot.services.permissions import holds_role
from bot.services.results import refuse_role

TRANSITIONS = {
    "author_name": {"author_phone", "summary"},
    "author_phone": {"author_unit", "summary"},
    "author_unit": {"title", "summary"},
}

_PHONE = re.compile(r"^(?:\+?84|0)\d{8,10}$")


def new_on_behalf(ctx: Ctx, _args: str = "") -> Result:
    """Kê khai hộ: only for a support team (or a chair) of some unit."""
    if not holds_role(conn=ctx.conn, actor=ctx.actor, roles=submissions.HELPER_ROLES):
        refuse_role(ctx.actor, "/khaiho")
        return home(ctx._(
            "Only a support team (Tổ hỗ trợ sáng kiến) can register initiatives for others."))
    leave_flow(ctx)
    ctx.new_draft(step="author_name", on_behalf=True)
    return Next("author_name")


class AuthorName(DraftStep):
    name = "author_name"
    free_text = True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Author")) + "\n" + _(
            "Registering for a worker. What is the author's full name?")), keep_option(ctx))
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        name = one_line(text)
        if error := name_error(ctx, name):
            return cls.ask(ctx, error=error)
        ctx.draft.author_name = name
        return advance(ctx)


class AuthorPhone(DraftStep):
    name = "author_phone"
    free_text = True
    no_value = "skip"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        ctx.ask(join(error, header(ctx, cls.name, _("Phone")) + "\n" + _(
            "The author's phone number, so the union can reach them (optional).")),
            [(_("Skip"), "skip"), *keep_option(ctx)])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        phone = re.sub(r"[\s.\-()]", "", text)
        if not _PHONE.match(phone):
            return cls.ask(ctx, error=ctx._(
                "That does not look like a Vietnamese phone number (e.g. 0912 345 678)."))
        ctx.draft.author_phone = phone
        return advance(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "skip":
            ctx.draft.author_phone = None
            return advance(ctx)
        return super().choice(ctx, value)


class AuthorUnit(UnitSearch, DraftStep):
    name = "author_unit"
    grassroots = True

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        _ = ctx._
        return header(ctx, cls.name, _("Author's union")) + "\n" + _(
            "Which grassroots union (công đoàn cơ sở) does the author belong to? Type part of "
            "its name or its code.")

    @classmethod
    def allowed(cls, ctx: Ctx, unit_id: int) -> bool:
        if submissions.may_register_for(conn=ctx.conn, actor=ctx.actor, unit_id=unit_id):
            return True
        ctx.state.unit_query = None
        cls.ask(ctx, error=ctx._(
            "You can register initiatives only for workers of the unions your support team "
            "looks after."))
        return False

    @classmethod
    def chosen(cls, ctx: Ctx, unit_id: int) -> Result:
        ctx.draft.author_unit_id = unit_id
        return advance(ctx)


FLOW = Flow(
    name="on_behalf",
    steps=(AuthorName, AuthorPhone, AuthorUnit),
    transitions=TRANSITIONS,
    commands=(
        command("behalf", new_on_behalf, opens={"author_name"}, words=("khaiho", "behalf"),
                label=N_("Register for a worker")),
    ),
)
