"""Who the user is: language, onboarding, /hoso, invites and roles (/moi), account links
(/lienket), and the one-time codes that carry them (typed, or after /start)."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.conversation import Ctx
from bot.formatting import esc, local_datetime
from bot.i18n import N_, SUPPORTED_LOCALES
from bot.steps import STEPS, Step, command, current_step, goto, home, join, run_action, step
from bot.submission import NAME_MAX, NAME_MIN, UnitSearch, name_error, one_line, unit_label
from storage import access, queries

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
ROLE_LABELS = {"support": N_("support team"), "chair": N_("chair"), "admin": N_("administrator")}
INVITE_DAYS = 7
LINK_MINUTES = 15

# ============================================================================ language


@command("language", "ngonngu", "language", inline=True)
def choose_language(ctx: Ctx, _args: str = "") -> None:
    ctx.conv.state["lang_back"] = ctx.conv.step
    goto(ctx, "language")


@step("language")
class Language(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        ctx.ask(join(error, ctx._("Choose your language:")),
                [(LANGUAGE_NAMES[code], f"l:{code}") for code in SUPPORTED_LOCALES])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value.startswith("l:") and value[2:] in SUPPORTED_LOCALES:
            ctx.set_locale(value[2:])
        back = ctx.conv.state.pop("lang_back", "idle")
        ctx.say(ctx._("Language: {name}").format(name=LANGUAGE_NAMES[ctx.locale]))
        if back in ("language", "ob_language") or back not in STEPS:
            back = "idle"
        ctx.conv.step = back
        current_step(ctx).ask(ctx)


# ============================================================================ onboarding


@command("onboard")
def onboard(ctx: Ctx, _args: str = "") -> None:
    goto(ctx, "ob_language")


@step("ob_language")
class ObLanguage(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        ctx.ask(join(error, "Chọn ngôn ngữ · Choose your language"),
                [(LANGUAGE_NAMES[code], f"l:{code}") for code in SUPPORTED_LOCALES])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value.startswith("l:") and value[2:] in SUPPORTED_LOCALES:
            ctx.set_locale(value[2:])
        preset = ctx.conv.state.get("ob", {}).get("unit")
        goto(ctx, "ob_name" if preset else "ob_unit")


@step("ob_unit")
class ObUnit(UnitSearch):
    grassroots = True

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        return ctx._("Which grassroots union (công đoàn cơ sở) do you belong to? Type part of "
                     "its name, accents optional, or its code.")

    @classmethod
    def extra_options(cls, ctx: Ctx) -> list[tuple[str, str]]:
        return [(ctx._("Skip for now"), "skip")]

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "skip":
            return cls.next(ctx)
        super().choice(ctx, value)

    @classmethod
    def chosen(cls, ctx: Ctx, unit_id: int) -> None:
        ctx.update_person(unit_id=unit_id)
        cls.next(ctx)

    @classmethod
    def next(cls, ctx: Ctx) -> None:
        if ctx.conv.state.get("ob", {}).get("edit"):
            ctx.conv.state.pop("ob", None)
            return goto(ctx, "profile")
        goto(ctx, "ob_name")


@step("ob_name")
class ObName(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        person = ctx.person()
        options = [(_("Use «{name}»").format(name=person["name"]), "same")] \
            if NAME_MIN <= len(person["name"]) <= NAME_MAX else []
        ctx.ask(join(error, _("What name should be credited on your initiatives? "
                              "(your full name)")), options)

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> None:
        name = one_line(text)
        if error := name_error(ctx, name):
            return cls.ask(ctx, error=error)
        ctx.update_person(name=name)
        cls.finish(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value == "same":
            return cls.finish(ctx)
        cls.ask(ctx)

    @classmethod
    def finish(cls, ctx: Ctx) -> None:
        ob = ctx.conv.state.pop("ob", {})
        values: dict[str, object] = {"onboarded": True}
        if ob.get("unit"):
            values["unit_id"] = ob["unit"]
        ctx.update_person(**values)
        if ob.get("edit"):
            return goto(ctx, "profile")
        home(ctx, error=ctx._("Your profile is saved. You can change it any time with /hoso."))


# ============================================================================ /hoso


@command("profile", "hoso", "profile", label=N_("My profile"))
def show_profile(ctx: Ctx, _args: str = "") -> None:
    goto(ctx, "profile")


@step("profile")
class Profile(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        person = ctx.person()
        unit = (queries.units_by_ids(ctx.conn, [person["unit_id"]]).get(person["unit_id"])
                if person["unit_id"] else None)
        lines = [
            _("<b>Your profile</b>"),
            _("Name: {name}").format(name=esc(person["name"] or "—")),
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

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        if value in ("name", "unit"):
            ctx.conv.state["ob"] = {"edit": True}
            return goto(ctx, "ob_name" if value == "name" else "ob_unit")
        if value == "lang":
            ctx.conv.state["lang_back"] = "profile"
            return goto(ctx, "language")
        home(ctx)


# ============================================================================ codes


@command("deeplink")
def deep_link(ctx: Ctx, args: str) -> None:
    """`/start <payload>`: a one-time code, or a grassroots union's code from a QR poster."""
    _ = ctx._
    if access.looks_like_code(args):
        return redeem(ctx, args)
    unit = queries.unit_by_code(ctx.conn, args, grassroots=True)
    if unit is None:
        ctx.say(_("That link is not valid any more."))
        return run_action(ctx, "start")
    person = ctx.person()
    if person["onboarded"]:
        ctx.update_person(unit_id=unit.id)
        return home(ctx, error=_("Your grassroots union is now {unit}.").format(
            unit=esc(unit_label(unit.name, unit.parent_name))))
    from bot.home import welcome_text

    ctx.say(welcome_text(ctx))
    ctx.say(_("Your grassroots union: <b>{unit}</b>").format(
        unit=esc(unit_label(unit.name, unit.parent_name))))
    ctx.conv.state["ob"] = {"unit": unit.id}
    goto(ctx, "ob_language")


_CODE_ERRORS = {
    "unknown": N_("That code is not valid."),
    "expired": N_("That code has expired. Ask for a new one."),
    "used": N_("That code has already been used."),
    "revoked": N_("That code has been withdrawn."),
    "own": N_("Type this code in your OTHER chat app to link it."),
}


@command("redeem")
def redeem(ctx: Ctx, code: str) -> None:
    _ = ctx._
    status, row = access.claim_code(ctx.conn, code=code, person_id=ctx.conv.person_id,
                                    now=ctx.now)
    if status != "ok" or row is None:
        log.info("code refused (%s) for person %s", status, ctx.conv.person_id)
        return home(ctx, error=_(_CODE_ERRORS[status]))
    if row["purpose"] == "invite":
        access.grant_role(ctx.conn, person_id=ctx.conv.person_id, role=row["role"],
                          unit_id=row["unit_id"], granted_by=row["created_by"],
                          code=row["code"], now=ctx.now)
        unit = queries.units_by_ids(ctx.conn, [row["unit_id"]])[row["unit_id"]]
        return home(ctx, error=_("You are now {role} of {unit}.").format(
            role=_(ROLE_LABELS[row["role"]]), unit=esc(unit.name)))
    if row["purpose"] == "link":
        access.merge_people(ctx.conn, keep=row["created_by"], absorb=ctx.conv.person_id)
        for changed in (row["created_by"], ctx.conv.person_id):   # both rows changed
            ctx.people.pop(changed, None)
        ctx.conv.person_id = row["created_by"]
        return home(ctx, error=_("Accounts linked: your drafts and initiatives are now the "
                                 "same in both apps."))
    if row["purpose"] == "claim":
        access.link_initiative(ctx.conn, initiative_id=row["target_id"],
                               person_id=ctx.conv.person_id)
        return home(ctx, error=_("The initiative registered for you is now linked to your "
                                 "account: see /cuatoi."))
    home(ctx, error=_(_CODE_ERRORS["unknown"]))


@command("link", "lienket", "link", label=N_("Link accounts"))
def link_accounts(ctx: Ctx, _args: str = "") -> None:
    _ = ctx._
    code = access.create_code(ctx.conn, purpose="link", now=ctx.now,
                              expires_at=ctx.now + timedelta(minutes=LINK_MINUTES),
                              created_by=ctx.conv.person_id)
    home(ctx, error=_(
        "To use the bot from your other chat app (Telegram or Zalo) with the same drafts and "
        "initiatives, type this code there within {minutes} minutes: <code>{code}</code>"
    ).format(minutes=LINK_MINUTES, code=code))


# ============================================================================ /moi


@command("invite", "moi", "invite", label=N_("Support team"))
def manage_invites(ctx: Ctx, _args: str = "") -> None:
    _ = ctx._
    if not access.grants(ctx.conn, person_id=ctx.conv.person_id, roles=("chair",)):
        log.warning("refused: person %s tried /moi without a chair role", ctx.conv.person_id)
        return home(ctx, error=_("Only a union chair can invite a support team."))
    goto(ctx, "invites")


@step("invites")
class Invites(Step):
    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> None:
        _ = ctx._
        me = ctx.conv.person_id
        lines = [_("<b>Your support team</b>")]
        options: list[tuple[str, str]] = []
        for g in access.grants_made_by(ctx.conn, person_id=me):
            lines.append(_("• {name} — {role}, {unit}").format(
                name=esc(g["person_name"] or "—"), role=_(ROLE_LABELS[g["role"]]),
                unit=esc(g["unit_name"])))
            options.append((_("Remove {name}").format(name=g["person_name"] or "—"),
                            f"rg:{g['id']}"))
        for c in access.open_codes(ctx.conn, created_by=me, purpose="invite", now=ctx.now):
            lines.append(_("• code <code>{code}</code> (unused, until {when})").format(
                code=c["code"], when=local_datetime(c["expires_at"], ctx.locale)))
            options.append((_("Withdraw {code}").format(code=c["code"]), f"rc:{c['code']}"))
        if len(lines) == 1:
            lines.append(_("Nobody yet."))
        chairs = access.grants(ctx.conn, person_id=me, roles=("chair",))
        new = [(_("New invite code: {unit}").format(unit=g.unit_name), f"new:{g.unit_id}")
               for g in chairs]
        ctx.ask(join(error, "\n".join(lines)), [*new, *options, (_("‹ Close"), "close")])

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> None:
        _ = ctx._
        me = ctx.conv.person_id
        kind, _sep, arg = value.partition(":")
        if kind == "new":
            unit_id = int(arg)
            if not access.covers(ctx.conn, person_id=me, roles=("chair",), unit_id=unit_id):
                log.warning("refused: person %s inviting to unit %s", me, unit_id)
                return cls.ask(ctx, error=_("You are not a chair of that union."))
            code = access.create_code(
                ctx.conn, purpose="invite", role="support", unit_id=unit_id, now=ctx.now,
                expires_at=ctx.now + timedelta(days=INVITE_DAYS), created_by=me)
            return cls.ask(ctx, error=_(
                "New invite code for the support team: <code>{code}</code>\n"
                "It works once, for {days} days: the member types /start {code} or just the "
                "code.").format(code=code, days=INVITE_DAYS))
        if kind == "rc":
            ok = access.revoke_code(ctx.conn, code=arg, now=ctx.now, created_by=me)
            return cls.ask(ctx, error=_("Code withdrawn.") if ok else _("Nothing to withdraw."))
        if kind == "rg":
            mine = {g["id"] for g in access.grants_made_by(ctx.conn, person_id=me)}
            if int(arg) not in mine:
                log.warning("refused: person %s revoking grant %s they did not make", me, arg)
                return cls.ask(ctx, error=_("You can remove only members you invited."))
            access.revoke_grant(ctx.conn, grant_id=int(arg), now=ctx.now)
            return cls.ask(ctx, error=_("Removed from the support team."))
        home(ctx)
