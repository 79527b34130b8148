"""Prebuilt statements run straight on the DBAPI cursor where that is safe (SQLite).

SQLAlchemy's `Connection.execute` costs about 60 µs per statement on this project's machines
for an execution context, parameter and result processing, and events — ten times what
SQLite takes to run a primary-key lookup. The hot path runs a dozen statements per
conversation step, so on SQLite a `Query` compiles its statement once (per set of parameter
names, for INSERT and UPDATE) and then executes the compiled SQL on the connection's DBAPI
cursor, applying the same bind and result processors SQLAlchemy would (dates, booleans, type
decorators) and the same Python-side column defaults.

Anywhere else — PostgreSQL, a connection outside a transaction (SQLAlchemy's autobegin
semantics are kept by letting it run the statement), a connection that echoes statements, an
engine with cursor-execute listeners (instrumentation, tests counting statements), a statement
shape this module does not handle — the statement goes through `conn.execute` unchanged.
Either way the caller gets plain tuples (or SQLAlchemy rows, which are tuples) and, for
`mappings`, dicts. DBAPI errors are raised as SQLAlchemy's `DBAPIError` subclasses, as
`conn.execute` would raise them; a parameter that is missing or cannot be bound sends the
statement through SQLAlchemy, which raises its own error. Not seen on the fast path: listeners
on a single connection, `after_cursor_execute`-only and `handle_error` hooks (none are used
here; an engine-level `before_cursor_execute` listener turns the fast path off).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

log = logging.getLogger(__name__)

_Processor = Callable[[Any], Any] | None
_NO_PARAMS: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class _Plan:
    """What it takes to run one compiled form on the raw cursor."""

    sql: str
    binds: tuple[tuple[str, _Processor], ...]   # positional order: name, bind processor
    fixed: Mapping[str, Any]                    # literal values and column defaults
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, result processor)
    keys: tuple[str, ...]
    returns_rows: bool
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # the values in order (no IN lists)
    expanding: frozenset[str] = frozenset()     # IN lists: `(?, ?, …)` per call
    procs: tuple[tuple[int, Callable[[Any], Any]], ...] = ()  # (position, bind processor)
    merge: bool = False  # literal values or column defaults are among the values


_UNSUPPORTED = object()  # cached: this form always goes through SQLAlchemy


class Query:
    """One statement, built at import, run with bound parameters.

    For INSERT and UPDATE the compiled form depends on which parameters are given (SQLAlchemy
    compiles the SET or VALUES clause from them), so plans are kept per set of names.
    """

    __slots__ = ("stmt", "_dml", "_plans")

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._dml = isinstance(stmt, UpdateBase)  # INSERT, UPDATE, DELETE
        self._plans: dict[Any, _Plan | object] = {}

    # ------------------------------------------------------------------ results

    def rows(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> list[Any]:
        """Every row, as tuples."""
        plan = self._plan(conn, params)
        args = _args(plan, params)
        if plan is None or args is None:
            return conn.execute(self.stmt, dict(params)).all()
        return _run(conn, plan, params, args)

    def first(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> Any | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def scalar(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> Any:
        """The first column of the first row (None when there is no row)."""
        row = self.first(conn, params)
        return row[0] if row is not None else None

    def scalars(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> list[Any]:
        return [r[0] for r in self.rows(conn, params)]

    def mappings(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS
                 ) -> list[dict[str, Any]]:
        """Every row as a dict keyed by column name."""
        plan = self._plan(conn, params)
        args = _args(plan, params)
        if plan is None or args is None:
            return [dict(m) for m in conn.execute(self.stmt, dict(params)).mappings()]
        keys = plan.keys
        return [dict(zip(keys, r, strict=True)) for r in _run(conn, plan, params, args)]

    def mapping(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS
                ) -> dict[str, Any] | None:
        rows = self.mappings(conn, params)
        return rows[0] if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any] = _NO_PARAMS) -> int:
        """Execute a statement that returns no rows; the number of rows it touched."""
        plan = self._plan(conn, params)
        args = _args(plan, params)
        if plan is None or args is None:
            return conn.execute(self.stmt, dict(params)).rowcount
        cur = _cursor(conn)
        try:
            cur.execute(_sql(plan, params), args)
            return cur.rowcount
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrap(conn, plan, params, exc) from exc
        finally:
            cur.close()

    def many(self, conn: Connection, seq: Sequence[Mapping[str, Any]]) -> None:
        """executemany: every parameter set must name the same parameters."""
        if not seq:
            return
        plan = self._plan(conn, seq[0])
        if plan is not None and (plan.returns_rows or plan.expanding):
            plan = None
        argss = _args_each(plan, seq)
        if plan is None or argss is None:
            conn.execute(self.stmt, [dict(p) for p in seq])
            return
        cur = _cursor(conn)
        try:
            cur.executemany(plan.sql, argss)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrap(conn, plan, seq[0], exc) from exc
        finally:
            cur.close()

    def many_rows(self, conn: Connection, seq: Sequence[Mapping[str, Any]]) -> list[Any]:
        """A statement with RETURNING run once per parameter set: the rows, in order."""
        if not seq:
            return []
        plan = self._plan(conn, seq[0])
        argss = _args_each(plan, seq)   # all bound before the first runs
        if plan is None or argss is None:
            return conn.execute(self.stmt, [dict(p) for p in seq]).all()
        out: list[Any] = []
        for p, args in zip(seq, argss, strict=True):
            out += _run(conn, plan, p, args)
        return out

    # ------------------------------------------------------------------ plans

    def _plan(self, conn: Connection, params: Mapping[str, Any]) -> _Plan | None:
        dialect = conn.dialect
        if (dialect.name != "sqlite" or conn._echo or not conn.in_transaction()
                or conn.engine.dispatch.before_cursor_execute):
            return None  # SQLAlchemy's path, with its logging and cursor events
        key = (dialect.__class__, frozenset(params) if self._dml else None)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(conn, params)
        if plan is _UNSUPPORTED:
            return None
        if plan.expanding and not all(  # type: ignore[union-attr]
                params.get(n, plan.fixed.get(n)) for n in plan.expanding):  # type: ignore[union-attr]
            return None  # an empty IN list: SQLAlchemy renders an always-false test
        return plan  # type: ignore[return-value]

    def _compile(self, conn: Connection, params: Mapping[str, Any]) -> _Plan | object:
        compiled: Any = self.stmt.compile(
            dialect=conn.dialect, column_keys=list(params) if self._dml else None)
        try:
            return _plan_of(compiled, conn.dialect)
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            # The plan reads SQLAlchemy's compiler internals: should a release rename them,
            # the statement takes SQLAlchemy's path (slower), not every message an error.
            log.warning("fast path off for %s: %r", compiled.string.split("\n")[0][:60], exc)
            return _UNSUPPORTED


def _plan_of(compiled: Any, dialect: Any) -> _Plan | object:
    """The plan of a compiled statement, or _UNSUPPORTED when SQLAlchemy must run it."""
    why = _unsupported(compiled)
    if why:
        log.debug("%s: through SQLAlchemy (%s)", compiled.string.split("\n")[0][:60], why)
        return _UNSUPPORTED
    processors = {n: _last_remembered(p) if _is_temporal(compiled.binds.get(n)) else p
                  for n, p in compiled._bind_processors.items()}
    fixed: dict[str, Any] = {}
    for name, bp in compiled.binds.items():
        if not bp.required and bp.callable is None:
            fixed[name] = bp.value
    for col in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = col.onupdate if col in compiled.update_prefetch else col.default
        if default is None or not default.is_scalar:
            return _UNSUPPORTED
        fixed[col.key] = default.arg
    results = compiled._result_columns
    rprocs = tuple(e[3]._cached_result_processor(dialect, None) for e in results)
    names = tuple(compiled.positiontup)
    expanding = frozenset(compiled.bind_names[bp] for bp in compiled.post_compile_params)
    return _Plan(
        sql=compiled.string,
        binds=tuple((name, processors.get(name)) for name in names),
        fixed=fixed,
        results=tuple((i, p) for i, p in enumerate(rprocs) if p is not None),
        keys=tuple(e[0] for e in results),
        returns_rows=bool(results),
        expanding=expanding,
        get=_getter(names),
        merge=bool(fixed.keys() & set(names)),
        procs=tuple((i, processors[n]) for i, n in enumerate(names) if n in processors),
    )


def _is_temporal(bind: Any) -> bool:
    """A date or datetime parameter (also through a TypeDecorator such as UTCDateTime)."""
    if bind is None:
        return False
    try:
        return issubclass(getattr(bind.type, "impl", bind.type).python_type, date)
    except NotImplementedError:
        return False


def _last_remembered(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`proc`, answering at once for the very object it was last given: a batch binds the
    same `now` in every row, and formatting a datetime as text for SQLite is the costly part
    of binding it. Only for dates and datetimes, which cannot change in place."""
    last: list[tuple[Any, Any]] = [(object(), None)]

    def process(value: Any) -> Any:
        seen, out = last[0]   # one tuple: read and written whole, safe across threads
        if value is seen:
            return out
        out = proc(value)
        last[0] = (value, out)
        return out
    return process


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if not names:
        return lambda _params: ()
    if len(names) == 1:
        name = names[0]
        return lambda params: (params[name],)
    return itemgetter(*names)


def _unsupported(compiled: Any) -> str | None:
    if not compiled.positional:
        return "not positional"
    if compiled.escaped_bind_names:
        return "escaped bind names"
    if compiled.literal_execute_params:
        return "literal-execute parameters"
    if any(not bp.expanding for bp in compiled.post_compile_params):
        return "post-compile parameters"
    if compiled.schema_translate_map:
        return "schema translation"
    if compiled.implicit_returning:
        return "implicit returning"
    return None


def _value(plan: _Plan, params: Mapping[str, Any], name: str) -> Any:
    return params[name] if name in params else plan.fixed[name]


def _args(plan: _Plan | None, params: Mapping[str, Any]) -> list[Any] | None:
    """The positional values for `plan`; None without a plan, or when a parameter is missing
    or its bind processor refuses it: SQLAlchemy's own path then runs the statement, so the
    caller gets SQLAlchemy's error (or result)."""
    if plan is None:
        return None
    try:
        return _bind(plan, params)
    except Exception:
        return None


def _args_each(plan: _Plan | None, seq: Sequence[Mapping[str, Any]]
               ) -> list[list[Any]] | None:
    """`_args` for every parameter set, or None if any cannot be bound."""
    out = []
    for params in seq:
        args = _args(plan, params)
        if args is None:
            return None
        out.append(args)
    return out


def _bind(plan: _Plan, params: Mapping[str, Any]) -> list[Any]:
    if not plan.expanding:
        values = list(plan.get({**plan.fixed, **params} if plan.merge else params))
        for i, proc in plan.procs:
            values[i] = proc(values[i])
        return values
    out = []
    for name, proc in plan.binds:   # IN lists contribute one value per element
        value = _value(plan, params, name)
        if name in plan.expanding:
            out += value if proc is None else [proc(v) for v in value]
        else:
            out.append(proc(value) if proc is not None else value)
    return out


def _sql(plan: _Plan, params: Mapping[str, Any]) -> str:
    """The statement with each IN list's placeholder spelled out for its length."""
    sql = plan.sql
    for name in plan.expanding:
        n = len(_value(plan, params, name))
        sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * n))
    return sql


def _cursor(conn: Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _run(conn: Connection, plan: _Plan, params: Mapping[str, Any], args: list[Any]
         ) -> list[Any]:
    cur = _cursor(conn)
    try:
        cur.execute(_sql(plan, params), args)
        rows = cur.fetchall() if plan.returns_rows else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _wrap(conn, plan, params, exc) from exc
    finally:
        cur.close()
    procs = plan.results
    if not procs:
        return rows
    out = []
    for r in rows:
        row = list(r)
        for i, proc in procs:
            row[i] = proc(row[i])
        out.append(tuple(row))
    return out


def _wrap(conn: Connection, plan: _Plan, params: Mapping[str, Any], exc: Exception
          ) -> Exception:
    """The exception SQLAlchemy would raise for this DBAPI error."""
    dbapi = conn.dialect.loaded_dbapi
    return DBAPIError.instance(plan.sql, dict(params), exc, dbapi.Error, dialect=conn.dialect)
