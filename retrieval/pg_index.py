"""The `postgres` index backend: a collection's vectors (pgvector) and BM25 keyword entries
as tables in the store's PostgreSQL database, beside the chunk rows.

Why tables per collection (`docintel_vec_<id>`, `docintel_kw_<id>`, `docintel_post_<id>`,
`docintel_kwgroup_<id>`): each collection is one tenant's, and its own HNSW graph and
postings stay small enough to search without a collection filter inside the graph (the
tables are the partitions; docs/indexes.md has the scaling note). `docintel_index_meta`
holds one row per collection: its dimension, embedding model, counts and BM25 length
statistics, updated in the same transaction as the entries.

One transaction with the chunk rows: when a `Store.session()` on the same database is open
in this thread (ingestion's `save_document_version`, `delete_document`), every write here
joins it (`core.store.active_connection`), so rows and index entries commit or roll back
together and a crashed worker leaves nothing half-indexed. Outside one (crash repair,
migration, tests) an instance keeps its own open transaction, committed by `save()`: other
instances never see an unsaved change, as the VectorIndex contract asks.

Keyword scores are BM25 computed in SQL from the postings (term frequencies) with the same
tokeniser, stemmer and Lucene formula as the `files` backend (bm25s), and the same
document weighting, so both backends rank alike (docs/benchmarks.md, issue 19).
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.errors import EmbedderMismatchError
from core.settings import Settings
from core.store import active_connection, make_engine
from retrieval.keyword_index import bm25_tokens, check_add

log = logging.getLogger(__name__)
T = TypeVar("T")

# One stats row per collection and side: the vector and keyword indexes of a collection are
# separate instances with their own transactions, so they must never wait on one row.
VECTOR_META = "docintel_index_vectors"
KEYWORD_META = "docintel_index_keywords"
_LOCK_NAMESPACE = "docintel.index"  # pg_advisory_lock(hashtext(namespace || schema), collection id)

_ENGINES: dict[tuple[str, str], Engine] = {}
_READY: set[tuple[str, str]] = set()
_ENGINES_LOCK = threading.Lock()


def engine_for(settings: Settings) -> Engine:
    """One engine per database and schema per process (indexes of every collection share its pool)."""
    url = settings.sqlalchemy_url
    if not url.startswith("postgresql"):
        store = "SQLite" if url.startswith("sqlite") else url.split(":", 1)[0]
        raise ValueError(
            f"the postgres index backend keeps its tables beside the chunk rows, in the store's database, and this "
            f"store is {store}: set DOCINTEL_DATABASE_URL to a PostgreSQL database that has the pgvector extension "
            "(>= 0.8)"
        )
    key = (url, settings.database_schema)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = make_engine(settings)
        if key not in _READY:
            _ensure_base(engine)
            _READY.add(key)
        return engine


def _ensure_base(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('docintel.index.ddl'))"))
        if not conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first():
            try:
                with conn.begin_nested():
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
            except sa.exc.DBAPIError as exc:
                raise ValueError(
                    "the PostgreSQL database of DOCINTEL_DATABASE_URL has no pgvector and this user cannot create it: "
                    "run CREATE EXTENSION vector as a superuser (pgvector >= 0.8), or use DOCINTEL_INDEX_BACKEND=files"
                ) from exc
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {VECTOR_META} ("
            " collection_id bigint PRIMARY KEY, dim integer, model_id text, vectors bigint NOT NULL DEFAULT 0)"
        ))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {KEYWORD_META} ("
            " collection_id bigint PRIMARY KEY, chunks bigint NOT NULL DEFAULT 0, tokens bigint NOT NULL DEFAULT 0)"
        ))


def location(settings: Settings, collection_id: int) -> tuple:
    return ("postgres", settings.sqlalchemy_url, settings.database_schema)


@contextmanager
def writer_lock(settings: Settings, collection_id: int) -> Iterator[None]:
    """A session-level advisory lock on its own connection: held across threads and
    processes, released by PostgreSQL if the holder dies."""
    engine = engine_for(settings)
    with engine.connect() as conn:
        args = {"ns": _LOCK_NAMESPACE + "." + settings.database_schema, "id": collection_id}
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:ns), CAST(:id AS integer))"), args)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:ns), CAST(:id AS integer))"), args)
            conn.commit()


def _missing_table(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "42P01"  # undefined_table


class _PgTables:
    """What both indexes share: the engine, the pending own transaction, the stats row, and
    whether the collection's tables are known to exist.

    That last one is cached per instance (no DDL on every add, no existence check on every
    search). It is learnt from a read (this instance's own transaction or the last commit),
    from a creation in the own transaction, or from the last commit seen on a connection of
    its own; never from a creation in the store's transaction, which may still roll back. It
    is forgotten by `drop()`, and when another instance dropped the tables a read finds
    them missing and answers as the empty index."""

    META = ""  # the stats table (VECTOR_META / KEYWORD_META)
    COLUMNS = ""

    def __init__(self, settings: Settings, collection_id: int):
        self.settings = settings
        self.engine = engine_for(settings)
        self.collection_id = int(collection_id)
        self._lock = threading.RLock()
        self._own: Connection | None = None  # an open transaction with this instance's unsaved changes
        self._main = ""  # the table whose existence stands for all of the index's (set by each index)
        self._ready = False  # the tables are known to exist

    # -- connections ---------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The connection a change goes on: the store's open transaction in this thread when
        there is one (entries commit with the chunk rows), else this instance's own."""
        shared = active_connection(self.settings)
        with self._lock:
            if shared is not None:
                # An own transaction still open would hold row locks the shared one may need.
                self._commit_own()
                yield shared
                return
            if self._own is None:
                self._own = self.engine.connect()
                self._own.begin()
            yield self._own

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """Reads see this instance's unsaved changes (its own transaction), else the last commit."""
        with self._lock:
            if self._own is not None:
                yield self._own
                return
        with self.engine.begin() as conn:
            yield conn

    def _commit_own(self) -> None:
        if self._own is not None:
            own, self._own = self._own, None
            try:
                own.commit()
            finally:
                own.close()

    def save(self) -> None:
        with self._lock:
            self._commit_own()

    def refresh(self) -> None:
        """Every read goes to the database: there is nothing cached to reload."""

    def _rollback_own(self) -> None:
        if self._own is not None:
            own, self._own = self._own, None
            own.rollback()
            own.close()

    # -- the tables ------------------------------------------------------------------
    def _exists(self, conn: Connection, table: str) -> bool:
        return conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar()

    def _committed(self, table: str) -> bool:
        """Whether the table exists in the last commit (asked on a connection of its own: the
        writing transaction's view includes creations that may still roll back)."""
        with self.engine.connect() as conn:
            return self._exists(conn, table)

    def _create(self, conn: Connection) -> None:
        raise NotImplementedError

    def _prepare_write(self, conn: Connection) -> None:
        """Before an add: create the tables unless they are known to exist."""
        if self._ready:
            return
        if conn is not self._own and self._committed(self._main):
            self._ready = True
            return
        self._create(conn)
        self._ready = conn is self._own  # the store's transaction may still roll the creation back

    def _present(self, conn: Connection) -> bool:
        """Whether the tables exist for a read or a removal on `conn`."""
        if self._ready:
            return True
        present = self._exists(conn, self._main)
        if present and conn is not active_connection(self.settings):
            self._ready = True
        return present

    def _read(self, run: Callable[[Connection], T], empty: T) -> T:
        """`run` on a reading connection; `empty` when the tables do not exist (also when
        another instance dropped them since this one saw them)."""
        conn = None
        try:
            with self._reading() as conn:
                if not self._present(conn):
                    return empty
                return run(conn)
        except sa.exc.DBAPIError as exc:
            if not _missing_table(exc):
                raise
            self._forget_tables(conn)
            return empty

    @contextmanager
    def _changing(self) -> Iterator[Connection]:
        """`_writing`, forgetting the tables when another instance dropped them since this
        one saw them (the change fails; the next one creates them again)."""
        conn = None
        try:
            with self._writing() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            if _missing_table(exc):
                self._forget_tables(conn)
            raise

    def _forget_tables(self, failed: Connection | None) -> None:
        with self._lock:
            self._ready = False
            if failed is not None and failed is self._own:  # PostgreSQL aborted its transaction
                self._rollback_own()

    def _meta(self, conn: Connection) -> sa.Row | None:
        return conn.execute(
            sa.text(f"SELECT {self.COLUMNS} FROM {self.META} WHERE collection_id = :c"),
            {"c": self.collection_id},
        ).first()

    def _bump(self, conn: Connection, **deltas: int) -> sa.Row:
        """Add `deltas` to the collection's stats row (made if missing), in one statement;
        returns the new counts."""
        cols = ", ".join(deltas)
        updates = ", ".join(f"{k} = {self.META}.{k} + EXCLUDED.{k}" for k in deltas)
        return conn.execute(
            sa.text(f"INSERT INTO {self.META} (collection_id, {cols}) VALUES (:c, {', '.join(':' + k for k in deltas)}) "
                    f"ON CONFLICT (collection_id) DO UPDATE SET {updates} RETURNING {cols}"),
            {"c": self.collection_id, **deltas},
        ).one()


class PgVectorIndex(_PgTables):
    """VectorIndex on pgvector: exact inner-product scan, plus an HNSW index once the
    collection holds `hnsw_min_vectors` vectors (iterative scans keep filtered queries at k)."""

    META, COLUMNS = VECTOR_META, "dim, model_id, vectors"

    def __init__(self, settings: Settings, collection_id: int, dim: int, model_id: str | None = None):
        super().__init__(settings, collection_id)
        self.dim = int(dim)
        self.model_id = model_id
        self.table = self._main = f"docintel_vec_{self.collection_id}"
        self._graph = False  # the HNSW index is known to exist (learnt as the tables are)
        from pgvector.sqlalchemy import Vector

        self._vector = Vector(self.dim)
        with self.engine.begin() as conn:
            meta = self._meta(conn)
        if meta is not None and meta.vectors:
            if meta.dim is not None and meta.dim != self.dim:
                raise EmbedderMismatchError(
                    f"collection {self.collection_id}'s vectors have dimension {meta.dim}, the embedder has {self.dim}: "
                    "re-ingest the collection after changing the embedding model"
                )
            if self.model_id and meta.model_id and meta.model_id != self.model_id:
                raise EmbedderMismatchError(
                    f"collection {self.collection_id} was indexed with the embedder {meta.model_id!r}, this process "
                    f"embeds documents with {self.model_id!r}: set the embedding model/runtime back, or re-ingest the collection"
                )

    def _create(self, conn: Connection) -> None:
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {self.table} (chunk_id bigint PRIMARY KEY, embedding vector({self.dim}) NOT NULL)"
        ))

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        stmt = sa.text(f"INSERT INTO {self.table} (chunk_id, embedding) VALUES (:i, :v)").bindparams(
            sa.bindparam("v", type_=self._vector)
        )
        with self._changing() as conn:
            self._prepare_write(conn)
            conn.execute(stmt, [{"i": int(i), "v": v} for i, v in zip(ids, vectors)])
            total = conn.execute(sa.text(
                f"INSERT INTO {VECTOR_META} (collection_id, dim, model_id, vectors) VALUES (:c, :d, :m, :n) "
                f"ON CONFLICT (collection_id) DO UPDATE SET vectors = {VECTOR_META}.vectors + EXCLUDED.vectors, "
                f"dim = EXCLUDED.dim, model_id = COALESCE({VECTOR_META}.model_id, EXCLUDED.model_id) RETURNING vectors"
            ), {"c": self.collection_id, "d": self.dim, "m": self.model_id, "n": len(ids)}).scalar_one()
            self._maybe_graph(conn, total)

    def _maybe_graph(self, conn: Connection, total: int) -> None:
        floor = self.settings.hnsw_min_vectors
        if self._graph or not floor or total < floor:
            return
        if conn is not self._own and self._committed(self.table + "_hnsw"):
            self._graph = True
            return
        # m/ef_construction: pgvector's defaults (16/64); built once, then kept by inserts.
        conn.execute(sa.text(
            f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw ON {self.table} USING hnsw (embedding vector_ip_ops)"
        ))
        self._graph = conn is self._own  # the store's transaction may still roll it back

    def remove(self, ids: list[int]) -> int:
        if len(ids) == 0:
            return 0
        with self._changing() as conn:
            if not self._present(conn):
                return 0
            n = conn.execute(
                sa.text(f"DELETE FROM {self.table} WHERE chunk_id = ANY(:ids)"), {"ids": [int(i) for i in ids]}
            ).rowcount
            if n:
                self._bump(conn, vectors=-n)
            return n

    def search(self, query: np.ndarray, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]:
        if k <= 0 or (allowed_ids is not None and not allowed_ids):
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(self.dim)
        where = "WHERE chunk_id = ANY(:allowed)" if allowed_ids is not None else ""
        # Ordered by the distance alone, so the planner can walk the HNSW index; strict order
        # iterative scans go on past ef_search until k rows pass the filter.
        stmt = sa.text(
            f"SELECT chunk_id, (embedding <#> :q) AS d FROM {self.table} {where} ORDER BY embedding <#> :q LIMIT :k"
        ).bindparams(sa.bindparam("q", type_=self._vector))
        params = {"q": q, "k": int(k)}
        if allowed_ids is not None:
            params["allowed"] = [int(i) for i in allowed_ids]

        def run(conn: Connection) -> list:
            conn.execute(sa.text(
                "SELECT set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', 'strict_order', true)"
            ), {"ef": str(max(self.settings.hnsw_ef_search, 1))})
            return conn.execute(stmt, params).all()

        rows = self._read(run, [])
        # <#> is the negative inner product; ties keep chunk id order, as the files backend does
        return sorted(((int(cid), -float(d)) for cid, d in rows), key=lambda h: (-h[1], h[0]))

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        if len(ids) == 0:
            return {}
        stmt = sa.text(f"SELECT chunk_id, embedding FROM {self.table} WHERE chunk_id = ANY(:ids)").columns(
            sa.column("chunk_id", sa.BigInteger), sa.column("embedding", self._vector)
        )
        rows = self._read(lambda conn: conn.execute(stmt, {"ids": [int(i) for i in ids]}).all(), [])
        return {int(cid): np.asarray(v, dtype=np.float32) for cid, v in rows}

    def ids(self) -> set[int]:
        return self._read(lambda conn: {int(r[0]) for r in conn.execute(sa.text(f"SELECT chunk_id FROM {self.table}"))},
                          set())

    def __len__(self) -> int:
        with self._reading() as conn:
            meta = self._meta(conn)
        return int(meta.vectors) if meta is not None else 0

    def _forget_tables(self, failed: Connection | None) -> None:
        super()._forget_tables(failed)
        self._graph = False

    def drop(self) -> None:
        with self._lock:
            self._rollback_own()
            self._ready = self._graph = False
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))
                conn.execute(sa.text(
                    f"UPDATE {VECTOR_META} SET dim = NULL, model_id = NULL, vectors = 0 WHERE collection_id = :c"
                ), {"c": self.collection_id})


class PgKeywordIndex(_PgTables):
    """KeywordIndex as BM25 in SQL: postings (term, chunk, tf), chunk lengths and groups."""

    META, COLUMNS = KEYWORD_META, "chunks, tokens"

    def __init__(self, settings: Settings, collection_id: int, k1: float = 1.2, b: float = 0.75,
                 document_weight: float = 0.0):
        if not 0.0 <= document_weight <= 1.0:
            raise ValueError("document_weight must be between 0 and 1")
        super().__init__(settings, collection_id)
        self.k1, self.b, self.document_weight = k1, b, document_weight
        self.chunks = self._main = f"docintel_kw_{self.collection_id}"
        self.postings = f"docintel_post_{self.collection_id}"
        self.groups = f"docintel_kwgroup_{self.collection_id}"
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        return bm25_tokens(texts, self._stemmer)

    def _create(self, conn: Connection) -> None:
        # group_id: the chunk's document, or -(chunk id)-1 for a chunk indexed without one (its own group)
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {self.chunks} (chunk_id bigint PRIMARY KEY, group_id bigint NOT NULL,"
            " length integer NOT NULL)"
        ))
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {self.chunks}_group ON {self.chunks} (group_id)"))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {self.postings} (term text NOT NULL, chunk_id bigint NOT NULL,"
            " tf integer NOT NULL, PRIMARY KEY (term, chunk_id))"
        ))
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {self.postings}_chunk ON {self.postings} (chunk_id)"))
        conn.execute(sa.text(
            f"CREATE TABLE IF NOT EXISTS {self.groups} (group_id bigint PRIMARY KEY, chunks integer NOT NULL,"
            " length bigint NOT NULL)"
        ))

    def _remove(self, conn: Connection, ids: list[int]) -> int:
        gone = conn.execute(
            sa.text(f"DELETE FROM {self.chunks} WHERE chunk_id = ANY(:ids) RETURNING group_id, length"),
            {"ids": ids},
        ).all()
        if not gone:
            return 0
        conn.execute(sa.text(f"DELETE FROM {self.postings} WHERE chunk_id = ANY(:ids)"), {"ids": ids})
        self._group_delta(conn, [(g, -1, -ln) for g, ln in gone])
        self._bump(conn, chunks=-len(gone), tokens=-sum(ln for _, ln in gone))
        return len(gone)

    def _group_delta(self, conn: Connection, deltas: list[tuple[int, int, int]]) -> None:
        total: dict[int, list[int]] = {}
        for g, n, ln in deltas:
            acc = total.setdefault(int(g), [0, 0])
            acc[0] += n
            acc[1] += ln
        conn.execute(
            sa.text(
                f"INSERT INTO {self.groups} (group_id, chunks, length) VALUES (:g, :n, :l) ON CONFLICT (group_id) "
                f"DO UPDATE SET chunks = {self.groups}.chunks + EXCLUDED.chunks, length = {self.groups}.length + EXCLUDED.length"
            ),
            [{"g": g, "n": n, "l": ln} for g, (n, ln) in sorted(total.items())],
        )
        conn.execute(sa.text(f"DELETE FROM {self.groups} WHERE chunks <= 0"))

    def add(self, ids: list[int], texts: list[str], groups: list[int] | None = None) -> None:
        if not check_add(ids, texts, groups):
            return
        tokenized = self.tokenize(list(texts))
        ids = [int(i) for i in ids]
        group_of = [int(groups[n]) if groups is not None else -i - 1 for n, i in enumerate(ids)]
        # bm25s gives an empty chunk one sentinel token: its length is 1 there, and here
        lengths = [max(len(t), 1) for t in tokenized]
        postings = [{"t": term, "c": cid, "f": tf} for cid, toks in zip(ids, tokenized) for term, tf in Counter(toks).items()]
        with self._changing() as conn:
            self._prepare_write(conn)
            self._remove(conn, ids)  # an id already present has its text replaced
            conn.execute(
                sa.text(f"INSERT INTO {self.chunks} (chunk_id, group_id, length) VALUES (:c, :g, :l)"),
                [{"c": c, "g": g, "l": ln} for c, g, ln in zip(ids, group_of, lengths)],
            )
            if postings:
                conn.execute(sa.text(f"INSERT INTO {self.postings} (term, chunk_id, tf) VALUES (:t, :c, :f)"), postings)
            self._group_delta(conn, [(g, 1, ln) for g, ln in zip(group_of, lengths)])
            self._bump(conn, chunks=len(ids), tokens=sum(lengths))

    def remove(self, ids: list[int]) -> int:
        if not ids:
            return 0
        with self._changing() as conn:
            if not self._present(conn):
                return 0
            return self._remove(conn, [int(i) for i in ids])

    def ungrouped(self) -> set[int]:
        sql = sa.text(f"SELECT chunk_id FROM {self.chunks} WHERE group_id < 0")
        return self._read(lambda conn: {int(r[0]) for r in conn.execute(sql)}, set())

    def set_groups(self, groups: dict[int, int]) -> None:
        if not groups:
            return
        with self._changing() as conn:
            if not self._present(conn):
                return
            rows = conn.execute(
                sa.text(f"SELECT chunk_id, group_id, length FROM {self.chunks} WHERE chunk_id = ANY(:ids)"),
                {"ids": [int(c) for c in groups]},
            ).all()
            moved = [(int(c), int(g), int(ln)) for c, g, ln in rows if int(groups[int(c)]) != int(g)]
            if not moved:
                return
            conn.execute(
                sa.text(f"UPDATE {self.chunks} SET group_id = :g WHERE chunk_id = :c"),
                [{"c": c, "g": int(groups[c])} for c, _, _ in moved],
            )
            self._group_delta(conn, [(g, -1, -ln) for _, g, ln in moved] + [(int(groups[c]), 1, ln) for c, _, ln in moved])

    def ids(self) -> set[int]:
        sql = sa.text(f"SELECT chunk_id FROM {self.chunks}")
        return self._read(lambda conn: {int(r[0]) for r in conn.execute(sql)}, set())

    def __len__(self) -> int:
        with self._reading() as conn:
            meta = self._meta(conn)
        return int(meta.chunks) if meta is not None else 0

    def search(self, query: str, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]:
        terms = self.tokenize([query])[0]
        if k <= 0 or not terms or (allowed_ids is not None and not allowed_ids):
            return []
        counts = Counter(terms)  # a word said twice counts twice, as in bm25s
        params = {"terms": list(counts), "qn": list(counts.values()), "k": int(k), "k1": self.k1, "b": self.b,
                  "w": self.document_weight, "c": self.collection_id}
        allowed = ""
        if allowed_ids is not None:
            allowed = "WHERE h.chunk_id = ANY(:allowed)"
            params["allowed"] = [int(i) for i in allowed_ids]
        # Lucene BM25 (bm25s' default): idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
        # tf part = tf / (tf + k1 (1 - b + b len / avglen)); chunks first, then their whole
        # documents (a group's tf and length are its chunks' sums), mixed as the files backend does.
        sql = f"""
        WITH q AS (SELECT * FROM unnest(CAST(:terms AS text[]), CAST(:qn AS float8[])) AS q(term, qn)),
        totals AS (SELECT chunks::float8 AS n, tokens::float8 AS tokens,
                          (SELECT count(*) FROM {self.groups})::float8 AS ng
                   FROM {KEYWORD_META} WHERE collection_id = :c),
        m AS (SELECT n, tokens / GREATEST(n, 1) AS avglen, ng, tokens / GREATEST(ng, 1) AS gavglen,
                     ng < n AND :w > 0 AS mix  -- some document has several chunks, and documents count
              FROM totals),
        hits AS (SELECT p.term, p.chunk_id, p.tf::float8 AS tf, c.group_id, c.length::float8 AS length
                 FROM {self.postings} p JOIN q USING (term) JOIN {self.chunks} c USING (chunk_id)),
        df AS (SELECT term, count(*)::float8 AS df, count(DISTINCT group_id)::float8 AS gdf FROM hits GROUP BY term),
        own AS (SELECT h.chunk_id, h.group_id,
                       sum(q.qn * ln(1 + (m.n - df.df + 0.5) / (df.df + 0.5))
                           * h.tf / (h.tf + :k1 * (1 - :b + :b * h.length / m.avglen))) AS s
                FROM hits h JOIN q USING (term) JOIN df USING (term) CROSS JOIN m {allowed}
                GROUP BY h.chunk_id, h.group_id),
        gtf AS (SELECT h.group_id, h.term, sum(h.tf) AS tf FROM hits h
                WHERE h.group_id IN (SELECT group_id FROM own) GROUP BY h.group_id, h.term),
        whole AS (SELECT g.group_id,
                         sum(q.qn * ln(1 + (m.ng - df.gdf + 0.5) / (df.gdf + 0.5))
                             * g.tf / (g.tf + :k1 * (1 - :b + :b * gl.length / m.gavglen))) AS s
                  FROM gtf g JOIN q USING (term) JOIN df USING (term) JOIN {self.groups} gl USING (group_id)
                  CROSS JOIN m GROUP BY g.group_id),
        scored AS (SELECT o.chunk_id, o.s AS own, w.s AS whole, max(o.s) OVER () AS omax, max(w.s) OVER () AS wmax
                   FROM own o JOIN whole w USING (group_id) WHERE o.s > 0),
        mixed AS (SELECT chunk_id, mix, CASE WHEN mix
                         THEN own / omax * (CASE WHEN wmax > 0 THEN 1 - :w + :w * whole / wmax ELSE 1 END)
                         ELSE own END AS s FROM scored CROSS JOIN m)
        SELECT chunk_id, s / CASE WHEN mix THEN max(s) OVER () ELSE 1 END AS s
        FROM mixed ORDER BY s DESC, chunk_id LIMIT :k
        """
        rows = self._read(lambda conn: conn.execute(sa.text(sql), params).all(), [])
        return [(int(c), float(s)) for c, s in rows]

    def drop(self) -> None:
        with self._lock:
            self._rollback_own()
            self._ready = False
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.postings}, {self.chunks}, {self.groups}"))
                conn.execute(sa.text(f"UPDATE {KEYWORD_META} SET chunks = 0, tokens = 0 WHERE collection_id = :c"),
                             {"c": self.collection_id})


def forget_engines() -> None:
    """Dispose of this process's index engines (tests drop their schemas afterwards)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _READY.clear()
