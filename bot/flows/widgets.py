"""Pieces several flows use: the union search, name checks, paged lists, similar initiatives."""

from __future__ import annotations

import re

from bot.conversation import Ctx
from bot.directory import may_be_code
from bot.flows.engine import Result, Step, join, yes_no
from bot.formatting import esc, shorten
from storage import queries, similar

NAME_MIN, NAME_MAX = 2, 128
UNIT_PAGE = 5
_MULTISPACE = re.compile(r"[ \t\u00a0]+")


def one_line(text: str) -> str:
    return _MULTISPACE.sub(" ", " ".join(text.split())).strip()


def name_error(ctx: Ctx, name: str) -> str | None:
    """Why `name` cannot be a person's name (the author, a co-author, the user), or None."""
    if yes_no(name) is not None:
        return ctx._("«{answer}» is not a name: please type the person's full name.").format(
            answer=esc(name))
    if NAME_MIN <= len(name) <= NAME_MAX:
        return None
    return ctx._("A name must be {min}–{max} characters long.").format(min=NAME_MIN,
                                                                       max=NAME_MAX)


def unit_label(name: str, parent: str | None) -> str:
    return shorten(name + (f" · {parent}" if parent else ""), 64)


def keep_option(ctx: Ctx) -> list[tuple[str, str]]:
    """Changing a field from the summary: keep what it was."""
    return [(ctx._("Keep as it is"), "keep")] if ctx.state.editing else []


def page_options(ctx: Ctx, *, page: int, more: bool) -> list[tuple[str, str]]:
    """The buttons under a paged list: newer, older, close."""
    _ = ctx._
    options = [(_("‹ Newer"), "prev")] if page > 0 else []
    if more:
        options.append((_("Older ›"), "next"))
    options.append((_("‹ Close"), "close"))
    return options


def turn_page(ctx: Ctx, value: str) -> bool:
    """Handle "prev"/"next" of a paged list; False when the value is something else."""
    if value not in ("next", "prev"):
        return False
    ctx.state.page = max(0, ctx.state.page + (1 if value == "next" else -1))
    return True


def similar_text(ctx: Ctx, hits: list[similar.SimilarHit]) -> str:
    _ = ctx._
    lines = [_("<b>Similar initiatives sent to this union</b> (possible duplicates):")]
    lines += [_("• {code} «{title}» — {score}% alike").format(
        code=h.code or "—", title=esc(shorten(h.title, 70)), score=round(h.score))
        for h in hits]
    return "\n".join(lines)


class UnitSearch(Step):
    """Find a union by part of its name (accents optional) or its code; pick from a list.

    A step using it says which kind of union (`grassroots`), what to ask, and what to do
    with the union chosen (`chosen`)."""

    grassroots: bool = False
    free_text = True

    @classmethod
    def prompt(cls, ctx: Ctx) -> str:
        raise NotImplementedError

    @classmethod
    def chosen(cls, ctx: Ctx, unit_id: int) -> Result:
        raise NotImplementedError

    @classmethod
    def suggestions(cls, ctx: Ctx) -> list[tuple[str, str]]:
        return []

    @classmethod
    def extra_options(cls, ctx: Ctx) -> list[tuple[str, str]]:
        return keep_option(ctx)

    @classmethod
    def allowed(cls, ctx: Ctx, unit_id: int) -> bool:
        return True

    @classmethod
    def ask(cls, ctx: Ctx, error: str | None = None) -> Result:
        if ctx.state.unit_query and not error:
            return cls.show_results(ctx)
        ctx.state.unit_query = None
        ctx.ask(join(error, cls.prompt(ctx)), [*cls.suggestions(ctx), *cls.extra_options(ctx)])
        return None

    @classmethod
    def text(cls, ctx: Ctx, text: str) -> Result:
        ctx.state.unit_query = shorten(one_line(text), 100)
        ctx.state.unit_page = 0
        return cls.show_results(ctx)

    @classmethod
    def show_results(cls, ctx: Ctx) -> Result:
        _ = ctx._
        query = ctx.state.unit_query or ""
        page = ctx.state.unit_page
        hits, truncated = ctx.units.search(query, grassroots=cls.grassroots)
        exact = (queries.unit_by_code(ctx.conn, query, grassroots=cls.grassroots)
                 if may_be_code(query) else None)
        if exact is not None:
            hits = [exact, *[h for h in hits if h.id != exact.id]]
        if not hits:
            ctx.state.unit_query = None
            return cls.ask(ctx, error=_(
                "I found no union matching «{query}». Try fewer or other words, e.g. the "
                "district or province name."
            ).format(query=esc(query)))
        start = page * UNIT_PAGE
        if start >= len(hits):
            ctx.state.unit_page = page = start = 0
        shown = hits[start:start + UNIT_PAGE]
        options = [(unit_label(h.name, h.parent_name), f"u:{h.id}") for h in shown]
        if start + UNIT_PAGE < len(hits):
            options.append((_("More results ›"), "more"))
        options.append((_("Search again"), "again"))
        head = _("Results for «{query}» ({first}–{last} of {total}{more}):").format(
            query=esc(query), first=start + 1, last=start + len(shown), total=len(hits),
            more="+" if truncated else "")
        ctx.ask(join(head, _("Pick the union, or type other words to search again.")), options)
        return None

    @classmethod
    def choice(cls, ctx: Ctx, value: str) -> Result:
        _ = ctx._
        if value == "more":
            ctx.state.unit_page += 1
            return cls.show_results(ctx)
        if value == "again":
            ctx.state.unit_query = None
            return cls.ask(ctx)
        if value.startswith("u:"):
            unit_id = int(value[2:])
            unit = ctx.units.by_ids([unit_id]).get(unit_id)
            if unit is None:
                return cls.ask(ctx, error=_("That union is no longer in the directory."))
            if not cls.allowed(ctx, unit_id):
                return None
            ctx.state.unit_query = None
            ctx.state.unit_page = 0
            ctx.say(_("Union: <b>{name}</b>").format(name=esc(unit.name)))
            return cls.chosen(ctx, unit.id)
        return super().choice(ctx, value)
