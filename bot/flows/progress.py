"""The chair's side: /tiendo (progress of a unit in a phase, its children lagging first, a
chart), /bangxephang (ranking) and /baocao (the XLSX report). The figures are
`bot.services.progress`'s; the words `bot.render_progress`'s; charts and workbooks are made
when the reply is sent (`bot.media`).

One step, `progress_view`, answers the options under each of these messages. Each option
carries what it opens ("open|CODE|PHASE", "page|CODE|PHASE|2"…), so nothing else is kept.
"""

from __future__ import annotations

from bot import media
from bot.conversation import Ctx
from bot.events import Reply
from bot.flows.engine import Flow, Next, Result, Step, command, home
from bot.formatting import esc, number, shorten
from bot.i18n import N_
from bot.render_progress import percent, progress_text, ranking_text, unit_pct
from bot.report import may_report
from bot.services import progress as ps
from storage import targets as target_store

STEP = "progress_view"
TRANSITIONS = {STEP: set()}   # its options open another unit's view: the same step
PAGE_SIZE = 8
LABEL_MAX = 60
# A report's rows beyond which it is not sent in a chat (Telegram takes documents up to
# 50 MB; a workbook holds about 55 bytes an initiative): the CLI writes it.
CHAT_REPORT_MAX = 500_000

REFUSALS = {
    "no_unit": N_("You are not attached to a union yet. Choose your grassroots union in "
                  "/hoso, or ask your union for an invitation code."),
    "out_of_scope": N_("You can see the progress of your own union and of the unions below "
                       "it only."),
    "unknown_unit": N_("No union has the code «{code}». Type the code as it is written in "
                       "the union directory, e.g. /tiendo DTP-YT."),
    "no_phase": N_("No phase of the drive is set up yet (an administrator loads the "
                   "targets: sangkien targets import)."),
    "unknown_phase": N_("No phase is called «{phase}». The phases: {phases}."),
    "ambiguous_phase": N_("«{phase}» could be more than one phase: {phases}. Type the phase's "
                          "code as it is written, with its accents."),
}


def refusal(ctx: Ctx, result: ps.Refused, code: str | None, phase: str | None = None) -> Next:
    text = REFUSALS.get(result.reason, REFUSALS["out_of_scope"])
    codes = list(target_store.phases(ctx.conn))
    if result.reason == "ambiguous_phase":   # the phases it could be
        codes = target_store.matching_phases(codes, phase or "")
    phases = ", ".join(esc(p) for p in codes) or "–"
    return home(ctx._(text).format(code=esc(code or ""), phase=esc(phase or ""),
                                   phases=phases))


def split_args(ctx: Ctx, args: str) -> tuple[str | None, str | None]:
    """[unit code] [phase], in either order: the words at the start or the end that are a
    phase's code (exact first, else accents and case optional: "gd1" is "GĐ1"; a code may
    have spaces, "GĐ demo") are the phase, the first other word the unit. Words left after
    the unit are a phase no phase has: returned as typed, so that the service refuses it by
    name."""
    codes = list(target_store.phases(ctx.conn))

    def named(typed: list[str]) -> str | None:
        """The phase the words name (its code), or as typed when several phases could be
        (the service refuses it, naming them)."""
        found = target_store.matching_phases(codes, " ".join(typed))
        return (found[0] if len(found) == 1 else " ".join(typed)) if found else None

    words = args.split()
    phase = None
    for n in range(len(words), 0, -1):
        if (found := named(words[-n:])) is not None:
            phase, words = found, words[:-n]
            break
        if (found := named(words[:n])) is not None:
            phase, words = found, words[n:]
            break
    unit = words[0] if words else None
    if phase is None and len(words) > 1:
        phase = " ".join(words[1:])
    return unit, phase


def lookup(ctx: Ctx, args: str) -> tuple[ps.Progress | ps.Refused, str | None, str | None]:
    unit, phase = split_args(ctx, args)
    return ps.progress(conn=ctx.conn, actor=ctx.actor, now=ctx.now, unit_code=unit,
                       phase_code=phase), unit, phase


def child_label(u: ps.UnitFigures, locale: str) -> str:
    return shorten(f"{u.name} — {percent(unit_pct(u), locale)}", LABEL_MAX)


def show_progress(ctx: Ctx, unit: str | None, phase: str | None, *, page: int = 0,
                  chart: bool = True, back: str | None = None) -> Result:
    _ = ctx._
    p = ps.progress(conn=ctx.conn, actor=ctx.actor, now=ctx.now, unit_code=unit,
                    phase_code=phase)
    if isinstance(p, ps.Refused):
        return refusal(ctx, p, unit, phase)
    return render_progress_view(ctx, p, page=page, chart=chart, back=back)


def render_progress_view(ctx: Ctx, p: ps.Progress, *, page: int, chart: bool,
                         back: str | None = None) -> Result:
    """`back`: the code of the unit this one was opened from (an option returns there)."""
    _ = ctx._
    code, phase = p.unit.code, p.phase.code
    if chart:
        ctx.replies.append(Reply(
            _("Chart: {name}, phase {phase}").format(name=esc(p.unit.name), phase=esc(phase)),
            separate=True, attachment=media.attachment(
                "chart", actor=ctx.actor, unit_code=code, phase_code=phase,
                locale=ctx.locale, mode="cumulative")))
    text = progress_text(p, locale=ctx.locale)
    options: list[tuple[str, str]] = []
    if p.children_total:
        kids = ps.children(conn=ctx.conn, actor=ctx.actor, now=ctx.now, unit_id=p.unit.unit_id,
                           phase_id=p.phase.id, page=page, page_size=PAGE_SIZE)
        if not isinstance(kids, ps.Refused) and kids.rows:
            text += "\n\n" + _("<b>Units below</b>, lagging first (page {page} of {pages}; "
                               "choose one to open it):").format(page=kids.page + 1,
                                                                 pages=kids.pages)
            options += [(child_label(u, ctx.locale), f"open|{u.code}|{phase}|{code}")
                        for u in kids.rows]
            if kids.page > 0:
                options.append((_("‹ Previous units"), f"page|{code}|{phase}|{kids.page - 1}"))
            if kids.page + 1 < kids.pages:
                options.append((_("More units ›"), f"page|{code}|{phase}|{kids.page + 1}"))
        options.append((_("Ranking"), f"rank|{code}|{phase}"))
    if may_report(ctx.conn, ctx.actor):
        options.append((_("Report (Excel)"), f"report|{code}|{phase}"))
    if back:
        options.append((_("‹ Back to {code}").format(code=back), f"page|{back}|{phase}|0"))
    options.append((_("‹ Close"), "close"))
    ctx.ask(text, options)
    return Next(STEP)


def show_ranking(ctx: Ctx, unit: str | None, phase: str | None) -> Result:
    _ = ctx._
    r = ps.ranking(conn=ctx.conn, actor=ctx.actor, now=ctx.now, unit_code=unit,
                   phase_code=phase)
    if isinstance(r, ps.Refused):
        return refusal(ctx, r, unit, phase)
    authors: tuple[ps.AuthorRow, ...] = ()
    p = ps.progress(conn=ctx.conn, actor=ctx.actor, now=ctx.now, unit_code=unit,
                    phase_code=r.phase.code)
    if not isinstance(p, ps.Refused):
        authors = ps.top_authors(conn=ctx.conn, actor=ctx.actor, now=ctx.now,
                                 unit_id=p.unit.unit_id, phase_id=p.phase.id)
    if r.by == "children" and r.rows:
        ctx.replies.append(Reply(
            _("Chart: the units under {name}").format(name=esc(r.scope_name)), separate=True,
            attachment=media.attachment("chart", actor=ctx.actor, unit_code=r.scope_code,
                                        phase_code=r.phase.code, locale=ctx.locale,
                                        mode="children")))
    options = [(shorten(row.unit.name, LABEL_MAX),
                f"open|{row.unit.code}|{r.phase.code}") for row in r.rows]
    options.append((_("‹ Close"), "close"))
    ctx.ask(ranking_text(r, locale=ctx.locale, authors=authors), options)
    return Next(STEP)


def send_report(ctx: Ctx, unit: str | None, phase: str | None) -> Result:
    _ = ctx._
    if not may_report(ctx.conn, ctx.actor):
        return home(_("Reports are for chairs and support teams: /tiendo shows your union's "
                      "figures."))
    p = ps.progress(conn=ctx.conn, actor=ctx.actor, now=ctx.now, unit_code=unit,
                    phase_code=phase)
    if isinstance(p, ps.Refused):
        return refusal(ctx, p, unit, phase)
    rows = p.unit.registered + p.unit.invalid + p.unit.withdrawn
    if rows > CHAT_REPORT_MAX:
        return home(_("The report of {name} would hold {n} initiatives: too large to send in "
                      "a chat. It is written on the server with «sangkien report {code}».")
                    .format(name=esc(p.unit.name), n=number(rows, ctx.locale),
                            code=esc(p.unit.code)))
    ctx.replies.append(Reply(
        _("Progress report of {name}, phase {phase}: sheet 1 the units below with a total, "
          "sheet 2 every initiative.").format(name=esc(p.unit.name), phase=esc(p.phase.code)),
        separate=True, attachment=media.attachment(
            "report", actor=ctx.actor, unit_code=p.unit.code, phase_code=p.phase.code,
            locale=ctx.locale)))
    return home()


class ProgressView(Step):
    """The options under /tiendo and /bangxephang. The message itself is drawn by whoever
    moved here (`render_progress_view`, `show_ranking`); asked again (after /trogiup, or a
    stray text) it says only the error, and the options on screen stay answerable."""

    name = STEP

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        if error:
            ctx.say(error)
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        what, *rest = value.split("|")
        unit = rest[0] if rest else None
        phase = rest[1] if len(rest) > 1 else None
        if what == "open":
            return show_progress(ctx, unit, phase, back=rest[2] if len(rest) > 2 else None)
        if what == "page":
            page = int(rest[2]) if len(rest) > 2 and rest[2].isdigit() else 0
            return show_progress(ctx, unit, phase, page=page, chart=False)
        if what == "rank":
            return show_ranking(ctx, unit, phase)
        if what == "report":
            return send_report(ctx, unit, phase)
        return home()


def tiendo(ctx: Ctx, args: str) -> Result:
    p, unit, phase = lookup(ctx, args)
    if isinstance(p, ps.Refused):
        return refusal(ctx, p, unit, phase)
    return render_progress_view(ctx, p, page=0, chart=True)


def bangxephang(ctx: Ctx, args: str) -> Result:
    return show_ranking(ctx, *split_args(ctx, args))


def baocao(ctx: Ctx, args: str) -> Result:
    p, unit, phase = lookup(ctx, args)
    if isinstance(p, ps.Refused):
        return refusal(ctx, p, unit, phase)
    return send_report(ctx, p.unit.code, p.phase.code)


FLOW = Flow(
    name="progress",
    steps=(ProgressView,),
    transitions=TRANSITIONS,
    commands=(
        command("progress", tiendo, opens=(STEP,), words=("tiendo", "progress"),
                label=N_("Progress")),
        command("ranking", bangxephang, opens=(STEP,), words=("bangxephang", "ranking"),
                label=N_("Ranking")),
        command("report", baocao, words=("baocao", "report"), label=N_("Report (Excel)")),
    ),
)
