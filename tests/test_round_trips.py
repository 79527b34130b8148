"""What a guided submission costs in statements.

On PostgreSQL each statement is a round trip: here about 0.2 ms of this process's CPU and
as much again waiting, against a bare echo bot's 0.2 ms per update in all (bench_steps). A
step that starts reading row by row, or reading back what it holds, shows up here at once
instead of as a slow drift in the benchmark. The budgets are today's counts: raise one only
with a reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, event, insert, select, text
from sqlalchemy.engine import Engine

from bot import demo_progress
from bot.core import Core
from storage import queries, submitting
from storage.engine import utcnow
from storage.models import initiative_t, person_t
from storage.models_progress import progress_delta_t
from tests.driver import Chat
from tests.test_flow import rows, to_benefit

# Statements for the whole walk (14 updates), the batches' own included: record the event,
# load and lock the conversation, write it back, keep the replies, mark the last ones sent
# (five a step on PostgreSQL; SQLite also says BEGIN IMMEDIATE), a draft written back.
# Two more than counted here: a sent mark written on its own (its next update came late, on
# a busy machine) costs a statement (SQLite: and its BEGIN).
WALK = {"postgresql": 82 + 2, "sqlite": 103 + 2}
# The submission alone. PostgreSQL: the initiative, its authors, its first event, its
# search terms, the draft's deletion and whom to alert in one statement; then its place in
# the rollups (the chain of unions, read here because this process has not kept it yet;
# then its authors and deltas in one statement, storage/progress_cell.py); and the batch's
# five.
SUBMIT = {"postgresql": 8, "sqlite": 16}


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every statement any engine of this process runs, while inside."""
    seen: list[str] = []
    lock = threading.Lock()

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:  # noqa: ANN001
        with lock:
            seen.append(" ".join(statement.split())[:100])

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def test_a_guided_submission_stays_within_its_statements(core: Core) -> None:
    await demo_progress.seed(core.engine, now=utcnow())   # the rollups are written too
    dialect = core.engine.dialect.name
    chat = Chat(core)
    await chat.onboard()
    await chat.say("/hoso")    # the profile: the name to credit, confirmed before the walk
    await chat.press("Name")
    await chat.say("Nguyễn Văn A")
    per_step: list[tuple[str, int]] = []
    with counting() as seen:
        async def step(what: str, action) -> None:  # noqa: ANN001
            before = len(seen)
            await action
            per_step.append((what, len(seen) - before))

        await step("to benefit", to_benefit(chat))
        for what, action in (("benefit", chat.say("200 triệu")), ("yes", chat.press("Yes")),
                             ("no co-authors", chat.press("No co-authors")),
                             ("search", chat.say("phu rieng")),
                             ("pick", chat.press("Phú Riềng")), ("skip", chat.press("Skip"))):
            await step(what, action)
        submit_at = len(seen)
        seen_text = await chat.press("Submit")
        submit = seen[submit_at:]
    assert "code is" in seen_text, seen_text
    [ini] = await rows(core, select(initiative_t.c.id, initiative_t.c.code).where(
        initiative_t.c.channel != demo_progress.DEMO_CHANNEL))
    assert ini["code"] == f"SK-{ini['id']:06d}"
    assert await rows(core, select(progress_delta_t.c.id)), "counted in the rollups"
    walk = sum(n for _w, n in per_step) + len(submit)
    assert len(submit) <= SUBMIT[dialect], "\n".join(submit)
    assert walk <= WALK[dialect], (walk, per_step, len(submit))


async def test_codes_past_a_million_are_written_as_python_writes_them(core: Core) -> None:
    """PostgreSQL makes the code in the submitting statement itself: past SK-999999 it must
    not be cut to six digits."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes the code from Python (submitting.code_of)")
    async with core.engine.begin() as conn:
        await conn.execute(text(
            "SELECT setval(pg_get_serial_sequence('initiative', 'id'), 999998)"))

        def submit_two(c: Connection) -> list[tuple[int, str]]:
            person = c.execute(select(person_t.c.id).limit(1)).scalar_one_or_none()
            if person is None:
                person = c.execute(insert(person_t).values(name="A", created_at=utcnow())
                                   .returning(person_t.c.id)).scalar_one()
            unit = queries.unit_by_code(c, "BPC-PR")
            out = []
            for title in ("Một", "Hai"):
                draft = queries.create_draft(c, person_id=person, now=utcnow())
                draft.update(title=title, description="Mô tả", unit_id=unit.id,
                             benefit_vnd=None, benefit_known=False)
                out.append(submitting.submit_initiative(
                    c, draft=draft, authors=["A"], author_person_id=person, channel="telegram",
                    now=utcnow(), actor_id=person))
            return out
        made = await conn.run_sync(submit_two)
    assert [(m.id, m.code) for m in made] == [(999_999, "SK-999999"), (1_000_000, "SK-1000000")]
    assert [m.code for m in made] == [submitting.code_of(m.id) for m in made]
