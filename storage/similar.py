"""Similar initiatives: the ones already sent to the same union that read most alike.

Shown to a worker at the summary step and to a reviewer opening an initiative, so that an
initiative registered twice (re-worded, accents dropped, words swapped round) is caught.

Text is folded as `storage.textfold.fold` does (ASCII, lower case, no diacritics, đ → d),
then the words that say nothing are dropped: single letters, function words (`STOP_WORDS`)
and the stock phrases of every initiative (`STOP_PHRASES`: "giải pháp", "sáng kiến",
"cải tiến", "nâng cao", "hiệu quả"…). A description counts by its first DESC_CHARS characters.

* The index (`initiative_term`, PK (unit_id, term, initiative_id)), written in the
  submission transaction by `index_initiative`: per initiative at most MAX_TERMS distinct
  terms — the title's words, then word pairs ("may cao", "cao su") of the title and of the
  description, then the description's words. Vietnamese writes one syllable per word, so a
  single word ("may", "cao", "su") is common and ambiguous, while a pair is close to a real
  word ("cao su" = rubber) and rare: pairs are what finds candidates in a large union.
  Pairs never span a sentence or clause break.

* The lookup (`find_similar`), two statements whatever the size of the union:
  1. how many initiatives of the union hold each of the first QUERY_TERMS query terms (pairs
     first), every count an index range scan cut off at COUNT_CAP;
  2. the rarest of those terms (at most PICK_TERMS, their postings together at most
     POSTINGS_BUDGET; a term at the cap only if nothing rarer is shared) vote for the
     initiatives holding them, a rarer term weighing more (idf-like); the CANDIDATES
     best-voted initiatives come back with title, code, status and description start.
  The candidates are scored in Python with rapidfuzz (`_title_ratios`, `_desc_ratio`) and
  the best `limit` at or above `min_score` returned.

  Work per lookup is bounded — at most QUERY_TERMS × COUNT_CAP index entries counted (the
  counts of common terms are remembered for a few minutes, see `_term_counts`),
  POSTINGS_BUDGET (or COUNT_CAP) postings grouped, CANDIDATES rows fetched and scored —
  however many initiatives the union holds.

Statements are built once (at import, or once per shape for the lookup's) with every value a
bind parameter: building a statement costs more CPU than running it, while a prebuilt one
keeps SQLAlchemy's cache key and compiled form.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from rapidfuzz import fuzz, process
from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    select,
    union_all,
)

from storage import bulk
from storage.models import initiative_t, initiative_term_t
from storage.textfold import MAX_TERM

MAX_TERMS = 48          # index terms per initiative
DESC_CHARS = 300        # how much of a description is indexed and compared
QUERY_TERMS = 24        # query terms whose frequency in the union is counted
COUNT_CAP = 1000        # each count stops there
PICK_TERMS = 6          # at most this many of the rarest query words find the candidates
POSTINGS_BUDGET = 2000  # … and their postings together at most this many
CANDIDATES = 100        # candidates fetched and scored
TITLE_WEIGHT = 0.6      # of the final score; the description has the rest

# Function words and the filler of every initiative text. Folded, so one entry may stand
# for several Vietnamese words ("de" = để, đề, đế); only words that are almost always filler
# are listed ("van" is vấn but also van = valve, so only the phrase "van de" goes).
STOP_WORDS = frozenset("""
    va cua cho trong cac nhung duoc de la co khong mot tai voi the nay tu ve den da se giai
    phap nhu khi thi bang tren theo vao ra lam viec nhieu hon rat cung con nen neu vi boi
    sau moi tung nham giup dang hoac them nhat ay kia nao gi rang luon hay cach
""".split())
STOP_PHRASES = (
    "giai phap", "sang kien", "van de", "cai tien", "nang cao", "hieu qua", "ap dung",
    "ung dung", "thuc hien", "hien nay", "don vi", "co the", "nguoi lao dong", "de tai",
)
_STOP_PHRASES = tuple(f" {p} " for p in STOP_PHRASES)
_DROP = STOP_WORDS | set("abcdefghijklmnopqrstuvwxyz")  # and single letters; numbers stay


@dataclass(frozen=True, slots=True)
class SimilarHit:
    initiative_id: int
    code: str | None
    title: str
    status: str
    score: float  # 0–100


# --------------------------------------------------------------------------- folding

# `textfold.fold` walks the text in Python, ~0.15 ms for 300 characters; a lookup folds up to
# CANDIDATES texts, so this does the same with C-level string operations (~3× faster): NFD,
# any non-ASCII character that is not a combining mark → space, combining marks dropped by
# the ASCII encode, then every byte other than [a-z0-9] → space. The words are those of
# `fold`; in addition, punctuation that ends a sentence or a clause becomes a "|" token, so
# that no word pair spans it.
_NON_ASCII = re.compile(
    "[^\x00-\x7f\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_BREAKS = b".,;:!?()[]{}\"\n\r"
_ALNUM = bytes(c if (0x30 <= c <= 0x39 or 0x61 <= c <= 0x7a)
               else 0x7C if c in _BREAKS else 0x20 for c in range(256))


def _folded(text: str) -> str:
    """The folded words, "|" at clause breaks, a space at each end."""
    text = text.replace("đ", "d").replace("Đ", "D")
    for dash in ("–", "—", "…"):
        if dash in text:
            text = text.replace(dash, ".")
    nfd = _NON_ASCII.sub(" ", unicodedata.normalize("NFD", text))
    b = nfd.encode("ascii", "ignore").lower().translate(_ALNUM).replace(b"|", b" | ")
    return " " + b" ".join(b.split()).decode("ascii") + " "


def _tokens(text: str) -> list[str]:
    """Folded words that carry meaning, in order (repeats kept), with "|" at clause breaks."""
    s = _folded(text)
    for phrase in _STOP_PHRASES:
        if phrase in s:
            s = s.replace(phrase, " ").replace(phrase, " ")  # twice: back-to-back repeats
    return [w for w in s.split() if w not in _DROP]


def content_words(text: str) -> list[str]:
    """Folded words that carry meaning, in order (repeats kept)."""
    return [w for w in _tokens(text) if w != "|"]


@lru_cache(maxsize=8192)
def _compared(text: str) -> str:
    """A candidate's stored title or description start, as it is compared: remembered, since
    the same initiatives of a union come up as candidates again and again."""
    return " ".join(content_words(text))


def head(description: str) -> str:
    """The start of a description that is indexed and compared: DESC_CHARS characters at
    most, cut at a word boundary (the database gives the first DESC_CHARS characters)."""
    if len(description) < DESC_CHARS:
        return description
    start = description[:DESC_CHARS]
    cut = max(start.rfind(" "), start.rfind("\n"))
    return start[:cut] if cut > 0 else start


def _bigrams(tokens: Sequence[str]) -> list[str]:
    """Adjacent word pairs within a clause."""
    return [f"{a} {b}"[:MAX_TERM] for a, b in zip(tokens, tokens[1:], strict=False)
            if a != "|" and b != "|"]


def _words(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t != "|"]


def _dedupe(seqs: Iterable[Iterable[str]], cap: int) -> list[str]:
    seen: dict[str, None] = {}
    for seq in seqs:
        for t in seq:
            seen.setdefault(t[:MAX_TERM], None)
            if len(seen) >= cap:
                return list(seen)
    return list(seen)


def index_terms(title: str, description: str) -> list[str]:
    """The distinct index terms of an initiative, at most MAX_TERMS: the title's words, the
    title's word pairs, the description's word pairs, the description's words."""
    tt, dt = _tokens(title), _tokens(head(description))
    return _dedupe((_words(tt), _bigrams(tt), _bigrams(dt), _words(dt)), MAX_TERMS)


def _query_terms(tt: list[str], dt: list[str]) -> list[str]:
    """The query terms whose frequency is counted: pairs (likelier rare) before words."""
    return _dedupe((_bigrams(tt), _bigrams(dt), _words(tt), _words(dt)), QUERY_TERMS)


# --------------------------------------------------------------------------- the index

_INSERT_TERMS = insert(initiative_term_t)
_DELETE_TERMS = delete(initiative_term_t).where(
    initiative_term_t.c.initiative_id == bindparam("initiative_id"))


def index_initiatives(conn: Connection, items: Iterable[tuple[int, int, str, str]]) -> int:
    """Index many initiatives, given as (initiative_id, unit_id, title, description), in one
    executemany (a backfill, a benchmark). Returns how many terms were written."""
    rows = sorted((unit_id, t, ini) for ini, unit_id, title, description in items
                  for t in index_terms(title, description))  # in index order: fewer page splits
    rows = [{"unit_id": u, "term": t, "initiative_id": i} for u, t, i in rows]
    if rows and conn.dialect.name == "postgresql":   # one statement, not one per term
        bulk.insert_new(conn, initiative_term_t, rows, cols=("unit_id", "term", "initiative_id"))
    elif rows:
        conn.execute(_INSERT_TERMS, rows)
    return len(rows)


def index_initiative(
    conn: Connection, *, initiative_id: int, unit_id: int, title: str, description: str
) -> None:
    """Index a newly submitted initiative under the union it was sent to."""
    index_initiatives(conn, [(initiative_id, unit_id, title, description)])


def unindex_initiative(conn: Connection, *, initiative_id: int) -> None:
    conn.execute(_DELETE_TERMS, {"initiative_id": initiative_id})


def reindex_initiative(
    conn: Connection, *, initiative_id: int, unit_id: int, title: str, description: str
) -> None:
    """Replace an initiative's terms (a revised initiative resubmitted, maybe elsewhere)."""
    unindex_initiative(conn, initiative_id=initiative_id)
    index_initiative(conn, initiative_id=initiative_id, unit_id=unit_id, title=title,
                     description=description)


# --------------------------------------------------------------------------- the lookup


def _weight(count: int) -> int:
    """An idf-like vote: a term few initiatives of the union hold says more."""
    return round(100 * math.log(1 + COUNT_CAP / max(count, 1)))


# The statements are built once per shape (number of terms, exclusion or not) with every
# value a bind parameter: building and compiling a 24-subquery statement on each lookup would
# cost more than running it.


@lru_cache(maxsize=QUERY_TERMS + 1)
def _counts_stmt(n: int) -> Any:
    t = initiative_term_t
    cols = []
    for i in range(n):
        sub = (select(t.c.initiative_id)
               .where(t.c.unit_id == bindparam("unit_id"), t.c.term == bindparam(f"t{i}"))
               .limit(COUNT_CAP).subquery())
        cols.append(select(func.count()).select_from(sub).scalar_subquery().label(f"c{i}"))
    return select(*cols)


# Counts of common terms (at least COMMON_COUNT initiatives of the union hold them) are kept
# for COUNT_TTL seconds: counting one costs up to COUNT_CAP index entries, and they only weigh
# and order the terms, for which a few minutes' drift changes nothing. Rarer terms are counted
# on every lookup, so a term first indexed a moment ago (a duplicate sent twice in a row) is
# found at once.
COMMON_COUNT = 50
COUNT_TTL = 600.0
_COUNT_CACHE_SIZE = 50_000
# Per engine: one process may serve several databases (tests do).
_common_counts: WeakKeyDictionary[Any, OrderedDict[tuple[int, str], tuple[float, int]]] = (
    WeakKeyDictionary())


def _term_counts(conn: Connection, unit_id: int, q_terms: Sequence[str]) -> list[int]:
    """How many initiatives of the union hold each term (at most COUNT_CAP): one statement
    for the terms not known to be common."""
    now = time.monotonic()
    cache = _common_counts.setdefault(conn.engine, OrderedDict())
    counts: list[int | None] = []
    for term in q_terms:
        hit = cache.get((unit_id, term))
        counts.append(hit[1] if hit is not None and now - hit[0] < COUNT_TTL else None)
    todo = [i for i, n in enumerate(counts) if n is None]
    if todo:
        params = {f"t{k}": q_terms[i] for k, i in enumerate(todo)}
        fresh = conn.execute(_counts_stmt(len(todo)), {"unit_id": unit_id, **params}).one()
        for i, n in zip(todo, fresh, strict=True):
            counts[i] = n
            if n >= COMMON_COUNT:
                cache[(unit_id, q_terms[i])] = (now, n)
                cache.move_to_end((unit_id, q_terms[i]))
        while len(cache) > _COUNT_CACHE_SIZE:
            cache.popitem(last=False)
    return [n or 0 for n in counts]


def _pick(q_terms: Sequence[str], counts: Sequence[int]) -> list[tuple[str, int]]:
    """The rarest terms present in the union, within the postings budget."""
    picked: list[tuple[str, int]] = []
    total = 0
    for n, i in sorted((n, i) for i, n in enumerate(counts) if n):
        # A term at the cap is read only COUNT_CAP deep (newest first): used only when the
        # union has nothing rarer in common with the query.
        if picked and (len(picked) >= PICK_TERMS or total + n > POSTINGS_BUDGET
                       or n >= COUNT_CAP):
            break
        picked.append((q_terms[i], _weight(n)))
        total += n
    return picked


@lru_cache(maxsize=2 * PICK_TERMS)
def _candidates_stmt(n: int, exclude: bool) -> Any:
    t = initiative_term_t
    parts = []
    for k in range(n):
        conds = [t.c.unit_id == bindparam("unit_id"), t.c.term == bindparam(f"t{k}")]
        if exclude:
            conds.append(t.c.initiative_id != bindparam("exclude_id"))
        sub = (select(t.c.initiative_id).where(*conds)
               .order_by(t.c.initiative_id.desc()).limit(COUNT_CAP).subquery())
        parts.append(select(sub.c.initiative_id, bindparam(f"w{k}", type_=Integer).label("w")))
    postings = (union_all(*parts) if n > 1 else parts[0]).subquery()
    votes = func.sum(postings.c.w)
    cand = (select(postings.c.initiative_id)
            .group_by(postings.c.initiative_id)
            .order_by(votes.desc(), postings.c.initiative_id.desc())
            .limit(CANDIDATES).subquery())
    i = initiative_t
    return (select(i.c.id, i.c.code, i.c.title, i.c.status,
                   func.substr(i.c.description, 1, DESC_CHARS).label("desc_start"))
            .join(cand, cand.c.initiative_id == i.c.id)
            # The index is per union; the row's own unit is checked too, so an initiative
            # moved to another union and not yet reindexed is not shown here.
            .where(i.c.unit_id == bindparam("unit_id")))


def _candidates(conn: Connection, unit_id: int, picked: Sequence[tuple[str, int]],
                exclude_id: int | None) -> list[Any]:
    """The CANDIDATES initiatives with the most (weighted) picked terms, with their text."""
    params: dict[str, Any] = {"unit_id": unit_id}
    if exclude_id is not None:
        params["exclude_id"] = exclude_id
    for k, (term, weight) in enumerate(picked):
        params[f"t{k}"], params[f"w{k}"] = term, weight
    stmt = _candidates_stmt(len(picked), exclude_id is not None)
    return [_Candidate(*r) for r in conn.execute(stmt, params).all()]   # one fetch, not 100


class _Candidate(NamedTuple):  # a tuple: a lookup builds CANDIDATES of them
    id: int
    code: str | None
    title: str
    status: str
    desc_start: str | None


def _title_ratios(q: str, titles: Sequence[str]) -> list[float]:
    """The title score of q against each title (0 for an empty one), in two rapidfuzz calls:
    the mean of token_set_ratio and token_sort_ratio."""
    # token_set_ratio forgives word order and extra words (a longer re-wording of the same
    # title scores 100), but alone it makes "máy bơm" a 100 against every title holding those
    # two words; token_sort_ratio, also order-blind, keeps a penalty for what only one side
    # says. Their mean ranks re-worded duplicates first without that failure.
    out = [0.0] * len(titles)
    if not q:
        return out
    idx = [i for i, t in enumerate(titles) if t]
    choices = [titles[i] for i in idx]
    sets = process.extract(q, choices, scorer=fuzz.token_set_ratio, limit=None)
    sorts = dict((k, s) for _c, s, k in process.extract(
        q, choices, scorer=fuzz.token_sort_ratio, limit=None))
    for _c, s, k in sets:
        out[idx[k]] = (s + sorts[k]) / 2
    return out


def _desc_ratio(q: str, c: str, cutoff: float) -> float:
    # Descriptions are re-written more freely, their sentences reordered, and the stored
    # start may hold more or fewer of them: what they share counts, so token_set_ratio.
    return fuzz.token_set_ratio(q, c, score_cutoff=cutoff)


def find_similar(
    conn: Connection, *, unit_id: int, title: str, description: str,
    exclude_id: int | None = None, limit: int = 3, min_score: float = 60.0,
) -> list[SimilarHit]:
    """The initiatives sent to `unit_id` most like this title and description, best first.

    score (0–100) = TITLE_WEIGHT × title ratio + (1 − TITLE_WEIGHT) × description ratio,
    both on folded text without filler words (the title alone when either description has
    no content words, the description alone when the query title has none). Ties go to the
    older initiative. Two statements; [] for a text with no content word.
    """
    q_title = _tokens(title)
    q_desc = _tokens(head(description))
    q_terms = _query_terms(q_title, q_desc)
    if not q_terms or limit <= 0:
        return []
    picked = _pick(q_terms, _term_counts(conn, unit_id, q_terms))
    if not picked:
        return []
    rows = _candidates(conn, unit_id, picked, exclude_id)

    qt = " ".join(_words(q_title))
    qd = " ".join(_words(q_desc))
    tw = TITLE_WEIGHT if qt else 0.0
    # Title ratios first (short strings, cheap); a description is folded and compared only
    # while it can still lift its candidate into the result: the most a candidate can reach
    # is its title part plus a perfect description part.
    title_scores = _title_ratios(qt, [_compared(r.title) for r in rows])
    scored: list[tuple[float, float, Any]] = []
    for r, ts in zip(rows, title_scores, strict=True):
        scored.append((tw * ts + (1 - tw) * 100 if qd else ts, ts, r))
    scored.sort(key=lambda s: s[0], reverse=True)
    best: list[tuple[float, int, Any]] = []
    for bound, ts, r in scored:
        floor = max(min_score, best[-1][0] if len(best) >= limit else 0.0)
        if bound < floor:
            break
        score = ts
        if qd:
            cd = _compared(head(r.desc_start or ""))
            if cd:  # otherwise the title alone
                need = (floor - tw * ts) / (1 - tw)  # below it rapidfuzz may answer 0
                score = tw * ts + (1 - tw) * _desc_ratio(qd, cd, max(0.0, need))
        if score >= floor:
            best.append((score, r.id, r))
            best.sort(key=lambda b: (-b[0], b[1]))
            del best[limit:]
    return [SimilarHit(r.id, r.code, r.title, r.status, round(s, 1)) for s, _id, r in best]
