"""What a trial of the product as its users would use it found, each kept fixed: a worker
typing command words with spaces, a chair's campaign left at its preview, the placeholders
shown as they are typed, a date written day first, /tiendo with a phase it does not know or
typed without accents, /huy before anything was typed, one rounding of a percentage, import
problems naming the file's columns, `campaign create --lang en`, /xem by the public code, a
chair of two unions."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection

from bot.core import Core
from storage import targets
from storage.engine import utcnow
from tests.driver import Chat
from tests.test_people import invite


async def chair(core: Core, user: str = "c1", unit: str = "BPC-PR") -> Chat:
    chat = Chat(core, user)
    await chat.say(await invite(core, "chair", unit))
    await chat.say("/ngonngu")
    await chat.press("English")
    return chat


async def to_campaign_text(chat: Chat) -> str:
    await chat.say("/chiendich")
    await chat.press("New campaign")
    await chat.press("Every member")
    await chat.press("Skip")     # the bloc
    await chat.press("Skip")     # the cluster
    return await chat.say("25/12/2030 08:00")


async def test_a_campaign_left_at_its_preview_is_confirmed_or_dropped_later(core: Core) -> None:
    chat = await chair(core)
    asked = await to_campaign_text(chat)   # a date as written in Vietnam: day first
    assert "Type the message" in asked
    assert "{ten} name" in asked and "{{" not in asked     # the placeholders as typed
    preview = await chat.say("Hello {ten}")
    assert "Preview" in preview and "once, 25/12/2030 08:00" in preview
    await chat.say("/huy")                  # left at the preview: a draft campaign
    await chat.say("/chiendich")
    await chat.press("#1")
    assert "draft" in chat.last.replies[-1].text
    assert "Preview and confirm" in chat.labels()
    again = await chat.press("Preview and confirm")
    assert "Preview" in again and chat.labels() == ["Confirm", "Cancel"]
    done = await chat.press("Confirm")
    assert "Confirmed: campaign #1 is scheduled." in done

    await to_campaign_text(chat)
    await chat.say("Another one")
    await chat.say("/huy")
    await chat.say("/chiendich")
    await chat.press("#2")
    dropped = await chat.press("Cancel the campaign")
    assert "Campaign #2 is now cancelled." in dropped


async def phases(core: Core) -> None:
    """A phase holding today whose code has a space, and an older one."""
    today = date.today()
    async with core.engine.begin() as conn:
        await conn.run_sync(lambda c: targets.save_phase(
            c, code="GĐ demo", starts_on=today - timedelta(days=10),
            ends_on=today + timedelta(days=10)))
        await conn.run_sync(lambda c: targets.save_phase(
            c, code="GĐ1", starts_on=date(2022, 1, 8), ends_on=date(2022, 5, 31)))


async def test_progress_names_a_phase_it_does_not_know(core: Core) -> None:
    await phases(core)
    chat = await chair(core)
    unknown = await chat.say("/tiendo BPC-PR GD9")      # not the current phase, silently
    assert "No phase is called «GD9». The phases: " in unknown
    assert "GĐ demo" in unknown and "GĐ1" in unknown and "Progress:" not in unknown
    assert "No phase is called «GD 9»" in await chat.say("/bangxephang BPC-PR-001 GD 9")
    assert "No phase is called «gd9»" in await chat.say("/baocao BPC-PR gd9")
    # A phase's code with a space, typed without accents, with or without the unit.
    for typed in ("/tiendo gd demo", "/tiendo BPC-PR-001 gd demo", "/tiendo gd demo BPC-PR-001",
                  "tien do gd demo"):
        shown = await chat.say(typed)
        assert "Phase GĐ demo:" in shown, (typed, shown)
    assert "Phase GĐ1:" in await chat.say("/tiendo GD1 BPC-PR")
    assert "No union has the code «XYZ»" in await chat.say("/tiendo XYZ GD1")


async def test_command_words_with_their_spaces_at_home(core: Core) -> None:
    """A worker types a command as it is said, with its spaces: "sang kien", "cua toi"."""
    chat = Chat(core, "w1")
    await chat.onboard()
    assert "Step 1 of 9" in await chat.say("sang kien")
    await chat.say("Máy ép mía cải tiến chạy điện")
    await chat.say("huy")
    assert "/new" in await chat.say("Tro giup")            # the help lists the commands
    assert "/drafts" in chat.text_of(chat.last)
    mine = await chat.say("Cua toi")
    assert "You have not submitted any initiative yet." in mine     # /cuatoi's answer
    assert "What would you like to do?" in await chat.say("hello there")   # not a command


async def test_an_imported_initiatives_history_says_so_in_the_users_language(core: Core) -> None:
    from bot import initiative_files

    data = ("mã;tên sáng kiến;tác giả;mã cđcs;trạng thái;ngày gửi\r\n"
            "SK-900001;Máy hàn cải tiến;Nguyễn Văn A;BPC-PR-001;đang xem xét;12/11/2026\r\n")
    await initiative_files.import_initiatives(core.engine, data.encode(), now=utcnow())
    chat = Chat(core, "s1")
    await chat.say(await invite(core, "support", "BPC-PR"))
    shown = await chat.say("/xem SK-900001")
    assert "nhập từ tệp" in shown and "[nhập" not in shown and "Từ Tệp" not in shown
    await chat.say("/ngonngu")
    await chat.press("English")
    assert "under review · imported from a file" in await chat.say("/view SK-900001")


async def test_an_initiative_typed_short_or_unknown(core: Core) -> None:
    from bot import initiative_files

    data = ("mã;tên sáng kiến;tác giả;mã cđcs;trạng thái;ngày gửi\r\n"
            "SK-000241;Máy hàn cải tiến;Nguyễn Văn A;BPC-PR-001;đang xem xét;12/11/2026\r\n")
    await initiative_files.import_initiatives(core.engine, data.encode(), now=utcnow())
    chat = Chat(core, "s1")
    await chat.say(await invite(core, "support", "BPC-PR"))
    for typed in ("SK-000241", "sk-000241", "SK241", "sk-241"):
        assert "SK-000241 · Máy hàn cải tiến" in await chat.say(f"/xem {typed}"), typed
    unknown = await chat.say("/xem SK-999999")
    assert "Không có sáng kiến nào mang mã «SK-999999»" in unknown
    assert "Bạn hãy ghi kèm mã" not in unknown
    assert "Bạn hãy ghi kèm mã sáng kiến" in await chat.say("/xem")
    assert "«SK-999999»" in await chat.say("/hople SK-999999")


async def test_registered_for_a_name_typed_in_lower_case(core: Core) -> None:
    """The summary names the worker as the author line does: «Trần Thị Hoa» both times."""
    from tests.test_people import behalf_to_summary

    helper = Chat(core, "helper")
    await helper.say(await invite(core, "support", "BPC-PR"))
    await helper.say("/ngonngu")
    await helper.press("English")
    await helper.say("/khaiho")
    await helper.say("trần thị hoa")
    await helper.say("0912.345.678")
    await helper.say("cao su phu rieng")
    await helper.press("(demo)")
    seen = await behalf_to_summary(helper)
    assert "Registered for: Trần Thị Hoa," in seen and "Authors: Trần Thị Hoa" in seen


async def test_the_union_asked_from_the_summary_has_a_way_back(core: Core) -> None:
    from tests.test_fuzz import to_step

    chat = Chat(core, "w1")
    await chat.say("/start")
    await chat.press("English")
    await chat.press("Skip for now")        # no grassroots union yet
    await chat.press("Use")
    await to_step(chat, "unit")             # the receiving union is asked
    await chat.say("phu rieng")
    await chat.press("Phú Riềng")
    await chat.press("Skip")                # no attachments: the summary
    asked = await chat.press("Submit")      # the union is needed: asked
    assert "Which grassroots union" in asked
    back = await chat.press("Back to the summary")
    assert "Submit it?" in back and "Keep as draft" in chat.labels()
    await chat.press("Edit")
    await chat.press("Your grassroots union")
    await chat.say("cao su phu rieng")
    await chat.press("(demo)")
    await chat.press("Edit")
    await chat.press("Your grassroots union")
    assert "Keep as it is" in chat.labels()   # changing it: keep what it was
    kept = await chat.press("Keep as it is")
    assert "Submit it?" in kept and "Cao su Phú Riềng" in kept


async def test_the_ranking_of_a_grassroots_union_is_its_clusters(core: Core) -> None:
    """Opened from the chair's ranking, a grassroots union (nothing below it) is ranked in
    its emulation cluster, itself marked, not "no units to rank"."""
    await phases(core)
    chat = await chair(core)
    shown = await chat.say("/bangxephang BPC-PR-001")
    assert "Cụm thi đua số 1 (Phú Riềng)" in shown, shown
    assert "Hạt điều Long Hà" in shown and "Cao su Phú Riềng" in shown
    assert "Trường THCS Bù Nho" not in shown           # cluster 2


async def test_the_preview_says_when_quiet_hours_hold_the_sending(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """QUIET_HOURS 21:00-07:00 (the default): a campaign at 22:00 is written at 07:00."""
    monkeypatch.setenv("QUIET_HOURS", "21:00-07:00")
    chat = await chair(core)
    await chat.say("/chiendich")
    await chat.press("New campaign")
    await chat.press("Every member")
    await chat.press("Skip")
    await chat.press("Skip")
    await chat.say("25/12/2030 22:00")
    preview = await chat.say("Good evening {ten}")
    assert "Quiet hours: the messages are written at 26/12/2030 07:00" in preview, preview
    # The chair's district has no member using the bot yet: nobody, and no time to send.
    assert "Recipients: 0\n" in preview and "time to send" not in preview
    await chat.press("Cancel")
    await chat.press("New campaign")
    await chat.press("Every member")
    await chat.press("Skip")
    await chat.press("Skip")
    await chat.say("25/12/2030 10:00")
    assert "Quiet hours" not in await chat.say("Good morning {ten}")


async def returned_initiative(core: Core) -> tuple[Chat, str]:
    """A worker submits an initiative and the support team returns it for revision: the
    worker's chat and the initiative's code."""
    from tests.test_fuzz import to_summary

    worker = Chat(core, "w1")
    await worker.onboard()
    await to_summary(worker)
    submitted = await worker.press("Submit")
    code = next(w.strip(".") for w in submitted.split() if w.startswith("SK-"))
    support = Chat(core, "s1")
    await support.say(await invite(core, "support", "BPC-PR"))
    await support.say(f"/bosung {code} please add the figures")
    return worker, code


async def test_discarding_a_revision_says_the_initiative_stays(core: Core) -> None:
    """Editing an initiative returned for revision, «Discard» read as deleting it."""
    worker, code = await returned_initiative(core)
    await worker.say(f"/suasangkien {code}")
    assert "Discard the changes" in worker.labels() and "Discard" not in worker.labels()
    asked = await worker.press("Discard the changes")
    assert f"{code} stays as it was, returned for revision" in asked
    done = await worker.press("Yes, discard them")
    assert f"Changes discarded: {code} is as it was." in done
    assert "needs revision" in await worker.say(f"/xem {code}")


async def test_a_new_initiative_mentions_the_draft_left_half_way(core: Core) -> None:
    """Back after leaving mid-way, a worker types /sangkien again (not /nhap)."""
    chat = Chat(core, "w1")
    await chat.onboard()
    first = await chat.say("/sangkien")
    assert "unfinished draft" not in first
    await chat.say("Máy ép mía cải tiến chạy điện")
    await chat.say("/huy")
    again = await chat.say("/sangkien")
    assert ("You have an unfinished draft, «Máy ép mía cải tiến chạy điện»: type /nhap to go "
            "on with it.") in again and "Step 1 of 9" in again


async def test_campaign_numbers_typed_with_their_unit_without_accents(core: Core) -> None:
    chat = await chair(core)
    for typed, days in (("7 ngay", 7), ("10 ngày", 10), ("5 days", 5)):
        await chat.say("/chiendich")
        await chat.press("New campaign")
        await chat.press("draft untouched")
        asked = await chat.say(typed)
        assert "Only one bloc?" in asked, (typed, asked)
        await chat.press("Skip")
        await chat.press("Skip")
        await chat.say("25/12/2030 10:00")
        preview = await chat.say("Finish it, {ten}")
        assert f"{days} days" in preview, preview
        await chat.press("Cancel")
    await chat.say("/chiendich")
    await chat.press("New campaign")
    await chat.press("behind their target")
    assert "Only one bloc?" in await chat.say("40 phan tram")
    await chat.say("/chiendich")
    await chat.press("New campaign")
    await chat.press("draft untouched")
    assert "Type a number of days" in await chat.say("-5")


async def test_withdrawing_a_returned_initiative_says_why_not(core: Core) -> None:
    """It said «SK-… is already needs revision: nothing was changed»."""
    worker, code = await returned_initiative(core)
    said = await worker.say(f"/withdraw {code}")
    assert f"{code} is needs revision: only an initiative under review can be withdrawn." in said
    assert "already" not in said


async def test_cancelled_before_anything_was_typed_leaves_no_draft(core: Core) -> None:
    """/huy at the first question of /sangkien (or /khaiho): nothing to keep, no empty
    «(untitled)» draft under /nhap; a draft with an answer stays, as /huy promises."""
    chat = Chat(core, "w1")
    await chat.onboard()
    await chat.say("/sangkien")
    stopped = await chat.say("/huy")
    assert "Stopped." in stopped and "/nhap" not in stopped, stopped
    assert "You have no drafts." in await chat.say("/nhap")
    helper = Chat(core, "s1")
    await helper.say(await invite(core, "support", "BPC-PR"))
    await helper.say("/ngonngu")
    await helper.press("English")
    await helper.say("/khaiho")
    assert "/nhap" not in await helper.say("/huy")
    assert "You have no drafts." in await helper.say("/nhap")

    await chat.say("/sangkien")
    await chat.say("Máy ép mía cải tiến chạy điện")
    kept = await chat.say("/huy")
    assert "«Máy ép mía cải tiến chạy điện» is saved: type /nhap" in kept, kept
    await chat.say("/nhap")
    assert chat.labels()[0].startswith("Máy ép mía cải tiến chạy điện · at: ")
    assert len(chat.labels()) == 2           # that draft, and «Close»


async def test_a_percentage_reads_the_same_in_the_bar_and_the_forecast(core: Core) -> None:
    """5 of a target of 8 and no pace: 62.5% reached and forecast. The bar said «62%» (Python's
    round, half to even) beside «62.5% of the target» (Babel): one rule now, Babel's."""
    from tests.test_progress import add, set_targets

    today = date.today()

    def setup(conn: Connection) -> None:
        set_targets(conn, "GĐ demo", today - timedelta(days=40), today + timedelta(days=20),
                    [("BPC-PR-001", None, "count", "8")])
        add(conn, grassroots="BPC-PR-001", status="valid", day=today - timedelta(days=30), n=5)

    async with core.engine.begin() as conn:
        await conn.run_sync(setup)
    chat = await chair(core)
    shown = await chat.say("/tiendo BPC-PR-001")
    assert "▓▓▓▓▓▓░░░░ 62.5% of 8 (5 registered)" in shown, shown
    assert "forecast at the end: 5 (62.5% of the target 8)" in shown, shown
    await chat.say("/ngonngu")
    await chat.press("Tiếng Việt")
    shown = await chat.say("/tiendo BPC-PR-001")
    assert "62,5% của 8" in shown and "(62,5% của chỉ tiêu 8)" in shown, shown


async def test_a_phase_typed_without_accents_in_any_case(core: Core) -> None:
    """«gd2», «GD2», «gđ2» are GĐ2 in /tiendo, /bangxephang and /baocao; once a phase GD2
    exists as well, an exact code is that phase and «gd2» is refused, naming both."""
    today = date.today()
    async with core.engine.begin() as conn:
        await conn.run_sync(lambda c: targets.save_phase(
            c, code="GĐ1", starts_on=date(2022, 1, 8), ends_on=date(2022, 5, 31)))
        await conn.run_sync(lambda c: targets.save_phase(
            c, code="GĐ2", starts_on=today - timedelta(days=10),
            ends_on=today + timedelta(days=10)))
    chat = await chair(core)
    for typed in ("gd2", "GD2", "gđ2", "Gd2"):
        assert "Phase GĐ2:" in await chat.say(f"/tiendo BPC-PR {typed}"), typed
    assert "Phase GĐ1:" in await chat.say("/tiendo gd1 BPC-PR")
    assert "Phase GĐ2 ·" in await chat.say("/bangxephang BPC-PR gd2")
    assert "Progress report of LĐLĐ huyện Phú Riềng, phase GĐ2" in await chat.say(
        "/baocao BPC-PR gd2")

    async with core.engine.begin() as conn:
        await conn.run_sync(lambda c: targets.save_phase(
            c, code="GD2", starts_on=date(2023, 1, 1), ends_on=date(2023, 5, 31)))
    assert "Phase GĐ2:" in await chat.say("/tiendo BPC-PR GĐ2")      # the exact code first
    assert "Phase GD2:" in await chat.say("/tiendo BPC-PR GD2")
    for typed in ("/tiendo BPC-PR gd2", "/bangxephang gd2 BPC-PR", "/baocao BPC-PR gđ2"):
        refused = await chat.say(typed)
        assert "could be more than one phase: GD2, GĐ2. Type the phase's code as it is " \
               "written, with its accents." in refused, (typed, refused)
        assert "Progress" not in refused and "GĐ1" not in refused
    await chat.say("/ngonngu")
    await chat.press("Tiếng Việt")
    assert "«gd2» có thể là nhiều giai đoạn: GD2, GĐ2." in await chat.say("/tiendo gd2")


def test_a_phase_typed_without_accents_at_the_command_line(tmp_path: Path) -> None:
    """`sangkien report --phase gd1` is GĐ1; with GD2 beside the demo's GĐ2, «gd2» is
    refused by `report` and `snapshot`, naming both, in the default language."""
    from tests.test_cli import sangkien

    assert sangkien(tmp_path, "initdb").returncode == 0
    done = sangkien(tmp_path, "report", "BPC-PR", "--phase", "gd1", "-o", "r.xlsx")
    assert done.returncode == 0 and "(BPC-PR, phase GĐ1)" in done.stdout, done.stderr
    (tmp_path / "t.csv").write_text("unit_code,phase,starts_on,ends_on,bloc,kind,value,note\n"
                                    "BPC-PR,GD2,2024-01-01,2024-05-31,,count,10,\n")
    assert sangkien(tmp_path, "targets", "import", "t.csv").returncode == 0
    done = sangkien(tmp_path, "report", "BPC-PR", "--phase", "GD2", "-o", "r.xlsx")
    assert "(BPC-PR, phase GD2)" in done.stdout, done.stderr
    refused = sangkien(tmp_path, "report", "BPC-PR", "--phase", "gd2", language=None)
    assert refused.returncode == 1 and not list(tmp_path.glob("*.part"))
    assert "«gd2» có thể là nhiều giai đoạn: GĐ2, GD2" in refused.stderr, refused.stderr
    unknown = sangkien(tmp_path, "report", "BPC-PR", "--phase", "gd9")
    assert "no phase is called «gd9»; the phases: GĐ1, GĐ2, GD2" in unknown.stderr
    frozen = sangkien(tmp_path, "snapshot", "--phase", "gd2")
    assert frozen.returncode == 1 and "«gd2» could be more than one phase: GĐ2, GD2." \
        in frozen.stderr, frozen.stderr
    assert sangkien(tmp_path, "snapshot", "--phase", "gd1").stdout == "Phases frozen: 1.\n"


def test_import_problems_name_the_columns_as_the_file_does(tmp_path: Path) -> None:
    """A Vietnamese administrator read «thiếu cột «ends_on»», «ở cột «submitted_on»»: a column
    of the file is named as its header writes it, a missing one in the reader's language —
    by a name the import accepts."""
    import re

    from tests.test_cli import sangkien

    def imported(kind: str, text: str, *extra: str) -> str:
        (tmp_path / "f.csv").write_text(text, encoding="utf-8")
        done = sangkien(tmp_path, kind, "import", "f.csv", *extra, language=None)
        return done.stderr if done.returncode else ""

    assert sangkien(tmp_path, "initdb").returncode == 0
    said = imported("targets", "Mã đơn vị;Giai đoạn;Từ ngày;Loại;Giá trị\n"
                               "BPC-PR;GĐ5;2030-01-01;số lượng;10\n")
    assert "Dòng 1: thiếu cột «đến ngày»" in said and "ends_on" not in said, said
    said = imported("targets", "Mã đơn vị;Giai đoạn;Từ ngày;Đến ngày;Loại;Giá trị\n"
                               "BPC-PR;GĐ5;32/13/2030;2030-05-31;số lượng;10\n"
                               "BPC-PR;GĐ5;2030-01-01;2030-05-31;số lượng;1\x01\n")
    assert "Dòng 2: ngày «32/13/2030» ở cột «Từ ngày» không hợp lệ" in said, said
    assert "Dòng 3: giá trị ở cột «Giá trị» chứa ký tự điều khiển (U+0001)" in said, said
    said = imported("initiatives", "Tên sáng kiến;Tác giả;Mã CĐCS;Trạng thái;Ngày gửi\n"
                                   "Máy hàn;Nguyễn Văn A;BPC-PR-001;hợp lệ;99/99/2022\n")
    assert "ngày «99/99/2022» ở cột «Ngày gửi» không hợp lệ" in said, said
    said = imported("initiatives", "Tên sáng kiến;Tác giả;Trạng thái\n")
    assert "Dòng 1: thiếu cột «ngày gửi»" in said, said

    header = "mã;tên;loại"
    said = imported("units", f"{header}\nX1;Công đoàn X;cdcs\n")
    named = re.findall(r"thiếu cột «([^»]+)»", said)
    assert named == ["mã đơn vị cấp trên", "khối", "số đoàn viên"], said
    # Named so that the administrator can add them as they are: the file is taken then.
    header = ";".join(["mã", "tên", "loại", *named])
    assert imported("units", f"{header}\nX1;Công đoàn X;cdcs;BPC-PR;;5\n") == ""
    said = imported("units", f"{header}\nX2;Công\x01 đoàn;cdcs;BPC-PR;;5\n")
    assert "Dòng 2: giá trị ở cột «tên» chứa ký tự điều khiển (U+0001)" in said, said
    said = imported("units", "mã;tên;loại\nX1;Công đoàn X;cdcs\n", "--lang", "en")
    assert "Line 1: missing column «parent_code»" in said, said


def test_campaign_create_writes_numbers_and_dates_for_the_language_chosen(
        tmp_path: Path) -> None:
    """`campaign create --lang en` wrote «1.234 messages queued» (Vietnamese grouping):
    every number and date of its output was formatted for "vi" whatever --lang said."""
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine

    from tests import campaign_data as data

    def sangkien(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
               "TELEGRAM_BOT_TOKEN": "", "ZALO_BOT_TOKEN": "", "DEFAULT_LANGUAGE": "vi",
               "QUIET_HOURS": "", "CAMPAIGN_BATCH": "500"}
        return subprocess.run([sys.executable, "-m", "bot", *args], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    assert sangkien("initdb").returncode == 0
    engine = create_engine(f"sqlite:///{tmp_path}/cli.db")
    with engine.begin() as conn:
        world = data.generate(conn, now=utcnow(), n=1500)
    want = len(data.expected(world, data.subtree_codes_of(engine, "VN"), "members"))
    engine.dispose()
    assert want >= 1000
    made = sangkien("campaign", "create", "--lang", "en", "--unit", "VN", "--audience",
                    "members", "--text", "Hello {name}", "--now")
    assert made.returncode == 0, made.stderr
    assert f"{want:,} messages queued" in made.stdout, made.stdout          # 1,234
    assert f"{want:,}/{want:,} (100%)" in made.stderr
    assert "Sendings 1/1." in sangkien("campaign", "show", "--lang", "en", "1").stdout
    shown = sangkien("campaign", "show", "1").stdout       # Vietnamese: 1.234
    assert f"{want:,}".replace(",", ".") in shown and f"{want:,}" not in shown, shown
    later = sangkien("campaign", "create", "--lang", "en", "--unit", "VN", "--audience",
                     "members", "--text", "Hi", "--at", "2030-12-25 08:00")
    assert "First sending: 25/12/2030 08:00." in later.stdout, later.stdout


async def test_an_initiative_is_named_by_its_code_never_by_its_row_number(core: Core) -> None:
    """/xem 241 is SK-000241. It was the initiative stored at row 241 (the database's id): an
    imported code of another form could be reached by its row number, and any initiative
    by counting. Scope stays: a worker guessing a number sees nothing of another's."""
    from sqlalchemy import select

    from bot import initiative_files
    from storage.models import initiative_t
    from tests.test_flow import TITLE
    from tests.test_fuzz import to_summary

    data = ("mã;tên sáng kiến;tác giả;mã cđcs;trạng thái;ngày gửi\r\n"
            "HN-0007;Máy cắt cỏ cầm tay;Trần Văn B;BPC-PR-001;hợp lệ;10/11/2026\r\n"
            "SK-000241;Máy hàn cải tiến;Nguyễn Văn A;BPC-PR-001;đang xem xét;12/11/2026\r\n")
    await initiative_files.import_initiatives(core.engine, data.encode(), now=utcnow())
    async with core.engine.connect() as conn:
        row = (await conn.execute(select(initiative_t.c.id)
                                  .where(initiative_t.c.code == "HN-0007"))).scalar_one()
    support = Chat(core, "s1")
    await support.say(await invite(core, "support", "BPC-PR"))
    assert "SK-000241 · Máy hàn cải tiến" in await support.say("/xem 241")
    assert "HN-0007 · Máy cắt cỏ cầm tay" in await support.say("/xem HN-0007")
    by_row = await support.say(f"/xem {row}")
    assert "Máy cắt cỏ" not in by_row and f"«SK-{row:06d}»" in by_row, by_row

    author = Chat(core, "w1")
    await author.onboard()
    await to_summary(author)
    submitted = await author.press("Submit")
    code = next(w.strip(".") for w in submitted.split() if w.startswith("SK-"))
    number = str(int(code.removeprefix("SK-")))
    assert f"{code} · " in await author.say(f"/view {number}")
    other = Chat(core, "w2")
    await other.onboard("BPC-KCN-001")
    for typed in (number, code, f"sk{number}"):
        seen = await other.say(f"/view {typed}")
        assert "You are not allowed to do that for this initiative." in seen, (typed, seen)
        assert TITLE not in seen


async def test_a_chair_of_two_unions_sees_each_thing_once(core: Core) -> None:
    """A chair of LĐLĐ huyện Phú Riềng and of a grassroots union under it: /hoso names both
    roles, /moi offers a code for each union and lists each member of their teams once (one
    the chair invited is in both «the team of a union chaired» and «invited by the chair»),
    /choduyet lists an initiative in both unions once, /tiendo opens the first union."""
    from tests.test_fuzz import to_summary

    boss = await chair(core)                                    # BPC-PR, in English
    assert "now chair of" in await boss.say(await invite(core, "chair", "BPC-PR-001"))
    profile = await boss.say("/hoso")
    assert profile.count("Role: chair of") == 2, profile
    await boss.say("/moi")
    new = [label for label in boss.labels() if label.startswith("New invite code: ")]
    assert new == ["New invite code: LĐLĐ huyện Phú Riềng",
                   "New invite code: CĐCS Công ty TNHH Cao su Phú Riềng (demo)"], new
    for n, label in enumerate(new):
        given = await boss.press(label)
        code = given.split("code for the support team: ")[1].split()[0]
        assert "Tổ hỗ trợ sáng kiến" in await Chat(core, f"s{n}").say(f"/start {code}")
    by_admin = Chat(core, "s9")                                 # invited at the shell
    await by_admin.say(await invite(core, "support", "BPC-PR-001"))
    team = await boss.say("/moi")
    members = [line for line in team.splitlines() if line.startswith("• ")]
    assert len(members) == 3, team
    assert sum("— support team, LĐLĐ huyện Phú Riềng" in m for m in members) == 1
    assert sum("— support team, CĐCS Công ty TNHH Cao su" in m for m in members) == 2
    assert len([lb for lb in boss.labels() if lb.startswith("Remove ")]) == 3

    worker = Chat(core, "w1")
    await worker.onboard()                                      # BPC-PR-001
    await to_summary(worker)                                    # sent to LĐLĐ Phú Riềng
    submitted = await worker.press("Submit")
    code = next(w.strip(".") for w in submitted.split() if w.startswith("SK-"))
    waiting = await boss.say("/choduyet")
    assert waiting.count(code) == 1, waiting
    assert len([lb for lb in boss.labels() if lb.startswith("SK-")]) == 1
    await phases(core)
    assert "Progress: LĐLĐ huyện Phú Riềng (BPC-PR)" in await boss.say("/tiendo")
