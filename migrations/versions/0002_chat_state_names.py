"""Chat state keys get self-explaining names (bot/state.py), in every stored conversation.

The landed version stored `{"menu": {"id", "v", "l"}, "uq", "up", "sel", "back", "resume",
"cmd", "cmd_args", "lang_back", "ob": {"unit", "edit"}, "rv": {"id", "to"}, "vw",
"pending": {"vnd", "known"}, "page", "editing"}`; the same facts now have the names of
`ChatState`'s fields. Only rows with a non-empty state are read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_RENAMED = {"uq": "unit_query", "up": "unit_page", "sel": "selected_draft",
            "back": "discard_back", "resume": "resume_step", "cmd": "switch_command",
            "cmd_args": "switch_args", "lang_back": "language_back", "vw": "viewing",
            "page": "page", "editing": "editing"}
_BATCH = 1000


def convert(old: dict[str, Any]) -> dict[str, Any]:
    """A stored state of the landed version in today's names (unknown keys are dropped)."""
    new: dict[str, Any] = {}
    menu = old.get("menu")
    if isinstance(menu, dict) and "id" in menu:
        new["menu"] = {"id": menu["id"], "values": menu.get("values", menu.get("v", [])),
                       "labels": menu.get("labels", menu.get("l", []))}
    for before, after in _RENAMED.items():
        if before in old:
            new[after] = old[before]
    if isinstance(old.get("ob"), dict):
        new["onboarding"] = {"unit_id": old["ob"].get("unit"),
                             "back": "profile" if old["ob"].get("edit") else None}
    if isinstance(old.get("rv"), dict):
        new["decision"] = {"initiative_id": old["rv"]["id"], "to_status": old["rv"]["to"]}
    if isinstance(old.get("pending"), dict):
        new["pending_benefit"] = {"vnd": old["pending"].get("vnd"),
                                  "known": old["pending"].get("known", True)}
    return new


def upgrade() -> None:
    conn = op.get_bind()
    account = sa.table("account", sa.column("id", sa.Integer),
                       sa.column("state", sa.Text))
    last = 0
    while True:
        rows = conn.execute(sa.select(account.c.id, account.c.state)
                            .where(account.c.id > last, account.c.state != "{}")
                            .order_by(account.c.id).limit(_BATCH)).all()
        if not rows:
            return
        changed = []
        for row_id, state in rows:
            try:
                old = json.loads(state or "{}")
            except ValueError:
                old = {}
            new = convert(old) if isinstance(old, dict) else {}
            if new != old:
                changed.append({"b_id": row_id,
                                "b_state": json.dumps(new, ensure_ascii=False, sort_keys=True)})
        if changed:
            conn.execute(account.update().where(account.c.id == sa.bindparam("b_id"))
                         .values(state=sa.bindparam("b_state")), changed)
        last = rows[-1][0]


def downgrade() -> None:
    """The old names cannot be needed again: conversations restart at their step."""
