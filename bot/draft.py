"""An initiative being written, as the flows see it: one typed field per answer.

Stored in the `draft` table after every answered step (only when something changed); the
co-author and attachment lists are JSON text there and lists here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

# The order the questions come in: a worker's own initiative, and one registered for a
# worker by a support team (kê khai hộ), which first asks who the author is.
ORDER_SELF = ("title", "description", "field", "applied", "recognized", "benefit",
              "coauthors", "unit", "attachments", "summary")
ORDER_BEHALF = ("author_name", "author_phone", "author_unit", *ORDER_SELF)


@dataclass(slots=True)
class Attachment:
    kind: str          # photo | document (the channel stores the file) | path (terminal)
    file_id: str
    name: str = ""


@dataclass(slots=True, eq=True)
class Draft:
    id: int
    person_id: int
    step: str = "title"                  # where the worker goes on when they resume it
    title: str | None = None
    description: str | None = None
    field_code: str | None = None
    applied_on: date | None = None
    applied_month_only: bool = False     # typed as a month ("3/2025"): shown as a month
    recognized: bool | None = None       # by the unit's initiative council or its head
    benefit_vnd: int | None = None
    benefit_known: bool | None = None    # None: not answered; False: not quantifiable
    coauthors: list[str] | None = None   # None: not answered; []: none
    unit_id: int | None = None           # the receiving (superior) union
    attachments: list[Attachment] = field(default_factory=list)
    on_behalf: bool = False              # registered by a support team for a worker
    author_name: str | None = None       # on behalf: the author
    author_phone: str | None = None
    author_unit_id: int | None = None    # the author's grassroots union
    initiative_id: int | None = None     # revising this returned initiative

    @property
    def order(self) -> tuple[str, ...]:
        return ORDER_BEHALF if self.on_behalf else ORDER_SELF

    def missing_step(self) -> str | None:
        """The first question still unanswered (the summary's "one more thing")."""
        answered = {
            "author_name": self.author_name, "author_unit": self.author_unit_id,
            "title": self.title, "description": self.description, "field": self.field_code,
            "applied": self.applied_on, "recognized": self.recognized,
            "benefit": self.benefit_known is not None,
            "coauthors": self.coauthors is not None, "unit": self.unit_id,
        }
        for name in self.order:
            if name in answered and not answered[name]:
                return name
        return None

    def is_empty(self) -> bool:
        """Nothing answered yet (a new draft at its first question): nothing to keep."""
        answers = (self.title, self.description, self.field_code, self.applied_on,
                   self.recognized, self.benefit_vnd, self.benefit_known, self.coauthors,
                   self.unit_id, self.author_name, self.author_phone, self.author_unit_id,
                   self.initiative_id)
        return all(a is None for a in answers) and not self.attachments

    # ---- storage
    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Draft:
        values = {f: row[f] for f in _COLUMNS if f in row}
        values["coauthors"] = json.loads(row["coauthors"]) if row.get("coauthors") else (
            [] if row.get("coauthors") == "" else None)
        values["attachments"] = [Attachment(**a) for a in
                                 json.loads(row.get("attachments") or "[]")]
        values["on_behalf"] = bool(row.get("on_behalf"))
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        """The draft's columns as stored (lists as JSON text)."""
        row = {f: getattr(self, f) for f in _COLUMNS}
        row["coauthors"] = (None if self.coauthors is None
                            else json.dumps(self.coauthors, ensure_ascii=False))
        row["attachments"] = (json.dumps([_plain(a) for a in self.attachments],
                                         ensure_ascii=False) if self.attachments else None)
        return row

    def attachments_json(self) -> str | None:
        return self.to_row()["attachments"]


_COLUMNS = tuple(f.name for f in fields(Draft))


def _plain(a: Attachment) -> dict[str, str]:
    return {"kind": a.kind, "file_id": a.file_id, "name": a.name}
