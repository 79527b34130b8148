"""Names of things shown to users, marked for translation (translated where the locale is
known): statuses, roles, the questions of a draft, the actions on an initiative."""

from __future__ import annotations

from bot.formatting import vnd
from bot.i18n import N_, Gettext

STATUS_LABELS = {
    "under_review": N_("under review"),
    "valid": N_("valid"),
    "needs_revision": N_("needs revision"),
    "invalid": N_("invalid"),
    "withdrawn": N_("withdrawn"),
}
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "terminal": "Terminal"}
ROLE_LABELS = {"support": N_("support team"), "chair": N_("chair"), "admin": N_("administrator")}
STEP_LABELS = {
    "author_name": N_("author's name"),
    "author_phone": N_("author's phone"),
    "author_unit": N_("author's grassroots union"),
    "title": N_("title"),
    "description": N_("description"),
    "field": N_("field"),
    "applied": N_("date first applied"),
    "recognized": N_("recognition"),
    "benefit": N_("benefit value"),
    "benefit_confirm": N_("benefit value"),
    "coauthors": N_("co-authors"),
    "unit": N_("receiving union"),
    "attachments": N_("attachments"),
    "summary": N_("summary"),
}
# Actions on an initiative: the button's label and the command typed where there are none.
ACTION_LABELS = {
    "valid": N_("Valid"), "revise": N_("Needs revision"), "invalid": N_("Invalid"),
    "view": N_("Details"), "edit": N_("Edit it now"), "withdraw": N_("Withdraw"),
    "reopen": N_("Reopen"),
}
ACTION_COMMANDS = {"valid": "/hople", "revise": "/bosung", "invalid": "/khonghople",
                   "view": "/xem", "edit": "/suasangkien", "withdraw": "/rut",
                   "reopen": "/moilai"}
NOT_ALLOWED = N_("You are not allowed to do that for this initiative.")
# The decisions a reviewer takes, by action.
DECISIONS = {"valid": "valid", "revise": "needs_revision", "invalid": "invalid"}


def status_label(_: Gettext, status: str) -> str:
    return _(STATUS_LABELS[status])


def benefit_text(_: Gettext, locale: str, vnd_value: int | None, known: bool | None) -> str:
    """A benefit value in words: an amount, "not quantifiable", or not given yet."""
    if known is None:
        return _("(not given yet)")
    if not known or vnd_value is None:
        return _("not quantifiable in money")
    return vnd(vnd_value, locale)


# Campaigns: whom they address, and where they stand.
AUDIENCE_LABELS = {
    "members": N_("Every member who uses the bot"),
    "no_initiative": N_("Members with no initiative this phase"),
    "idle_drafts": N_("Members with a draft untouched for some days"),
    "lagging_units": N_("Chairs and support teams of units behind their target"),
    "leaderboard": N_("Chairs of the units below: the leaderboard"),
}
STATE_LABELS = {
    "draft": N_("draft"), "scheduled": N_("scheduled"), "running": N_("running"),
    "paused": N_("paused"), "done": N_("done"), "cancelled": N_("cancelled"),
}
