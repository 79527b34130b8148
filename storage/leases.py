"""Job leases: which process runs a singleton job, and until when.

Keyword-only functions over a synchronous `Connection`, like `storage.queries`. A process
takes or renews a lease with one statement (`acquire`): an INSERT … ON CONFLICT DO UPDATE
whose update applies only when the row is already its own or has expired, so of several
processes asking at once exactly one gets it. `bot.leader` runs a job only while it holds
its lease.

Time comes from one clock for all processes: PostgreSQL's `now()` (`database_now`), so that
hosts whose clocks disagree still agree on when a lease ends; on SQLite every process shares
one host and its clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, func, or_, select

from storage.engine import utcnow
from storage.models import job_lease_t
from storage.queries import per_dialect

HOLDER_MAX = 128


def _acquire(d: Any) -> Any:
    stmt = d.insert(job_lease_t).values(
        name=bindparam("name"), holder=bindparam("holder"),
        acquired_at=bindparam("now"), expires_at=bindparam("expires_at"))
    new = stmt.excluded
    mine = job_lease_t.c.holder == new.holder
    return stmt.on_conflict_do_update(
        index_elements=[job_lease_t.c.name],
        set_={"holder": new.holder, "expires_at": new.expires_at,
              # a renewal keeps the time the lease was taken
              "acquired_at": case((mine, job_lease_t.c.acquired_at), else_=new.acquired_at)},
        where=or_(mine, job_lease_t.c.expires_at <= new.acquired_at),
    ).returning(job_lease_t.c.acquired_at)


_ACQUIRE = per_dialect(_acquire)


def database_now(conn: Connection) -> datetime:
    """The time every process agrees on: the database server's on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return conn.execute(select(func.now())).scalar_one()
    return utcnow()


def acquire(conn: Connection, *, name: str, holder: str, now: datetime,
            ttl: timedelta) -> bool:
    """Take the lease of job `name`, or renew it when `holder` holds it already, until
    `now + ttl`. False while another holder's lease has not expired."""
    row = conn.execute(_ACQUIRE[conn.dialect.name], {
        "name": name, "holder": holder[:HOLDER_MAX], "now": now, "expires_at": now + ttl,
    }).first()
    return row is not None


def release(conn: Connection, *, name: str, holder: str) -> bool:
    """Give the lease up (a graceful stop), so that another process takes the job at once.
    False when `holder` did not hold it."""
    result = conn.execute(delete(job_lease_t).where(and_(
        job_lease_t.c.name == name, job_lease_t.c.holder == holder[:HOLDER_MAX])))
    return result.rowcount > 0


def holders(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every lease row by job name (expired ones too): holder, acquired_at, expires_at."""
    return {row["name"]: dict(row) for row in
            conn.execute(select(job_lease_t)).mappings()}
