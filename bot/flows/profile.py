"""Who the user is: /hoso, /ngonngu, /lienket, and a chair's support team (/moi)."""

from __future__ import annotations

from bot.conversation import Ctx
from bot.flows.engine import ANY, HOME, Flow, Next, Result, Step, command, home, join
from bot.flows.onboarding import CODE_ERRORS, LANGUAGE_NAMES, language_options
from bot.flows.widgets import unit_label
from bot.formatting import esc, local_datetime, name_case
from bot.i18n import N_, SUPPORTED_LOCALES
from bot.labels import CHANNEL_NAMES, ROLE_LABELS
from bot.services import codes, roles
from bot.services.permissions import holds_role
from bot.services.results import Refused, refuse_role
from bot.state import Onboarding
from storage import access

TRANSITIONS = {
    "language": {ANY},                          # back to where /ngonngu was typed
    "profile": {"ob_name", "ob_unit", "language"},
    "invites": set(),
    "link_confirm": set(),
}


def choose_language(ctx: Ctx, _args: str = "") -> Result:
    ctx.state.language_back = ctx.conv.step
    return Next("language")


class Language(Step):
    name = "language"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        ctx.ask(join(error, ctx._("Choose your language:")), language_options())
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value.startswith("l:") and value[2:] in SUPPORTED_LOCALES:
            ctx.set_locale(value[2:])
        back, ctx.state.language_back = ctx.state.language_back or HOME, None
        ctx.say(ctx._("Language: {name}").format(name=LANGUAGE_NAMES[ctx.locale]))
        if back in ("language", "ob_language") or back not in ctx.dispatcher.registry.steps:
            back = HOME
        return Next(back)


def show_profile(ctx: Ctx, _args: str = "") -> Result:
    return Next("profile")


class Profile(Step):
    name = "profile"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        person = ctx.person()
        unit = (ctx.units.by_ids([person["unit_id"]]).get(person["unit_id"])
                if person["unit_id"] else None)
        lines = [
            _("<b>Your profile</b>"),
            _("Name: {name}").format(name=esc(name_case(person["name"]) or "—")),
            _("Grassroots union: {unit}").format(
                unit=esc(unit_label(unit.name, unit.parent_name)) if unit else "—"),
            _("Language: {name}").format(name=LANGUAGE_NAMES[ctx.locale]),
        ]
        for g in access.grants(ctx.conn, person_id=ctx.conv.person_id):
            lines.append(_("Role: {role} of {unit}").format(role=_(ROLE_LABELS[g.role]),
                                                           unit=esc(g.unit_name)))
        ctx.ask(join(error, "\n".join(lines)), [
            (_("Change name"), "name"), (_("Change union"), "unit"),
            (_("Change language"), "lang"), (_("‹ Close"), "close")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value in ("name", "unit"):
            ctx.state.onboarding = Onboarding(back="profile")
            return Next("ob_name" if value == "name" else "ob_unit")
        if value == "lang":
            ctx.state.language_back = "profile"
            return Next("language")
        return home()


def link_accounts(ctx: Ctx, _args: str = "") -> Result:
    code = codes.create_link_code(conn=ctx.conn, actor=ctx.actor, now=ctx.now)
    return home(ctx._(
        "To use the bot from your other chat app (Telegram or Zalo) with the same drafts and "
        "initiatives, type this code there within {minutes} minutes: <code>{code}</code>"
    ).format(minutes=codes.LINK_MINUTES, code=code))


class LinkConfirm(Step):
    """A link code typed: say whose account this chat joins, and merge only on yes."""

    name = "link_confirm"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        preview = codes.redeem(conn=ctx.conn, actor=ctx.actor, now=ctx.now,
                               code=ctx.state.pending_link or "")
        if not isinstance(preview, codes.LinkToConfirm):
            return home(_(CODE_ERRORS[getattr(preview, "why", "unknown")]))
        where = CHANNEL_NAMES.get(preview.owner_channel or "", preview.owner_channel or "?")
        ctx.ask(join(error, _(
            "Link this chat with the account of <b>{name}</b> on {channel}? Your drafts and "
            "initiatives here will join that account, and from now on you use the bot as that "
            "person in both apps. Only say yes if that account is yours.").format(
            name=esc(preview.owner_name or "—"), channel=esc(where))),
            [(_("Yes, it is mine: link them"), "yes"), (_("No"), "no")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        code, ctx.state.pending_link = ctx.state.pending_link, None
        if value != "yes" or not code:
            return home(_("Nothing was linked."))
        result = codes.confirm_link(conn=ctx.conn, actor=ctx.actor, now=ctx.now, code=code)
        if isinstance(result, codes.CodeRefused):
            return home(_(CODE_ERRORS[result.why]))
        ctx.forget_people(result.person_id, result.absorbed)   # both rows changed
        ctx.conv.person_id = result.person_id
        ctx.conv.may_hold_roles = True     # the other account's person may hold some
        return home(_("Accounts linked: your drafts and initiatives are now the same in both "
                      "apps."))


def manage_invites(ctx: Ctx, _args: str = "") -> Result:
    if not holds_role(conn=ctx.conn, actor=ctx.actor, roles=("chair",)):
        refuse_role(ctx.actor, "/moi")
        return home(ctx._("Only a union chair can invite a support team."))
    return Next("invites")


class Invites(Step):
    name = "invites"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        me = ctx.conv.person_id
        lines = [_("<b>Your support team</b>")]
        options: list[tuple[str, str]] = []
        chairs = access.grants(ctx.conn, person_id=me, roles=("chair",))
        # The team of every union the chair chairs, whoever invited them (an administrator
        # at the shell, a chair before), and anyone the chair invited elsewhere.
        team = {g["id"]: g for g in access.support_team(
            ctx.conn, unit_ids=[g.unit_id for g in chairs])}
        team.update({g["id"]: g for g in access.grants_made_by(ctx.conn, person_id=me)})
        for g in team.values():
            lines.append(_("• {name} — {role}, {unit}").format(
                name=esc(name_case(g["person_name"] or "—")), role=_(ROLE_LABELS[g["role"]]),
                unit=esc(g["unit_name"])))
            options.append((_("Remove {name}").format(name=g["person_name"] or "—"),
                            f"rg:{g['id']}"))
        for c in access.open_codes(ctx.conn, created_by=me, purpose="invite", now=ctx.now):
            lines.append(_("• code <code>{code}</code> (unused, until {when})").format(
                code=c["code"], when=local_datetime(c["expires_at"], ctx.locale)))
            options.append((_("Withdraw {code}").format(code=c["code"]), f"rc:{c['code']}"))
        if len(lines) == 1:
            lines.append(_("Nobody yet."))
        new = [(_("New invite code: {unit}").format(unit=g.unit_name), f"new:{g.unit_id}")
               for g in chairs]
        ctx.ask(join(error, "\n".join(lines)), [*new, *options, (_("‹ Close"), "close")])
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        kind, _sep, arg = value.partition(":")
        if kind == "new":
            invite = roles.create_invite(conn=ctx.conn, actor=ctx.actor, now=ctx.now,
                                         role="support", unit_id=int(arg))
            if not isinstance(invite, roles.Invite):
                return cls.ask(ctx, error=_("You are not a chair of that union."))
            return cls.ask(ctx, error=_(
                "New invite code for the support team: <code>{code}</code>\n"
                "It works once, for {days} days: the member types /start {code} or just the "
                "code.").format(code=invite.code, days=invite.days))
        if kind == "rc":
            ok = roles.withdraw_invite(conn=ctx.conn, actor=ctx.actor, now=ctx.now, code=arg)
            return cls.ask(ctx, error=_("Code withdrawn.") if ok else _("Nothing to withdraw."))
        if kind == "rg":
            removed = roles.remove_member(conn=ctx.conn, actor=ctx.actor, now=ctx.now,
                                          grant_id=int(arg))
            if isinstance(removed, Refused):
                return cls.ask(ctx, error=_(
                    "You can remove only members of the unions you chair, or whom you "
                    "invited."))
            return cls.ask(ctx, error=_("Removed from the support team."))
        return home()


FLOW = Flow(
    name="profile",
    steps=(Language, Profile, Invites, LinkConfirm),
    transitions=TRANSITIONS,
    commands=(
        command("language", choose_language, opens={"language"}, words=("ngonngu", "language"),
                inline=True),
        command("profile", show_profile, opens={"profile"}, words=("hoso", "profile"),
                label=N_("My profile")),
        command("link", link_accounts, words=("lienket", "link"), label=N_("Link accounts")),
        command("invite", manage_invites, opens={"invites"}, words=("moi", "invite"),
                label=N_("Support team")),
    ),
)
