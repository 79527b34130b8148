"""Onboarding: language, grassroots union and credited name; QR-poster deep links
(`/start <unit code>`) and one-time codes (invites, account links, claims) typed or passed
after /start."""

from __future__ import annotations

from bot.conversation import Ctx
from bot.flows.engine import Flow, Next, Result, Step, command, home, join, run
from bot.flows.widgets import NAME_MAX, NAME_MIN, UnitSearch, name_error, one_line, unit_label
from bot.formatting import esc, name_case
from bot.i18n import N_, SUPPORTED_LOCALES
from bot.labels import ROLE_LABELS
from bot.services import codes
from bot.state import Onboarding
from storage import access, queries

TRANSITIONS = {
    "ob_language": {"ob_unit", "ob_name"},
    # A single answer asked from /hoso or a draft's summary returns there.
    "ob_unit": {"ob_name", "profile", "summary"},
    # Done: home, or the command that waited; asked at a first submission: on to the union
    # if it is missing too, then back to the summary.
    "ob_name": {"profile", "summary", "ob_unit"},
}

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def language_options() -> list[tuple[str, str]]:
    return [(LANGUAGE_NAMES[code], f"l:{code}") for code in SUPPORTED_LOCALES]


def welcome_text(ctx: Ctx) -> str:
    _ = ctx._
    return _(
        "<b>Welcome to Sáng kiến!</b>\n"
        "I help you register your initiatives (sáng kiến) for the union's drive, step by step: "
        "title, description, benefit value and the union that receives it. Your answers are "
        "saved at every step, so you can stop and go on later."
    )


def typed_code(ctx: Ctx, text: str) -> Result | None:
    """A one-time code typed where one is expected (home, onboarding): on Zalo there are no
    deep links, so invites, links and claims are typed. Anywhere else it is just text."""
    return run(ctx, "redeem", text.strip()) if access.looks_like_code(text) else None


def onboard(ctx: Ctx, _args: str = "") -> Result:
    return Next("ob_language")


class OnboardingStep(Step):
    """A question of the profile (see `Step.in_profile`)."""

    in_profile = True



class ObLanguage(OnboardingStep):
    name = "ob_language"

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        ctx.ask(join(error, "Chọn ngôn ngữ · Choose your language"), language_options())
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value.startswith("l:") and value[2:] in SUPPORTED_LOCALES:
            ctx.set_locale(value[2:])
        preset = ctx.state.onboarding and ctx.state.onboarding.unit_id
        return Next("ob_name" if preset else "ob_unit")

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        return typed_code(ctx, text) or super().text(ctx, text)


class ObUnit(UnitSearch, OnboardingStep):
    name = "ob_unit"
    grassroots = True
    no_value = "skip"

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        return ctx._("Which grassroots union (công đoàn cơ sở) do you belong to? Type part of "
                     "its name, accents optional, or its code.")

    @classmethod
    def extra_options(cls, ctx: Ctx) -> list[tuple[str, str]]:
        ob = ctx.state.onboarding
        if ob and ob.back == "summary":
            # Changed from the summary, or asked because a submission needs it: back to the
            # summary unchanged (it is asked again before sending while missing).
            has_unit = ctx.person()["unit_id"] is not None
            return [(ctx._("Keep as it is") if has_unit else ctx._("‹ Back to the summary"),
                     "skip")]
        return [(ctx._("Skip for now"), "skip")]

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        return typed_code(ctx, text) or super().text(ctx, text)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "skip" and value in ctx.state.menu.values:
            return cls.next(ctx)
        return super().choice(ctx, value)

    @classmethod
    def chosen(cls, ctx: Ctx, unit_id: int) -> Result:
        ctx.update_person(unit_id=unit_id)
        return cls.next(ctx)

    @classmethod
    def next(cls, ctx: Ctx) -> Result:
        ob = ctx.state.onboarding
        if ob and ob.back:
            ctx.state.onboarding = None
            return Next(ob.back)
        return Next("ob_name")


class ObName(OnboardingStep):
    name = "ob_name"
    free_text = True
    yes_value = "same"    # "có": the name shown is right

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        _ = ctx._
        person = ctx.person()
        options = [(_("Use «{name}»").format(name=name_case(person["name"])), "same")] \
            if NAME_MIN <= len(person["name"]) <= NAME_MAX else []
        ctx.ask(join(error, _("What name should be credited on your initiatives? "
                              "(your full name)")), options)
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        if (redeemed := typed_code(ctx, text)) is not None:
            return redeemed
        name = one_line(text)
        if error := name_error(ctx, name):
            return cls.ask(ctx, error=error)
        ctx.update_person(name=name)
        return cls.finish(ctx)

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        if value == "same":
            return cls.finish(ctx)
        return cls.ask(ctx)

    @classmethod
    def finish(cls, ctx: Ctx) -> Result:
        ob, ctx.state.onboarding = ctx.state.onboarding or Onboarding(), None
        values: dict[str, object] = {"onboarded": True}
        if ob.unit_id:
            values["unit_id"] = ob.unit_id
        ctx.update_person(**values)
        if ob.back == "summary" and ctx.person()["unit_id"] is None:
            ctx.state.onboarding = ob
            return Next("ob_unit")
        if ob.back:
            return Next(ob.back)
        return home(ctx._("Your profile is saved. You can change it any time with /hoso."))


# ============================================================================ codes


def deep_link(ctx: Ctx, args: str) -> Result:
    """`/start <payload>`: a one-time code, or a grassroots union's code from a QR poster."""
    _ = ctx._
    if access.looks_like_code(args):
        return run(ctx, "redeem", args)
    unit = queries.unit_by_code(ctx.conn, args, grassroots=True)
    if unit is None:
        ctx.say(_("That link is not valid any more."))
        return run(ctx, "start")
    if ctx.person()["onboarded"]:
        ctx.update_person(unit_id=unit.id)
        return home(_("Your grassroots union is now {unit}.").format(
            unit=esc(unit_label(unit.name, unit.parent_name))))
    ctx.say(welcome_text(ctx))
    ctx.say(_("Your grassroots union: <b>{unit}</b>").format(
        unit=esc(unit_label(unit.name, unit.parent_name))))
    ctx.state.onboarding = Onboarding(unit_id=unit.id)
    return Next("ob_language")


CODE_ERRORS = {
    "unknown": N_("That code is not valid."),
    "expired": N_("That code has expired. Ask for a new one."),
    "used": N_("That code has already been used."),
    "revoked": N_("That code has been withdrawn."),
    "own": N_("Type this code in your OTHER chat app to link it."),
    "roles": N_("An account with a role (support team, chair, administrator) can be linked "
                "only by an administrator. Nothing was linked."),
}


def redeem(ctx: Ctx, code: str) -> Result:
    _ = ctx._
    result = codes.redeem(conn=ctx.conn, actor=ctx.actor, now=ctx.now, code=code)
    if isinstance(result, codes.RoleGranted):
        ctx.conv.may_hold_roles = True
        return home(_("You are now {role} of {unit}.").format(
            role=_(ROLE_LABELS[result.role]), unit=esc(result.unit_name)))
    if isinstance(result, codes.LinkToConfirm):
        ctx.state.pending_link = result.code
        return Next("link_confirm")
    if isinstance(result, codes.InitiativeClaimed):
        return home(_("The initiative registered for you is now linked to your account: see "
                      "/cuatoi."))
    return home(_(CODE_ERRORS[result.why]))


FLOW = Flow(
    name="onboarding",
    steps=(ObLanguage, ObUnit, ObName),
    transitions=TRANSITIONS,
    commands=(
        command("onboard", onboard, opens={"ob_language"}),
        command("deeplink", deep_link, opens={"ob_language"}),
        command("redeem", redeem, opens={"link_confirm"}),
    ),
)
