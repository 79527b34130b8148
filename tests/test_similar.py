"""Similar initiatives (storage/similar.py) on both backends: index, lookup, scoring."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import similar
from storage.engine import utcnow
from storage.models import initiative_t, initiative_term_t, person_t, unit_t
from storage.similar import SimilarHit

LATEX = ("Cải tiến máy cạo mủ cao su tại nông trường Phú Riềng",
         "Hiện nay, công nhân cạo mủ cao su bằng dao thủ công, năng suất thấp và vết cạo không "
         "đều. Giải pháp: chế tạo máy cạo mủ chạy pin có cữ định độ sâu, giúp mỗi công nhân "
         "cạo thêm 200 cây mỗi ca.")
# The same initiative typed again by someone else: no accents, reworded, words reordered.
LATEX_AGAIN = ("nong truong Phu Rieng: may cao mu cao su chay pin (cai tien)",
               "Che tao may cao mu cao su chay pin, co cu dinh do sau. Hien nay cong nhan "
               "cao mu bang dao thu cong, vet cao khong deu, nang suat thap; voi may moi "
               "moi cong nhan cao them 200 cay moi ca.")
PACKING = ("Tự động hóa dây chuyền đóng gói hạt điều",
           "Lắp cảm biến đếm và băng tải cấp hộp tự động cho dây chuyền đóng gói hạt điều, "
           "giảm hai lao động mỗi ca và không còn thiếu hụt số lượng trong thùng.")
WAREHOUSE = ("Ứng dụng mã vạch trong kiểm kê kho vật tư",
             "Dán mã vạch cho từng mã vật tư và kiểm kê bằng máy quét cầm tay thay cho sổ "
             "sách, rút ngắn thời gian kiểm kê cuối tháng từ ba ngày còn nửa ngày.")


async def _setup(db: AsyncEngine) -> tuple[int, int, int]:
    """Two unions and a person: (unit, other unit, person)."""
    async with db.begin() as conn:
        units = dict((await conn.execute(
            select(unit_t.c.code, unit_t.c.id).where(unit_t.c.code.in_(["BPC-PR", "BPC"]))
        )).all())
        person = (await conn.execute(insert(person_t).values(
            name="Nguyễn Văn A", created_at=utcnow()).returning(person_t.c.id))).scalar_one()
    return units["BPC-PR"], units["BPC"], person


async def _add(db: AsyncEngine, person: int, unit: int, title: str, description: str,
               status: str = "under_review") -> int:
    """An initiative, inserted and indexed in one transaction as a submission does."""
    async with db.begin() as conn:
        ini = (await conn.execute(insert(initiative_t).values(
            entered_by=person, person_id=person, author_name="Nguyễn Văn A", unit_id=unit,
            title=title, description=description, channel="terminal",
            submitted_at=utcnow(), status=status).returning(initiative_t.c.id))).scalar_one()
        await conn.execute(initiative_t.update().where(initiative_t.c.id == ini)
                           .values(code=f"SK-{ini:06d}"))
        await conn.run_sync(lambda c: similar.index_initiative(
            c, initiative_id=ini, unit_id=unit, title=title, description=description))
    return ini


async def _find(db: AsyncEngine, unit: int, title: str, description: str,
                **kw: Any) -> list[SimilarHit]:
    async with db.connect() as conn:
        return await conn.run_sync(lambda c: similar.find_similar(
            c, unit_id=unit, title=title, description=description, **kw))


# --------------------------------------------------------------------------- text only


def test_terms_are_folded_distinct_capped_and_skip_filler() -> None:
    t = similar.index_terms("Giải pháp cải tiến MÁY CẠO MỦ cao su", "Máy cạo mủ. Cao su tốt.")
    assert t[:4] == ["may", "cao", "mu", "su"]          # the title's words first
    assert "may cao" in t and "cao su" in t            # then word pairs
    assert "mu cao" in t and "su cao" not in t          # no pair across a sentence break
    assert len(t) == len(set(t))
    assert not {"giai", "phap", "cai", "tien", "giai phap"} & set(t)
    assert similar.index_terms("Cải tiến máy cạo mủ", "") == similar.index_terms(
        "cai tien may cao mu", "")
    long = " ".join(f"tu{i} vung{i}" for i in range(100))
    assert len(similar.index_terms(long, long)) == similar.MAX_TERMS
    assert similar.index_terms("", "") == []
    assert similar.index_terms("và của cho", "a b c") == []


def test_folding_matches_textfold() -> None:
    from storage.textfold import fold
    for text in ("Đổi mới quy trình ĐÓNG GÓI – phân xưởng 2!", "Nâng cấp lò hơi (đốt củi)",
                 "e\u0301 combining, Ångström ½ 東京 tiếng Việt"):
        assert " ".join(similar._folded(text).replace("|", " ").split()) == fold(text)


# --------------------------------------------------------------------------- both backends


async def test_near_duplicate_first_unrelated_and_other_unions_left_out(
        db: AsyncEngine) -> None:
    unit, other_unit, person = await _setup(db)
    latex = await _add(db, person, unit, *LATEX)
    await _add(db, person, unit, *PACKING)
    await _add(db, person, unit, *WAREHOUSE)
    elsewhere = await _add(db, person, other_unit, *LATEX)

    hits = await _find(db, unit, *LATEX_AGAIN)
    assert [h.initiative_id for h in hits] == [latex], hits
    assert hits[0].score >= 80, hits
    assert hits[0].code == f"SK-{latex:06d}"
    assert hits[0].title == LATEX[0] and hits[0].status == "under_review"
    # min_score=0 shows everything the index proposed: still not the other union's copy,
    # and the unrelated ones score low.
    every = await _find(db, unit, *LATEX_AGAIN, min_score=0)
    assert elsewhere not in {h.initiative_id for h in every}
    assert all(h.score < 55 for h in every if h.initiative_id != latex), every
    # The other union sees its own copy only.
    assert [h.initiative_id for h in await _find(db, other_unit, *LATEX_AGAIN)] == [elsewhere]


async def test_accents_do_not_matter(db: AsyncEngine) -> None:
    unit, _other, person = await _setup(db)
    ini = await _add(db, person, unit, "Cải tiến máy cạo mủ", "Máy cạo mủ chạy pin.")
    for title, desc in (("cai tien may cao mu", "may cao mu chay pin"),
                        ("CAI TIEN MAY CAO MU", "MAY CAO MU CHAY PIN"),
                        ("Cải tiến máy cạo mủ", "Máy cạo mủ chạy pin.")):
        hits = await _find(db, unit, title, desc)
        assert [(h.initiative_id, h.score) for h in hits] == [(ini, 100.0)]


async def test_exclude_id_and_limit(db: AsyncEngine) -> None:
    unit, _other, person = await _setup(db)
    title, desc = LATEX
    ids = [await _add(db, person, unit, title + suffix, desc)
           for suffix in ("", " năm 2024", " đợt 2", " giai đoạn 2", " (bản sửa)")]
    # A reviewer opening the first one: itself is left out, the rest are its duplicates.
    hits = await _find(db, unit, title, desc, exclude_id=ids[0])
    assert len(hits) == 3
    assert ids[0] not in {h.initiative_id for h in hits}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(await _find(db, unit, title, desc, exclude_id=ids[0], limit=10)) == 4
    assert [h.initiative_id for h in await _find(db, unit, title, desc, limit=1)] == [ids[0]]
    assert await _find(db, unit, title, desc, limit=0) == []


async def test_empty_or_short_text_finds_nothing(db: AsyncEngine) -> None:
    unit, _other, person = await _setup(db)
    await _add(db, person, unit, *LATEX)
    for title, desc in (("", ""), ("a", ""), ("  ", "."), ("của và cho", "là có không"),
                        ("Giải pháp", "Sáng kiến"), ("zz", "qq")):
        assert await _find(db, unit, title, desc) == []
    # An initiative with nothing to index is stored without terms, and lookups still work.
    await _add(db, person, unit, "Sáng kiến", "...")
    assert [h.title for h in await _find(db, unit, *LATEX_AGAIN)] == [LATEX[0]]


async def test_description_only_and_title_only(db: AsyncEngine) -> None:
    unit, _other, person = await _setup(db)
    ini = await _add(db, person, unit, *LATEX)
    assert [h.initiative_id for h in await _find(db, unit, "", LATEX_AGAIN[1])] == [ini]
    assert [h.initiative_id for h in await _find(db, unit, LATEX_AGAIN[0], "")] == [ini]


async def test_reindex_replaces_the_terms(db: AsyncEngine) -> None:
    unit, other_unit, person = await _setup(db)
    ini = await _add(db, person, unit, *PACKING)
    async with db.begin() as conn:
        await conn.execute(initiative_t.update().where(initiative_t.c.id == ini).values(
            title=WAREHOUSE[0], description=WAREHOUSE[1], unit_id=other_unit))
        await conn.run_sync(lambda c: similar.reindex_initiative(
            c, initiative_id=ini, unit_id=other_unit, title=WAREHOUSE[0],
            description=WAREHOUSE[1]))
    async with db.connect() as conn:
        rows = (await conn.execute(select(initiative_term_t.c.unit_id, func.count())
                                   .where(initiative_term_t.c.initiative_id == ini)
                                   .group_by(initiative_term_t.c.unit_id))).all()
    assert [(u, n) for u, n in rows] == [
        (other_unit, len(similar.index_terms(*WAREHOUSE)))]
    assert await _find(db, unit, *PACKING) == []
    assert await _find(db, other_unit, *PACKING) == []
    assert [h.initiative_id for h in await _find(db, other_unit, *WAREHOUSE)] == [ini]


async def test_a_lookup_is_two_statements(db: AsyncEngine) -> None:
    unit, _other, person = await _setup(db)
    for i in range(30):
        await _add(db, person, unit, f"{PACKING[0]} số {i}", PACKING[1])
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.sync_engine, "before_cursor_execute", count)
    try:
        hits = await _find(db, unit, *PACKING)
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", count)
    assert len(hits) == 3 and hits[0].score >= 90
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 2, seen


async def test_common_counts_are_remembered_and_a_new_duplicate_is_found_at_once(
        db: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(similar, "COMMON_COUNT", 5)
    unit, _other, person = await _setup(db)
    for i in range(8):
        await _add(db, person, unit, f"{PACKING[0]} số {i}", PACKING[1])
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    assert len(await _find(db, unit, *PACKING)) == 3   # counts the terms, keeps the common
    event.listen(db.sync_engine, "before_cursor_execute", count)
    try:
        assert len(await _find(db, unit, *PACKING)) == 3
        # Only candidates: every term of the query is common and remembered.
        assert len([s for s in seen if "count(" in s]) == 0, seen
        # A new initiative in the same union: its rare words are counted at once, and a
        # re-typed copy of it is found straight away.
        await _add(db, person, unit, *LATEX)
        hits = await _find(db, unit, *LATEX_AGAIN)
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", count)
    assert hits and hits[0].title == LATEX[0]


@pytest.mark.parametrize("status", ["valid", "needs_revision"])
async def test_any_status_is_shown(db: AsyncEngine, status: str) -> None:
    unit, _other, person = await _setup(db)
    ini = await _add(db, person, unit, *LATEX, status=status)
    hits = await _find(db, unit, *LATEX_AGAIN)
    assert [(h.initiative_id, h.status) for h in hits] == [(ini, status)]
