"""The columns of the files an administrator imports (units, targets, initiatives), as a
problem names them: as the file's header writes them («ngày gửi», not «submitted_on»), or,
for a column the file lacks, by its name in the reader's language, itself a header the
import accepts ("đến ngày" in Vietnamese, "ends_on" in English)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.i18n import N_
from bot.spreadsheet import shown

# Every column a file may be asked for. The Vietnamese translations are headers the imports
# accept (bot/directory.py, bot/progress_files.py, bot/initiative_files.py): a test checks it.
COLUMN_NAMES = {
    # the union directory
    "code": N_("code"),
    "name": N_("name"),
    "parent_code": N_("parent_code"),
    "kind": N_("kind"),
    "bloc": N_("bloc"),
    "member_count": N_("member_count"),
    "cluster": N_("cluster"),
    # targets
    "unit_code": N_("unit_code"),
    "phase": N_("phase"),
    "starts_on": N_("starts_on"),
    "ends_on": N_("ends_on"),
    "value": N_("value"),
    "note": N_("note"),
    # initiatives
    "title": N_("title"),
    "description": N_("description"),
    "author": N_("author"),
    "grassroots_code": N_("grassroots_code"),
    "receiving_code": N_("receiving_code"),
    "field": N_("field"),
    "benefit": N_("benefit"),
    "status": N_("status"),
    "submitted_on": N_("submitted_on"),
}


class Msgid(str):
    """A problem's value that is a msgid itself: translated when the problem is shown."""

    __slots__ = ()


def missing(column: str) -> Msgid:
    """A column the file lacks, named in the reader's language."""
    return Msgid(COLUMN_NAMES.get(column, column))


def titles(head: Sequence[str], index: Mapping[str, int]) -> dict[str, str]:
    """Each column found, as the header row writes it (for the problems of its values)."""
    return {col: shown(head[i].strip()) for col, i in index.items()}
