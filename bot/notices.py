"""Messages the bot sends on its own (alerts, decisions, digests), drawn in the recipient's
language, and the card of an initiative that reviewers and authors see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.events import Option
from bot.fields import field_label
from bot.formatting import esc, name_case, shorten
from bot.i18n import Gettext
from bot.labels import ACTION_COMMANDS, ACTION_LABELS, STEP_LABELS, benefit_text, status_label


def action_option(_: Gettext, action: str, ini: dict[str, Any]) -> Option:
    """A button in a message the bot sends on its own: self-describing, checked on press."""
    return Option(_(ACTION_LABELS[action]), f"a:{action}:{ini['id']}",
                  f"{ACTION_COMMANDS[action]} {ini['code']}")


def card(_: Gettext, locale: str, ini: dict[str, Any]) -> str:
    """The facts a reviewer needs at a glance."""
    return "\n".join([
        _("<b>{code}</b> · {title}").format(code=ini["code"], title=esc(ini["title"])),
        _("<b>Authors:</b> {names}").format(
            names=esc(", ".join(map(name_case, ini["authors"])))),
        *([_("<b>Author's grassroots union:</b> {unit}").format(
            unit=esc(ini["author_unit_name"]))] if ini.get("author_unit_name") else []),
        _("<b>Receiving union:</b> {unit}").format(unit=esc(ini["unit_name"])),
        _("<b>Recognised by the unit's council:</b> {answer}").format(
            answer=_("yes") if ini.get("recognized") else _("not yet")),
        _("<b>Field:</b> {field}").format(
            field=esc(field_label(ini.get("field_code"), locale) or "—")),
        _("<b>Benefit value:</b> {benefit}").format(benefit=esc(benefit_text(
            _, locale, ini.get("benefit_vnd"), bool(ini.get("benefit_known"))))),
        _("<b>Status:</b> {status}").format(status=status_label(_, ini["status"])),
    ])


def alert(_: Gettext, locale: str, ini: dict[str, Any], *, resubmitted: bool, decides: bool,
          changes: Sequence[str] = ()) -> tuple[str, list[Option]]:
    """A new (or resubmitted) initiative: for a reviewer, with the decisions; for the author's
    own support team, to know and to help. `changes`: what a resubmission changed (the
    draft's question names, see `labels.STEP_LABELS`)."""
    if not decides:
        head = _("📨 A member of your union sent an initiative (for your information)")
        return f"{head}\n\n{card(_, locale, ini)}", [action_option(_, "view", ini)]
    head = _("🔁 Resubmitted after revision") if resubmitted else _("🔔 New initiative to review")
    if resubmitted and changes:
        head += "\n" + _("Changed: {fields}").format(
            fields=", ".join(_(STEP_LABELS[c]) for c in changes))
    elif resubmitted:
        head += "\n" + _("Nothing was changed.")
    options = [action_option(_, a, ini) for a in ("valid", "revise", "invalid", "view")]
    return f"{head}\n\n{card(_, locale, ini)}", options


def decision(_: Gettext, ini: dict[str, Any], *, to_status: str, reason: str | None,
             may_edit: bool) -> tuple[str, list[Option]]:
    """A change of status, for the author (and whoever registered it for them)."""
    text = _("Your initiative <b>{code}</b> «{title}» is now: <b>{status}</b>.").format(
        code=ini["code"], title=esc(shorten(ini["title"], 80)),
        status=status_label(_, to_status))
    if reason:
        text += "\n" + _("Reason: {reason}").format(reason=esc(reason))
    options = [action_option(_, "view", ini)]
    if may_edit:
        options.insert(0, action_option(_, "edit", ini))
    return text, options


def digest(_: Gettext, alerts: list[dict[str, Any]]) -> str:
    """The day's held alerts, for a reviewer who chose one message a day."""
    lines = [_("<b>Today's new initiatives</b> ({n}):").format(n=len(alerts))]
    lines += [f"• <b>{a['code']}</b> · {esc(shorten(a['title'], 70))} · "
              f"{esc(a['unit_name'])} · {status_label(_, a['status'])}" for a in alerts]
    lines.append(_("Open the list with /choduyet."))
    return "\n".join(lines)
