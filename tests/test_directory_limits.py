"""Hostile directory files: what an import reads is bounded in memory and time, and what it
echoes is cut short.

The memory figures come from a child process running `sangkien units import` (the real
command, on an SQLite file) under an address-space limit, so a regression fails here instead
of eating the machine; the messages and the untouched directory are checked in-process on
SQLite and PostgreSQL (`db`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import cli_units
from bot.config import Settings
from tests.test_directory import HEADER, snapshot

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
COLUMNS = HEADER.strip().split(",")
UNIT = ["N{n}", "CĐCS Công ty số {n}", "", "grassroots", "enterprise", "10", ""]


def xlsx(sheet: Iterable[str], shared: Iterable[str] = (), *, level: int = 6) -> bytes:
    """A minimal workbook, built by hand so a test can put anything in its parts: `sheet` is
    the sheet XML in pieces, `shared` the shared-strings XML in pieces (written as streamed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
            '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.'
            'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sharedStrings+xml"/></Types>'))
        z.writestr("_rels/.rels", (
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{OFFICE}/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        z.writestr("xl/workbook.xml", (
            f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets><sheet name="units" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>'))
        z.writestr("xl/_rels/workbook.xml.rels", (
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{OFFICE}/worksheet" '
            'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
            f'{OFFICE}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(f'<worksheet xmlns="{MAIN}"><sheetData>'.encode())
            for piece in sheet:
                f.write(piece.encode())
            f.write(b"</sheetData></worksheet>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
            f.write(f'<sst xmlns="{MAIN}">'.encode())
            for piece in shared:
                f.write(piece.encode())
            f.write(b"</sst>")
    return buf.getvalue()


def column(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def row(n: int, cells: Iterable[str], *, more: str = "") -> str:
    inline = "".join(f'<c r="{column(i)}{n}" t="inlineStr"><is><t>{v}</t></is></c>'
                     for i, v in enumerate(cells) if v)
    return f'<row r="{n}">{inline}{more}</row>'


def many_parts(data: bytes, copies: int) -> bytes:
    """A workbook whose zip directory lists its first part `copies` more times: a few dozen
    bytes a listing, which `ZipFile` turns into an object of its own each."""
    end = data.rfind(b"PK\x05\x06")
    size = int.from_bytes(data[end + 12:end + 16], "little")
    start = int.from_bytes(data[end + 16:end + 20], "little")
    directory = data[start:start + size]
    first = 46 + sum(int.from_bytes(directory[i:i + 2], "little") for i in (28, 30, 32))
    directory += directory[:first] * copies
    count = (int.from_bytes(data[end + 10:end + 12], "little") + copies) & 0xFFFF
    tail = (data[end:end + 8] + count.to_bytes(2, "little") * 2
            + len(directory).to_bytes(4, "little") + start.to_bytes(4, "little") + b"\0\0")
    return data[:start] + directory + tail


def units_sheet(count: int, *, more: str = "") -> Iterable[str]:
    yield row(1, COLUMNS)
    for n in range(2, count + 2):
        yield row(n, [v.format(n=n) for v in UNIT], more=more.format(n=n))


# --------------------------------------------------------------------------- measuring

CHILD = r"""
import json, os, resource, sys, time
limit = 3 << 30                       # the old reader must fail here, not take the machine
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from bot.cli import main

def status(field):
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith(field + ":")) / 1024

def measure(path):
    try:        # Linux: reset the high-water mark to what is resident now
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base, peak = status("VmRSS"), lambda: status("VmHWM")
    except OSError:     # elsewhere: ru_maxrss, which counts what was resident at the fork
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        base = peak()
    start = time.perf_counter()
    try:
        rc = main(["units", "import", path])
    except MemoryError:
        rc = "MemoryError"
    return {"rc": rc, "seconds": time.perf_counter() - start, "peak_mb": peak() - base}

# The interpreter starts once; each file is imported in a fork of its own, on a database of
# its own, with its stderr in FILE.err and its figures in FILE.json.
for path in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(path + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        os.environ["DATABASE_URL"] = "sqlite+aiosqlite:///" + path + ".db"
        figures = measure(path)
        with open(path + ".json", "w") as f:
            json.dump(figures, f)
        sys.stderr.flush()
        os._exit(0)
    os.waitpid(pid, 0)
"""


def measure(paths: Iterable[Path]) -> dict[str, tuple[dict[str, object], str]]:
    """Import each file with `sangkien units import` in a child process: its exit code, the
    time the command took, how far its peak memory rose above the interpreter's, and its
    stderr, by file name."""
    paths = list(paths)
    env = {**os.environ, "DEFAULT_LANGUAGE": "en"}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, *map(str, paths)], env=env,
                              capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("importing the hostile files took more than 300 s")
    out = {}
    for path in paths:
        figures = Path(f"{path}.json")
        assert figures.exists(), (path.name, done.stderr[-2000:])
        out[path.name] = json.loads(figures.read_text()), Path(f"{path}.err").read_text()
        print(path.name, out[path.name][0])       # the figures, for `pytest -s`
    return out


def hostile_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        # Every row padded to its furthest column used to mean 16,384 cells a row.
        "xfd_values.xlsx": xlsx(units_sheet(
            3000, more='<c r="XFD{n}" t="inlineStr"><is><t>x</t></is></c>')),
        "xfd_styled.xlsx": xlsx(units_sheet(3000, more='<c r="XFD{n}" s="0"/>')),
        # One 200 MB shared string: a 1 MB file that inflates 200-fold (a zip bomb).
        "huge_shared.xlsx": xlsx(
            [row(1, COLUMNS), '<row r="2"><c r="A2" t="s"><v>0</v></c>'
                              '<c r="B2" t="s"><v>0</v></c></row>'],
            ["<si><t>", *("A" * (1 << 20) for _ in range(200)), "</t></si>"], level=1),
        # 400,000 listings of one part in the zip's directory: 26 MB.
        "many_parts.xlsx": many_parts(xlsx(units_sheet(1)), 400_000),
        # One 20 MB shared string, within the size of a real directory: it is read in
        # pieces and never held whole.
        "long_shared.xlsx": xlsx(
            [row(1, COLUMNS), '<row r="2"><c r="A2" t="inlineStr"><is><t>N1</t></is></c>'
                              '<c r="B2" t="s"><v>0</v></c></row>'],
            ["<si><t>", *("Đ" * (1 << 20) for _ in range(10)), "</t></si>"]),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    # A CSV of 100 MB, most of it one line: refused before it is read.
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.write(HEADER.encode() + b"N1,")
        for _ in range(100):
            f.write(b"x" * (1 << 20))
    out["big.csv"] = big
    # A CSV with a 30 MB line, within the size limit: the line is never held whole.
    line = tmp_path / "long_line.csv"
    line.write_bytes(HEADER.encode() + b"N1," + b"x" * (30 << 20) + b",VN,sector,other,1,\n")
    out["long_line.csv"] = line
    return out


# The rise of peak memory allowed: what the interpreter needs to run the command and hold the
# file's bytes (30 MB of long_line.csv), and not per row, nor per column, nor per character
# of a cell.
BOUND_MB = {"xfd_values.xlsx": 40, "xfd_styled.xlsx": 40, "huge_shared.xlsx": 40,
            "many_parts.xlsx": 60, "long_shared.xlsx": 40, "big.csv": 40, "long_line.csv": 50}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def measured(hostile: dict[str, Path]) -> dict[str, tuple[dict[str, object], str]]:
    return measure(hostile[name] for name in BOUND_MB)


@pytest.mark.parametrize("name", list(BOUND_MB))
def test_hostile_files_are_read_in_bounded_memory_and_time(
        name: str, measured: dict[str, tuple[dict[str, object], str]]) -> None:
    figures, err = measured[name]
    assert figures["rc"] in (0, 1), (figures, err[-2000:])
    assert figures["peak_mb"] < BOUND_MB[name], figures
    assert figures["seconds"] < 3, figures
    # Nothing echoed at length: no line of the report is longer than a sentence.
    assert max(map(len, err.splitlines() or [""])) < 300, err[:2000]
    assert len(err) < 64_000


# --------------------------------------------------------------------------- the messages


@pytest.fixture
def units(db: AsyncEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`sangkien units …` in-process on `db`: returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    parser = argparse.ArgumentParser()
    cli_units.add_parser(parser.add_subparsers(dest="command"))

    async def run(*argv: str) -> tuple[int, str, str]:
        rc = await cli_units.run(parser.parse_args(["units", *argv]), db, Settings())
        out, err = capsys.readouterr()
        return rc, out, err

    return run


async def test_hostile_files_are_refused_with_short_line_numbered_reasons(
        db: AsyncEngine, units, hostile: dict[str, Path]) -> None:
    before = await snapshot(db)

    rc, _out, err = await units("import", str(hostile["xfd_values.xlsx"]))
    assert rc == 1
    lines = err.splitlines()
    assert "Too many problems" in lines[1], lines[:3]
    assert lines[2].startswith("  Line 2: more values than columns"), lines[:3]
    assert len(lines) < 600, len(lines)

    rc, _out, err = await units("import", str(hostile["huge_shared.xlsx"]))
    assert rc == 1 and "too large once unpacked" in err, err[:500]

    rc, _out, err = await units("import", str(hostile["many_parts.xlsx"]))
    assert rc == 1 and "cannot be opened (too many parts)" in err, err[:500]

    rc, _out, err = await units("import", str(hostile["long_shared.xlsx"]))
    assert rc == 1 and "Line 2: the value in column «name» is longer than 1000 characters" \
        in err, err[:500]

    rc, _out, err = await units("import", str(hostile["big.csv"]))
    assert rc == 1 and "larger than 64 MB" in err, err[:500]

    rc, _out, err = await units("import", str(hostile["long_line.csv"]))
    assert rc == 1 and "Line 2: this line is longer than" in err, err[:500]
    assert await snapshot(db) == before


async def test_styled_cells_far_right_are_ignored(db: AsyncEngine, units,
                                                  hostile: dict[str, Path]) -> None:
    rc, out, err = await units("import", str(hostile["xfd_styled.xlsx"]))
    assert rc == 0, err[:1000]
    assert "3000 new" in out


async def test_long_values_are_echoed_cut_short(db: AsyncEngine, units, tmp_path: Path) -> None:
    long_kind = "k" * 900
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"N1,CĐ Một,VN,{long_kind},other,1,\n"
                   f"{'C' * 5000},CĐ Hai,VN,sector,other,1,\n"
                   f"N3,CĐ Ba,{'P' * 80},sector,other,{'9' * 70},\n", encoding="utf-8")
    rc, _out, err = await units("import", str(bad))
    assert rc == 1
    lines = err.splitlines()[1:]
    assert lines == [
        "  Line 2: unknown kind «" + "k" * 60 + "…» (expected one of: national, province, "
        "sector, district, industrial_zone, grassroots; or in Vietnamese: quốc gia, tỉnh, "
        "ngành, huyện, khu công nghiệp, cơ sở)",
        "  Line 3: the value in column «code» is longer than 1000 characters",
        "  Line 4: bad member count «" + "9" * 60 + "…»: expected a whole number",
        "  Line 4: unknown parent «" + "P" * 60 + "…»: it is neither in the file nor in the "
        "directory",
    ], lines


async def test_an_xlsx_that_lies_about_its_sizes_is_refused(db: AsyncEngine, units,
                                                           tmp_path: Path) -> None:
    """The zip's directory says a part is small; it inflates to more: reading stops at the
    size it declared and the file is refused as damaged."""
    data = bytearray(xlsx(units_sheet(50)))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    # The central directory's "uncompressed size" of the sheet: cut it to 1,000 bytes.
    at = data.rfind(b"xl/worksheets/sheet1.xml") - 46
    assert data[at:at + 4] == b"PK\x01\x02"
    size = info.file_size.to_bytes(4, "little")
    if data[at + 24:at + 28] == size:
        data[at + 24:at + 28] = (1000).to_bytes(4, "little")
    else:       # zip64: the size is in the extra field
        zip64 = bytes(data).find(info.file_size.to_bytes(8, "little"), at)
        data[zip64:zip64 + 8] = (1000).to_bytes(8, "little")
    path = tmp_path / "liar.xlsx"
    path.write_bytes(bytes(data))
    before = await snapshot(db)
    rc, _out, err = await units("import", str(path))
    assert rc == 1 and "cannot be opened" in err, err[:500]
    assert await snapshot(db) == before


# --------------------------------------------------------------------------- invisible characters


async def test_control_characters_are_line_numbered_problems(db: AsyncEngine, units,
                                                             tmp_path: Path) -> None:
    """A NUL used to import on SQLite and end in a traceback on PostgreSQL."""
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "N1,CĐCS\x00Một,VN,sector,other,1,\n"
                   "N2,CĐCS Hai,VN,sector,other,1,Cụm\x1b[31m đỏ\n"
                   "N\x7f3,CĐCS Ba,VN,sector,other,1,\n"
                   "N4,CĐCS\x0bBốn,VN,sector,other,1,\n", encoding="utf-8")
    before = await snapshot(db)
    rc, _out, err = await units("import", str(bad))
    assert rc == 1, err
    assert err.splitlines()[1:] == [
        "  Line 2: the value in column «name» contains a control character (U+0000)",
        "  Line 3: the value in column «cluster» contains a control character (U+001B)",
        "  Line 4: the value in column «code» contains a control character (U+007F)",
        "  Line 5: the value in column «name» contains a control character (U+000B)",
    ]
    assert await snapshot(db) == before


async def test_lone_surrogates_and_escaped_controls_in_a_workbook(db: AsyncEngine, units,
                                                                  tmp_path: Path) -> None:
    """Excel writes what XML cannot hold as _xHHHH_: read back, a NUL or half of a surrogate
    pair is a problem like any other."""
    path = tmp_path / "bad.xlsx"
    path.write_bytes(xlsx([
        row(1, COLUMNS),
        row(2, ["N1", "CĐCS _xD800_ Một", "VN", "sector", "other", "1"]),
        row(3, ["N2", "CĐCS Hai", "VN", "sector", "other", "1", "Cụm_x0000_"]),
    ]))
    before = await snapshot(db)
    rc, _out, err = await units("import", str(path))
    assert rc == 1, err
    assert err.splitlines()[1:] == [
        "  Line 2: the value in column «name» contains a control character (U+D800)",
        "  Line 3: the value in column «cluster» contains a control character (U+0000)",
    ]
    assert await snapshot(db) == before


async def test_tabs_and_line_breaks_in_a_name_are_spaces(db: AsyncEngine, units,
                                                         tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + 'N1,"CĐCS\tCông ty\r\nMột",VN,sector,other,1,\n', encoding="utf-8")
    rc, out, err = await units("import", str(good))
    assert rc == 0, err
    rc, out, err = await units("export")
    assert "N1,CĐCS Công ty Một,VN," in out
