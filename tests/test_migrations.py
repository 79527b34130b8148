"""Migrations: the head equals the models, old databases are adopted with their data, several
processes starting at once migrate once, and `sangkien db` works from any folder."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot import cli
from bot.campaign_schedule import Cap
from bot.campaign_scheduler import Delivery, expand_batch, make_slots
from bot.core import Core
from bot.demo import seed_if_empty
from bot.services import campaigns as svc
from bot.services.actor import Actor
from storage import campaigns as store
from storage import migrate
from storage.engine import make_engine
from tests.conftest import PG_URL, _drop_schema, _new_backend
from tests.driver import Chat

# The revision that renames conversation-state keys: its own conversion, to check the data.
chat_state = importlib.import_module("migrations.versions.0002_chat_state_names")

# Made by tests/fixtures/landed-ebd58da.sh: the version before migrations (commit ebd58da),
# installed in a venv of its own, ran `sangkien initdb`, made a support-team invite for
# LĐLĐ huyện Phú Riềng that `support1` redeemed in `sangkien chat`, then `worker1` onboarded,
# submitted SK-000001 to that union and left a second initiative as a draft at step 3, all
# through `sangkien chat` with a script on standard input; the file was then VACUUMed.
LANDED_DB = Path(__file__).parent / "fixtures" / "landed-ebd58da.db"


def schema_diff(conn: Connection) -> list[object]:
    """What autogenerate would change to reach the models, and every column whose type the
    database writes differently from the models (autogenerate ignores collations)."""
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True})
    diff: list[object] = list(compare_metadata(ctx, SQLModel.metadata))
    insp, ddl = inspect(conn), conn.dialect.type_compiler_instance.process
    for table in SQLModel.metadata.sorted_tables:
        have = {c["name"]: ddl(c["type"]) for c in insp.get_columns(table.name)}
        diff += [("column_type", table.name, c.name, have[c.name], ddl(c.type))
                 for c in table.columns if c.name in have and have[c.name] != ddl(c.type)]
    return diff


def _kind(change: object) -> str:
    # compare_metadata gives a tuple per change, or a list of tuples for a column's changes
    return change[0] if isinstance(change, tuple) else change[0][0]  # type: ignore[index]


async def test_an_empty_database_upgraded_to_head_has_the_models_schema(
        empty_db: AsyncEngine, backend: str) -> None:
    assert await migrate.current(engine=empty_db) is None
    await migrate.upgrade(engine=empty_db)
    assert await migrate.current(engine=empty_db) == migrate.head()
    assert await migrate.at_head(engine=empty_db)
    async with empty_db.connect() as conn:
        assert await conn.run_sync(schema_diff) == []
    # …and the comparison would see a difference.
    breakages = {"DROP INDEX ix_outbox_due": "add_index",
                 "ALTER TABLE person DROP COLUMN alert_mode": "add_column"}
    if backend == "postgres":
        breakages['ALTER TABLE unit_term ALTER COLUMN term TYPE VARCHAR(64) COLLATE "default"'] \
            = "column_type"
    for ddl, kind in breakages.items():
        async with empty_db.connect() as conn:
            await conn.execute(text(ddl))
            assert [_kind(c) for c in await conn.run_sync(schema_diff)] == [kind], ddl
            await conn.rollback()
    await migrate.upgrade(engine=empty_db)   # at the head already: nothing to do
    assert await migrate.at_head(engine=empty_db)


Rows = dict[str, tuple[list[str], list[tuple[object, ...]]]]


def _rows(path: Path, like: Rows | None = None) -> Rows:
    """Every row of every table but Alembic's, read with the standard library; with `like`,
    only its tables and columns (what the file held before the upgrade)."""
    db = sqlite3.connect(path)
    try:
        tables = list(like) if like is not None else [t for (t,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'")]
        out: Rows = {}
        for t in tables:
            cols = like[t][0] if like is not None else \
                [r[1] for r in db.execute(f'PRAGMA table_info("{t}")')]
            rows = db.execute(f'SELECT {", ".join(cols)} FROM "{t}"').fetchall()
            out[t] = (cols, sorted(rows, key=repr))
        return out
    finally:
        db.close()


def upgraded(before: Rows) -> Rows:
    """The landed rows as the revisions leave them: conversation states renamed (0002)."""
    cols, rows = before["account"]
    state = cols.index("state")
    renamed = [(*r[:state], json.dumps(chat_state.convert(json.loads(r[state])),
                                       ensure_ascii=False, sort_keys=True)
                if r[state] != "{}" else "{}", *r[state + 1:]) for r in rows]
    return {**before, "account": (cols, sorted(renamed, key=repr))}


async def test_a_database_made_before_migrations_keeps_its_data_and_users(
        tmp_path: Path) -> None:
    path = tmp_path / "landed.db"
    shutil.copy(LANDED_DB, path)
    before = _rows(path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        assert await migrate.current(engine=engine) is None
        await migrate.upgrade(engine=engine)
        assert await migrate.at_head(engine=engine)
        after = _rows(path, like=before)
        # Every row is kept; conversation states only have their keys renamed (0002).
        assert after == upgraded(before)
        assert after["account"] != before["account"]
        assert len(before["initiative"][1]) == 1 and len(before["draft"][1]) == 1

        core = Core(engine)
        try:
            worker = Chat(core, "worker1")
            await worker.say("/cuatoi")            # mid-draft: offers to go on with it
            assert "SK-000001" in await worker.press("Sáng kiến của tôi")
            await worker.say("/nhap")
            await worker.press("Sơ đồ bố trí kho vật tư")
            assert "Bước 3/9" in await worker.press("Làm tiếp")
            await worker.press("Khác")
            await worker.say("03/2023")
            await worker.press("Đã được công nhận")
            await worker.press("Không tính")
            await worker.press("Không có đồng tác giả")
            await worker.press("Phú Riềng")        # the union used last time
            await worker.press("Bỏ qua")
            assert "SK-000002" in await worker.press("Gửi")
            support = Chat(core, "support1")        # redeemed an invite before the upgrade
            pending = await support.say("/choduyet")
            assert "SK-000001" in pending and "SK-000002" in pending
        finally:
            await core.aclose()
    finally:
        await engine.dispose()


def _older_than_baseline(path: Path) -> Path:
    """The landed database with the search index as it was before `unit_term.grassroots`."""
    shutil.copy(LANDED_DB, path)
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE unit_term; CREATE TABLE unit_term (term VARCHAR(64) NOT NULL, "
        "unit_id INTEGER NOT NULL REFERENCES unit (id), own BOOLEAN NOT NULL, "
        "PRIMARY KEY (term, unit_id));")
    db.close()
    return path


async def test_a_database_older_than_the_baseline_is_refused(tmp_path: Path) -> None:
    """Before `unit_term.grassroots` the version before migrations rebuilt the index at
    start-up; migrations do not: such a database is named and left untouched."""
    path = _older_than_baseline(tmp_path / "older.db")
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(migrate.MigrationError, match="unit_term.grassroots"):
            await migrate.upgrade(engine=engine)
        assert await migrate.current(engine=engine) is None
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A new PostgreSQL schema, empty, dropped afterwards."""
    engine, _url, schema = await _new_backend("postgres", None)
    await engine.dispose()
    try:
        yield schema
    finally:
        await _drop_schema(schema)  # type: ignore[arg-type]


async def test_processes_starting_together_migrate_once(
        pg_schema: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    engines = [make_engine(PG_URL, schema=pg_schema) for _ in range(3)]
    try:
        # (without the lock they would interleave inside Alembic, which is not safe: fail,
        # do not hang)
        await asyncio.wait_for(
            asyncio.gather(*(migrate.upgrade(engine=e) for e in engines)), timeout=30)
        assert all([await migrate.at_head(engine=e) for e in engines])
    finally:
        for e in engines:
            await e.dispose()
    ran = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Running upgrade")]
    revisions = list(ScriptDirectory.from_config(migrate._config()).walk_revisions())
    assert len(ran) == len(set(ran)) == len(revisions), ran


async def test_an_upgrade_waits_for_the_migration_lock(pg_schema: str) -> None:
    engine = make_engine(PG_URL, schema=pg_schema)
    holder = make_engine(PG_URL)
    lock = migrate.lock_id(pg_schema)
    try:
        async with holder.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key, :scope)"), lock)
            await conn.commit()
            task = asyncio.create_task(migrate.upgrade(engine=engine))
            # pg_locks shows the two keys as unsigned
            waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                           "AND NOT granted AND classid::bigint = :key AND objid::bigint = :obj")
            keys = {"key": lock["key"], "obj": lock["scope"] & 0xFFFFFFFF}
            for _ in range(300):
                if await conn.scalar(waiting, keys):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the upgrade did not wait for the lock")
            assert not task.done()
            await conn.execute(text("SELECT pg_advisory_unlock(:key, :scope)"), lock)
            await conn.commit()
            await asyncio.wait_for(task, timeout=30)
        assert await migrate.at_head(engine=engine)
    finally:
        await engine.dispose()
        await holder.dispose()


def test_db_commands_work_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)   # not the project: migrations are found with the package
    shutil.copy(LANDED_DB, tmp_path / "landed.db")
    head = migrate.head()
    for name in ("new.db", "landed.db"):
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / name}")
        assert cli.main(["db", "current"]) == 1
        assert capsys.readouterr().out == f"none (head is {head}: run `sangkien db upgrade`)\n"
        assert cli.main(["db", "upgrade"]) == 0
        assert capsys.readouterr().out == f"upgraded from none to {head} (head)\n"
        assert cli.main(["db", "upgrade"]) == 0
        assert capsys.readouterr().out == f"{head} (head): nothing to do\n"
        assert cli.main(["db", "current"]) == 0
        assert capsys.readouterr().out == f"{head} (head)\n"
    monkeypatch.setenv("DATABASE_URL",
                       f"sqlite+aiosqlite:///{_older_than_baseline(tmp_path / 'older.db')}")
    assert cli.main(["db", "upgrade"]) == 2
    assert "cannot upgrade" in capsys.readouterr().err


WIDEN_CLUSTER = '''
import sqlalchemy as sa
from alembic import op

revision, down_revision = "t1", "{head}"


def upgrade() -> None:
    with op.batch_alter_table("unit", recreate="always") as batch:
        batch.alter_column("cluster", type_=sa.String(length=200))
'''

FAILS = '''
from alembic import op

revision, down_revision = "t1", "{head}"


def upgrade() -> None:
    op.execute("SELECT 1 / 0")
'''

ORPHAN_A_PERSON = '''
from alembic import op

revision, down_revision = "t2", "t1"


def upgrade() -> None:
    op.execute("DELETE FROM unit WHERE code = 'BPC-PR-001'")
'''


@pytest.fixture
def add_revision(tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Run migrations from a copy of migrations/ to which a test adds revisions. A revision
    written to follow "0001" follows the real head instead, whatever revisions came since."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "SCRIPTS", scripts)
    real_head = migrate.head()

    def add(name: str, source: str) -> None:
        """A revision after the real ones ("{head}" in `source` is the newest real one)."""
        (scripts / "versions" / f"{name}.py").write_text(source.replace("{head}", real_head))
        migrate.head.cache_clear()

    try:
        yield add
    finally:
        migrate.head.cache_clear()


async def test_sqlite_revisions_may_rebuild_a_table_others_refer_to(
        tmp_path: Path, add_revision: Callable[[str, str], None]) -> None:
    """SQLite alters a table by copying it and dropping the old one, which enforced foreign
    keys forbid while other tables refer to it: they are lifted for the upgrade, and every
    reference is checked before it commits."""
    add_revision("t1_widen_cluster", WIDEN_CLUSTER)
    path = tmp_path / "landed.db"
    shutil.copy(LANDED_DB, path)
    before = _rows(path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate.upgrade(engine=engine)
        assert await migrate.current(engine=engine) == "t1"
        assert _rows(path, like=before) == upgraded(before)
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1

        add_revision("t2_orphan_a_person", ORPHAN_A_PERSON)
        with pytest.raises(migrate.MigrationError, match="broke foreign keys"):
            await migrate.upgrade(engine=engine)
        assert await migrate.current(engine=engine) == "t1"   # rolled back as a whole
        assert _rows(path, like=before) == upgraded(before)
    finally:
        await engine.dispose()


async def test_a_failed_upgrade_on_postgresql_rolls_back_and_releases_the_lock(
        pg_schema: str, add_revision: Callable[[str, str], None]) -> None:
    add_revision("t1_fails", FAILS)
    engine = make_engine(PG_URL, schema=pg_schema)
    try:
        with pytest.raises(DBAPIError, match="division by zero"):
            await migrate.upgrade(engine=engine)
        assert await migrate.current(engine=engine) is None     # the real ones rolled back too
        held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid::bigint = :key AND objid::bigint = :obj")
        lock = migrate.lock_id(pg_schema)
        async with engine.connect() as conn:
            assert await conn.scalar(
                held, {"key": lock["key"], "obj": lock["scope"] & 0xFFFFFFFF}) == 0
    finally:
        await engine.dispose()



async def test_campaign_rows_queued_before_0740_get_their_slot(
        empty_db: AsyncEngine, backend: str) -> None:
    """0740 keys a campaign's outbox rows by (slot, account): rows queued before, with the
    text key "camp:<campaign>:<slot key>:<account>", get their slot; its downgrade writes the
    text key of rows queued since."""
    await migrate.upgrade(engine=empty_db)
    await seed_if_empty(empty_db)
    now = datetime.now(UTC)
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO person (name, unit_id, onboarded, alert_mode, created_at) "
            "SELECT 'Nguyễn Văn ' || id, id, TRUE, 'instant', CURRENT_TIMESTAMP FROM unit "
            "WHERE kind = 'grassroots'"))
        await conn.execute(text(
            "INSERT INTO account (channel, external_id, chat_id, person_id, locale, step, state,"
            " reachable, created_at, updated_at) SELECT 'telegram', 'm' || id, 'c' || id, id,"
            " 'vi', 'idle', '{}', TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM person"))
        made = await conn.run_sync(lambda c: svc.create(
            conn=c, actor=Actor.shell(), now=now,
            spec=svc.Spec(unit_code="VN", audience="members", text="Chào {ten}", kind="once")))
        assert isinstance(made, svc.Created)
        delivery = Delivery(quiet=None, cap=Cap(9, 9), batch=1000)
        await conn.run_sync(lambda c: make_slots(c, now=now, delivery=delivery))
        await conn.run_sync(lambda c: expand_batch(c, now=now, delivery=delivery))

    def rows(conn: Connection) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(text(
            "SELECT dedupe_key, campaign_slot_id, account_id FROM outbox "
            "WHERE kind = 'campaign'"))]

    async with empty_db.connect() as conn:
        queued = await conn.run_sync(rows)
        slot = (await conn.run_sync(lambda c: store.slots(c, campaign_id=made.campaign_id)))[0]
    assert len(queued) > 1 and {(k, s) for k, s, _a in queued} == {(None, slot["id"])}

    def downgrade(conn: Connection) -> None:
        command.downgrade(migrate._config(conn), "0730")

    async with empty_db.connect() as conn:
        await conn.run_sync(downgrade)
        await conn.commit()
        back = {tuple(r) for r in await conn.execute(text(
            "SELECT dedupe_key, account_id FROM outbox WHERE kind = 'campaign'"))}
    assert back == {(f"camp:{made.campaign_id}:{slot['slot_key']}:{a}", a)
                    for _k, _s, a in queued}
    await migrate.upgrade(engine=empty_db)
    async with empty_db.connect() as conn:
        again = await conn.run_sync(rows)
        counts = await conn.run_sync(lambda c: store.outbox_counts(
            c, campaign_id=made.campaign_id))
    assert {(s, a) for _k, s, a in again} == {(slot["id"], a) for _k, _s, a in queued}
    assert counts == {"pending": len(queued)}
