"""The retrieval expert: BM25 search over a corpus of Wikipedia paragraphs (SQLite FTS5).

An expert need not be an LLM (RouterRetriever). The router sends free text; we answer with the
best-matching paragraphs. The corpus is a ``.jsonl`` / ``.jsonl.gz`` file of ``{"title", "text"}``
rows; ``builtin:hotpotqa`` is the one shipped in ``agents/data`` (see ATTRIBUTION.md there).

The index is a SQLite file in a cache directory, named by the corpus file's sha256, built lazily
on the first search (into a temp file, then ``os.replace``, so no process ever sees half an index)
and reused afterwards. Each thread gets its own read-only connection.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .files import temp_beside

BUILTIN_CORPORA = {"hotpotqa": "hotpotqa_corpus.jsonl.gz"}
_INDEX_VERSION = "v1"  # bump when the schema or tokenizer changes: old cache files are then ignored
_TITLE_WEIGHT, _TEXT_WEIGHT = 2.0, 1.0  # bm25() column weights
_MAX_TERMS = 64  # bounds the cost of a pathological (very long) query
_WORD = re.compile(r"[^\W_]+")  # the same word characters FTS5's unicode61 tokenizer keeps
_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves""".split()
)
_SEARCH_SQL = f"""
    select title, text, bm25(passages_fts, {_TITLE_WEIGHT}, {_TEXT_WEIGHT}) as rank
    from passages_fts where passages_fts match ? order by rank limit ?
"""


class Passage(BaseModel):
    """One retrieved paragraph. ``score`` is BM25 (higher is better; only comparable within a search)."""

    model_config = ConfigDict(extra="forbid")
    title: str
    text: str
    score: float


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    title: str
    text: str = Field(min_length=1)


def query_terms(query: str) -> list[str]:
    """Lower-cased unique words of ``query`` minus stop words (all words if only stop words are left)."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(unicodedata.normalize("NFKC", query))))
    content = [w for w in words if w not in _STOP_WORDS]
    return (content or words)[:_MAX_TERMS]


def _fts_query(terms: Sequence[str]) -> str:
    # Terms are runs of word characters (no quotes), so quoting makes each a plain FTS5 string:
    # operators (AND/OR/NOT/NEAR), column filters, '*', '^' and parentheses lose their meaning.
    return " OR ".join(f'"{t}"' for t in terms)


def read_corpus(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (title, text) per non-blank line; a bad line raises ValueError naming file and line."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    row = _Row.model_validate(json.loads(raw.decode("utf-8")))
                except UnicodeDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not UTF-8 ({e.reason})") from None
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
                except ValidationError as e:
                    why = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'row'}: {x['msg']}" for x in e.errors())
                    raise ValueError(f'{path}:{lineno}: expected {{"title": str, "text": str}}: {why}') from None
                yield row.title, row.text
    except (gzip.BadGzipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: cannot read corpus: {e}") from None


def _build_index(corpus: Path, dest: Path) -> None:
    rows = [{"title": t, "text": x} for t, x in read_corpus(corpus)]
    if not rows:
        raise ValueError(f"{corpus}: the corpus has no passages")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(dest)
    os.close(fd)
    try:
        db = sqlite_utils.Database(tmp, execute_plugins=False)
        db.execute("pragma journal_mode = off")
        table = db.table("passages")
        table.insert_all(rows, batch_size=1000)
        table.enable_fts(["title", "text"], fts_version="FTS5", tokenize="porter")
        table.optimize()
        db.close()
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Retriever:
    """BM25 over one corpus file. Cheap to construct; the index is built on first use."""

    def __init__(self, corpus_path: Path, cache_dir: Path) -> None:
        self.corpus_path = Path(corpus_path)
        self.cache_dir = Path(cache_dir)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._index: Path | None = None
        self._stat: tuple[int, int] | None = None

    def ensure_index(self) -> Path:
        """Path of the index for the corpus as it is now, building it if needed."""
        try:
            st = self.corpus_path.stat()
        except OSError as e:
            raise ValueError(f"corpus file not readable: {self.corpus_path} ({e.strerror})") from None
        with self._lock:  # one build per process; os.replace makes concurrent processes safe
            if self._index is None or self._stat != (st.st_mtime_ns, st.st_size) or not self._index.exists():
                index = self.cache_dir / f"bm25-{_INDEX_VERSION}-{_sha256(self.corpus_path)[:32]}.sqlite"
                if not index.exists():
                    _build_index(self.corpus_path, index)
                self._index, self._stat = index, (st.st_mtime_ns, st.st_size)
            return self._index

    def _connection(self, index: Path) -> sqlite3.Connection:
        if getattr(self._local, "index", None) != index:  # first use in this thread, or a new index
            if (old := getattr(self._local, "conn", None)) is not None:
                old.close()
            self._local.conn = sqlite3.connect(f"{index.resolve().as_uri()}?mode=ro", uri=True)
            self._local.index = index
        conn: sqlite3.Connection = self._local.conn
        return conn

    def search(self, query: str, k: int = 5, *, context: str = "") -> list[Passage]:
        """The ``k`` best passages for any free text; no usable words (or k < 1) gives [].

        With ``context`` (the question a search serves), a passage must still match a word of ``query``,
        but it is ranked by the words of both: a bare name then finds the passage about that name that
        the question is about (its birth date, its league), not merely the one that repeats the name most."""
        terms = query_terms(query)
        if not terms or k < 1:
            return []
        match = _fts_query(terms)
        if extra := [t for t in query_terms(context) if t not in terms][: _MAX_TERMS - len(terms)]:
            match = f"({match}) AND ({_fts_query(terms + extra)})"
        rows = self._connection(self.ensure_index()).execute(_SEARCH_SQL, (match, k)).fetchall()
        return [Passage(title=title, text=text, score=-rank) for title, text, rank in rows]


def resolve_corpus(corpus: str) -> Path:
    """``builtin:NAME`` or a path to an existing ``.jsonl`` / ``.jsonl.gz`` file; else ValueError."""
    if corpus.startswith("builtin:"):
        name = corpus.removeprefix("builtin:")
        if name not in BUILTIN_CORPORA:
            raise ValueError(f"unknown corpus {corpus!r}; built-in corpora: {', '.join('builtin:' + n for n in BUILTIN_CORPORA)}")
        path = Path(__file__).parent / "data" / BUILTIN_CORPORA[name]
    else:
        path = Path(corpus).expanduser()
        if not path.name.endswith((".jsonl", ".jsonl.gz")):
            raise ValueError(f"corpus must be 'builtin:NAME' or a .jsonl / .jsonl.gz file, got {corpus!r}")
    if not path.is_file():
        raise ValueError(f"corpus file not found: {path}")
    return path.resolve()


@functools.lru_cache(maxsize=16)
def _retriever(corpus_path: Path, cache_dir: Path) -> Retriever:
    return Retriever(corpus_path, cache_dir)


def open_retriever(corpus: str, cache_dir: Path) -> Retriever:
    """The (shared, cached) Retriever for ``corpus`` ('builtin:hotpotqa' or a file) in ``cache_dir``."""
    return _retriever(resolve_corpus(corpus), Path(cache_dir).expanduser().resolve())


def _clip(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if (space := cut.rfind(" ")) > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def format_passages(passages: Sequence[Passage], max_chars: int = 400) -> str:
    """``(1) Title: text`` lines for the router, each text cut at a word to at most ``max_chars``."""
    if not passages:
        return "(no passages found)"
    return "\n".join(f"({i}) {p.title}: {_clip(p.text, max_chars)}" for i, p in enumerate(passages, 1))
