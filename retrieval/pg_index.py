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
import math
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

# A table of the configured schema only. The search path is `schema, public` (pgvector's type
# and operators live in public), so an unqualified name missing from the schema would
# resolve to a same-named table in public: another deployment's collection.
_IN_SCHEMA = "to_regclass(quote_ident(current_schema()) || '.' || {})"

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
            " collection_id bigint PRIMARY KEY, chunks bigint NOT NULL DEFAULT 0, tokens bigint NOT NULL DEFAULT 0,"
            " groups bigint)"
        ))
        # groups (how many documents; NULL in a collection written before it was kept)
        if not conn.execute(sa.text(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attname = 'groups' AND NOT attisdropped"
        ), {"t": KEYWORD_META}).first():
            conn.execute(sa.text(f"ALTER TABLE {KEYWORD_META} ADD COLUMN IF NOT EXISTS groups bigint"))


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
        return conn.execute(sa.text(f"SELECT {_IN_SCHEMA.format(':t')} IS NOT NULL"), {"t": table}).scalar()

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
        updates = ", ".join(f"{k} = COALESCE({self.META}.{k}, 0) + EXCLUDED.{k}" for k in deltas)
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
                    f"embeds documents with {self.model_id!r}: set DOCINTEL_EMBEDDING_MODEL / DOCINTEL_EMBEDDING_RUNTIME back "
                    "(minilm for an index built before the tuned model was the default), or re-ingest the collection"
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
        # <#> is the negative inner product; equal scores in chunk id order (FAISS, in the files
        # backend, breaks ties its own way, so the two may order tied hits differently)
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
    """KeywordIndex as BM25 in SQL, over five tables per collection, all kept by add, remove
    and set_groups in the writing transaction:

    - `docintel_kw_<id>` (chunk_id, group_id, length): one row per chunk;
    - `docintel_post_<id>` (term, chunk_id, tf, length, group_id): the postings, with the
      chunk's length and document copied in and all of it in the (term, chunk_id) key's index
      (INCLUDE), so a term's postings are one index-only range scan;
    - `docintel_kwgpost_<id>` (term, group_id, tf): each document's term frequencies (the
      sums over its chunks), so documents are scored without reading their chunks' postings;
    - `docintel_kwterm_<id>` (term, df, gdf): how many chunks and documents hold each term;
    - `docintel_kwgroup_<id>` (group_id, chunks, length): each document's size.

    A collection written before the last three columns of the postings and the term and
    document-postings tables existed is rebuilt in place the first time an instance finds
    its tables (`_upgrade`)."""

    META, COLUMNS = KEYWORD_META, "chunks, tokens, groups"

    def __init__(self, settings: Settings, collection_id: int, k1: float = 1.2, b: float = 0.75,
                 document_weight: float = 0.0):
        if not 0.0 <= document_weight <= 1.0:
            raise ValueError("document_weight must be between 0 and 1")
        super().__init__(settings, collection_id)
        self.k1, self.b, self.document_weight = k1, b, document_weight
        self.chunks = self._main = f"docintel_kw_{self.collection_id}"
        self.postings = f"docintel_post_{self.collection_id}"
        self.groups = f"docintel_kwgroup_{self.collection_id}"
        self.group_postings = f"docintel_kwgpost_{self.collection_id}"
        self.terms = f"docintel_kwterm_{self.collection_id}"
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        return bm25_tokens(texts, self._stemmer)

    # -- the tables ------------------------------------------------------------------
    def _create(self, conn: Connection) -> None:
        if self._layout(conn) == "old":
            self._upgrade()
        self._create_tables(conn)

    def _create_tables(self, conn: Connection) -> None:
        # group_id: the chunk's document, or -(chunk id)-1 for a chunk indexed without one (its own group)
        for ddl in (
            f"CREATE TABLE IF NOT EXISTS {self.chunks} (chunk_id bigint PRIMARY KEY, group_id bigint NOT NULL,"
            " length integer NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.chunks}_group ON {self.chunks} (group_id)",
            f"CREATE TABLE IF NOT EXISTS {self.postings} (term text NOT NULL, chunk_id bigint NOT NULL,"
            " tf integer NOT NULL, length integer NOT NULL, group_id bigint NOT NULL,"
            " PRIMARY KEY (term, chunk_id) INCLUDE (tf, length, group_id))",
            f"CREATE INDEX IF NOT EXISTS {self.postings}_chunk ON {self.postings} (chunk_id)",
            f"CREATE TABLE IF NOT EXISTS {self.group_postings} (term text NOT NULL, group_id bigint NOT NULL,"
            " tf integer NOT NULL, PRIMARY KEY (term, group_id) INCLUDE (tf))",
            f"CREATE TABLE IF NOT EXISTS {self.terms} (term text PRIMARY KEY, df integer NOT NULL, gdf integer NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.groups} (group_id bigint PRIMARY KEY, chunks integer NOT NULL,"
            " length bigint NOT NULL)",
        ):
            conn.execute(sa.text(ddl))

    def _layout(self, conn: Connection) -> str | None:
        """None (no tables), "old" (a collection written before the term table) or "current"."""
        chunks, terms = conn.execute(sa.text(f"SELECT {_IN_SCHEMA.format(':a')} IS NOT NULL, "
                                             f"{_IN_SCHEMA.format(':b')} IS NOT NULL"),
                                     {"a": self.chunks, "b": self.terms}).one()
        return None if not chunks else "current" if terms else "old"

    def _exists(self, conn: Connection, table: str) -> bool:
        if table != self.chunks:
            return super()._exists(conn, table)
        layout = self._layout(conn)
        if layout == "old":
            self._upgrade()
        return layout is not None

    def _upgrade(self) -> None:
        """Rebuild a collection written by the layout before this one, in one transaction of
        its own (committed, so every instance sees it): the postings get their chunk's length
        and document, and the term and document-postings tables and the document count are
        derived from them. Nothing is re-tokenised; readers wait for the rebuild."""
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('docintel.index.ddl'))"))
            if self._layout(conn) != "old":
                return  # another instance did it meanwhile
            log.info("rebuilding the keyword tables of collection %s for the current layout", self.collection_id)
            old = f"{self.postings}_old"
            conn.execute(sa.text(f"ALTER TABLE {self.postings} RENAME TO {old}"))
            conn.execute(sa.text(f"ALTER INDEX IF EXISTS {self.postings}_pkey RENAME TO {old}_pkey"))
            conn.execute(sa.text(f"ALTER INDEX IF EXISTS {self.postings}_chunk RENAME TO {old}_chunk"))
            self._create_tables(conn)
            conn.execute(sa.text(
                f"INSERT INTO {self.postings} (term, chunk_id, tf, length, group_id) "
                f"SELECT p.term, p.chunk_id, p.tf, c.length, c.group_id FROM {old} p JOIN {self.chunks} c USING (chunk_id)"
            ))
            conn.execute(sa.text(f"DROP TABLE {old}"))
            conn.execute(sa.text(
                f"INSERT INTO {self.group_postings} (term, group_id, tf) "
                f"SELECT term, group_id, sum(tf) FROM {self.postings} GROUP BY term, group_id"
            ))
            conn.execute(sa.text(
                f"INSERT INTO {self.terms} (term, df, gdf) SELECT term, c.df, g.gdf "
                f"FROM (SELECT term, count(*) AS df FROM {self.postings} GROUP BY term) c "
                f"JOIN (SELECT term, count(*) AS gdf FROM {self.group_postings} GROUP BY term) g USING (term)"
            ))
            conn.execute(sa.text(
                f"INSERT INTO {KEYWORD_META} (collection_id, groups) VALUES (:c, (SELECT count(*) FROM {self.groups})) "
                "ON CONFLICT (collection_id) DO UPDATE SET groups = EXCLUDED.groups"
            ), {"c": self.collection_id})
            for table in (self.postings, self.group_postings, self.terms):
                conn.execute(sa.text(f"ANALYZE {table}"))

    # -- changes ---------------------------------------------------------------------
    # Both statements take `d` (term, group_id, tf, n): per term and document, the term
    # frequency added or taken away and in how many chunks (n, the change of the term's df).
    # A term's document frequency changes when a (term, document) row appears or goes; `old`
    # is those rows as they were when the statement began (every part of a statement sees
    # one snapshot).
    def _add_terms_sql(self, source: str) -> str:
        gp = self.group_postings
        return f"""
        WITH {source},
        old AS (SELECT x.term, x.group_id FROM {gp} x JOIN d USING (term, group_id)),
        up AS (INSERT INTO {gp} AS x (term, group_id, tf) SELECT term, group_id, tf FROM d ORDER BY term, group_id
               ON CONFLICT (term, group_id) DO UPDATE SET tf = x.tf + EXCLUDED.tf)
        INSERT INTO {self.terms} AS t (term, df, gdf)
        SELECT d.term, sum(d.n), count(*) FILTER (WHERE old.term IS NULL)
        FROM d LEFT JOIN old USING (term, group_id) GROUP BY d.term ORDER BY d.term
        ON CONFLICT (term) DO UPDATE SET df = t.df + EXCLUDED.df, gdf = t.gdf + EXCLUDED.gdf
        """

    def _sub_terms_sql(self, source: str) -> str:
        """Returns the terms no chunk holds any more (deleted by `_drop_terms`)."""
        gp = self.group_postings
        return f"""
        WITH {source},
        old AS (SELECT x.term, x.group_id, x.tf FROM {gp} x JOIN d USING (term, group_id)),
        gone AS (DELETE FROM {gp} x USING d WHERE x.term = d.term AND x.group_id = d.group_id AND x.tf <= d.tf),
        kept AS (UPDATE {gp} x SET tf = x.tf - d.tf FROM d
                 WHERE x.term = d.term AND x.group_id = d.group_id AND x.tf > d.tf),
        s AS (SELECT d.term, sum(d.n) AS n, count(*) FILTER (WHERE old.tf <= d.tf) AS gone
              FROM d JOIN old USING (term, group_id) GROUP BY d.term),
        t AS (UPDATE {self.terms} t SET df = t.df - s.n, gdf = t.gdf - s.gone FROM s WHERE t.term = s.term
              RETURNING t.term, t.df)
        SELECT term FROM t WHERE df <= 0
        """

    def _drop_terms(self, conn: Connection, emptied: list[str]) -> None:
        if emptied:
            conn.execute(sa.text(f"DELETE FROM {self.terms} WHERE term = ANY(:t) AND df <= 0"), {"t": emptied})

    def _remove(self, conn: Connection, ids: list[int]) -> int:
        gone = conn.execute(
            sa.text(f"DELETE FROM {self.chunks} WHERE chunk_id = ANY(:ids) RETURNING group_id, length"),
            {"ids": ids},
        ).all()
        if not gone:
            return 0
        source = (f"del AS (DELETE FROM {self.postings} WHERE chunk_id = ANY(:ids) RETURNING term, group_id, tf), "
                  "d AS (SELECT term, group_id, sum(tf)::integer AS tf, count(*)::integer AS n FROM del GROUP BY term, group_id)")
        emptied = conn.execute(sa.text(self._sub_terms_sql(source)), {"ids": ids}).scalars().all()
        self._drop_terms(conn, emptied)
        groups = self._group_delta(conn, [(g, -1, -ln) for g, ln in gone])
        self._bump(conn, chunks=-len(gone), tokens=-sum(ln for _, ln in gone), groups=groups)
        return len(gone)

    def _group_delta(self, conn: Connection, deltas: list[tuple[int, int, int]]) -> int:
        """Apply (group, chunks, length) changes to the documents' sizes; returns the change
        in the number of documents."""
        total: dict[int, list[int]] = {}
        for g, n, ln in deltas:
            acc = total.setdefault(int(g), [0, 0])
            acc[0] += n
            acc[1] += ln
        gs = sorted(total)
        before = conn.execute(sa.text(f"SELECT count(*) FROM {self.groups} WHERE group_id = ANY(:g)"), {"g": gs}).scalar()
        conn.execute(
            sa.text(
                f"INSERT INTO {self.groups} AS x (group_id, chunks, length) "
                "SELECT * FROM unnest(CAST(:g AS bigint[]), CAST(:n AS integer[]), CAST(:l AS bigint[])) "
                "ON CONFLICT (group_id) DO UPDATE SET chunks = x.chunks + EXCLUDED.chunks, length = x.length + EXCLUDED.length"
            ),
            {"g": gs, "n": [total[g][0] for g in gs], "l": [total[g][1] for g in gs]},
        )
        removed = conn.execute(
            sa.text(f"DELETE FROM {self.groups} WHERE group_id = ANY(:g) AND chunks <= 0"), {"g": gs}
        ).rowcount
        return len(gs) - int(before) - removed

    def add(self, ids: list[int], texts: list[str], groups: list[int] | None = None) -> None:
        if not check_add(ids, texts, groups):
            return
        tokenized = self.tokenize(list(texts))
        ids = [int(i) for i in ids]
        group_of = [int(groups[n]) if groups is not None else -i - 1 for n, i in enumerate(ids)]
        # bm25s gives an empty chunk one sentinel token: its length is 1 there, and here
        lengths = [max(len(t), 1) for t in tokenized]
        cols: tuple[list, ...] = ([], [], [], [], [])
        for cid, g, ln, toks in zip(ids, group_of, lengths, tokenized):
            for term, tf in Counter(toks).items():
                for col, v in zip(cols, (term, cid, tf, ln, g)):
                    col.append(v)
        with self._changing() as conn:
            self._prepare_write(conn)
            self._remove(conn, ids)  # an id already present has its text replaced
            conn.execute(
                sa.text(f"INSERT INTO {self.chunks} (chunk_id, group_id, length) "
                        "SELECT * FROM unnest(CAST(:c AS bigint[]), CAST(:g AS bigint[]), CAST(:l AS integer[]))"),
                {"c": ids, "g": group_of, "l": lengths},
            )
            added = 0
            if cols[0]:
                source = (
                    f"ins AS (INSERT INTO {self.postings} (term, chunk_id, tf, length, group_id) "
                    "SELECT * FROM unnest(CAST(:t AS text[]), CAST(:c AS bigint[]), CAST(:f AS integer[]), "
                    "CAST(:l AS integer[]), CAST(:g AS bigint[])) RETURNING term, group_id, tf), "
                    "d AS (SELECT term, group_id, sum(tf)::integer AS tf, count(*)::integer AS n FROM ins GROUP BY term, group_id)"
                )
                conn.execute(sa.text(self._add_terms_sql(source)), dict(zip("tcflg", cols)))
            added = self._group_delta(conn, [(g, 1, ln) for g, ln in zip(group_of, lengths)])
            self._bump(conn, chunks=len(ids), tokens=sum(lengths), groups=added)

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
            params = {"c": [c for c, _, _ in moved], "g": [int(groups[c]) for c, _, _ in moved]}
            # the documents' term frequencies leave the old documents and join the new ones
            # (the chunks' df stays: n = 0)
            of_moved = (f"d AS (SELECT term, group_id, sum(tf)::integer AS tf, 0 AS n FROM {self.postings} "
                        "WHERE chunk_id = ANY(:c) GROUP BY term, group_id)")
            conn.execute(sa.text(self._sub_terms_sql(of_moved)), params).all()
            mv = "SELECT * FROM unnest(CAST(:c AS bigint[]), CAST(:g AS bigint[])) AS mv(chunk_id, group_id)"
            conn.execute(sa.text(f"UPDATE {self.chunks} x SET group_id = mv.group_id FROM ({mv}) mv "
                                 "WHERE x.chunk_id = mv.chunk_id"), params)
            conn.execute(sa.text(f"UPDATE {self.postings} x SET group_id = mv.group_id FROM ({mv}) mv "
                                 "WHERE x.chunk_id = mv.chunk_id"), params)
            conn.execute(sa.text(self._add_terms_sql(of_moved)), params)
            delta = self._group_delta(
                conn, [(g, -1, -ln) for _, g, ln in moved] + [(int(groups[c]), 1, ln) for c, _, ln in moved])
            if delta:
                self._bump(conn, groups=delta)

    def ids(self) -> set[int]:
        sql = sa.text(f"SELECT chunk_id FROM {self.chunks}")
        return self._read(lambda conn: {int(r[0]) for r in conn.execute(sql)}, set())

    def __len__(self) -> int:
        with self._reading() as conn:
            meta = self._meta(conn)
        return int(meta.chunks) if meta is not None and meta.chunks else 0

    # -- search ----------------------------------------------------------------------
    def search(self, query: str, k: int, allowed_ids: set[int] | None = None,
               document_weight: float | None = None) -> list[tuple[int, float]]:
        """Lucene BM25 (bm25s' default) over the chunks, each scaled by its whole document's
        BM25 as the files backend does (`Bm25KeywordIndex.search`): idf = ln(1 + (N - df + 0.5)
        / (df + 0.5)) with df read from the term table, tf part = tf / (tf + k1 (1 - b + b len /
        avglen)), a document's tf and length being its chunks' sums (its row of the document
        postings). Unfiltered: one statement, one index-only scan per term of the postings and
        of the document postings. Filtered: the allowed chunks' postings of the query terms
        (index probes on (term, chunk_id)), then the documents of those that match."""
        weight = self.document_weight if document_weight is None else document_weight
        if not 0.0 <= weight <= 1.0:
            raise ValueError("document_weight must be between 0 and 1")
        terms = self.tokenize([query])[0]
        if k <= 0 or not terms or (allowed_ids is not None and not allowed_ids):
            return []
        allowed = sorted(int(i) for i in allowed_ids) if allowed_ids is not None else None
        return self._read(lambda conn: self._search(conn, Counter(terms), int(k), allowed, weight), [])

    def _search(self, conn: Connection, counts: Counter, k: int, allowed: list[int] | None,
                weight: float) -> list[tuple[int, float]]:
        # No parallel workers for a search: starting them costs more than the scan they share.
        rows = conn.execute(sa.text(
            f"SELECT m.chunks, m.tokens, m.groups, t.term, t.df, t.gdf FROM {KEYWORD_META} m "
            f"LEFT JOIN {self.terms} t ON t.term = ANY(:terms) "
            "CROSS JOIN (SELECT set_config('max_parallel_workers_per_gather', '0', true)) p WHERE m.collection_id = :c"
        ), {"terms": sorted(counts), "c": self.collection_id}).all()
        if not rows or not rows[0].chunks:
            return []
        n, tokens, ng = float(rows[0].chunks), float(rows[0].tokens), rows[0].groups
        if ng is None:
            ng = conn.execute(sa.text(f"SELECT count(*) FROM {self.groups}")).scalar()
        ng = float(ng)
        # (term, weight in a chunk, weight in a document, df), rarest (heaviest) first
        terms = sorted(
            ((r.term, counts[r.term] * math.log(1 + (n - r.df + 0.5) / (r.df + 0.5)),
              counts[r.term] * math.log(1 + (ng - r.gdf + 0.5) / (r.gdf + 0.5)), int(r.df))
             for r in rows if r.term is not None and r.df > 0),
            key=lambda t: (-t[1], t[0]),
        )
        if not terms:
            return []
        s = _Scorer(self, conn, terms, tokens / max(n, 1.0), tokens / max(ng, 1.0), weight, mix=ng < n and weight > 0)
        if allowed is None:
            return s.exact(k)
        cid, gid, own = s.own(terms, allowed=allowed)
        return s.top(cid, own * s.factor(gid, s.whole(np.unique(gid))), k)

    def drop(self) -> None:
        with self._lock:
            self._rollback_own()
            self._ready = False
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.postings}, {self.chunks}, {self.groups}, "
                                     f"{self.group_postings}, {self.terms}"))
                conn.execute(sa.text(f"UPDATE {KEYWORD_META} SET chunks = 0, tokens = 0, groups = 0 WHERE collection_id = :c"),
                             {"c": self.collection_id})


class _Scorer:
    """One query's BM25 in SQL: chunks' own scores, documents' scores, the final ranking."""

    def __init__(self, index: PgKeywordIndex, conn: Connection, terms: list[tuple[str, float, float, int]],
                 avglen: float, gavglen: float, weight: float, mix: bool):
        self.ix, self.conn, self.terms, self.mix = index, conn, terms, mix
        k1, b = index.k1, index.b
        self.c0, self.c1, self.gc1 = k1 * (1 - b), k1 * b / avglen, k1 * b / gavglen
        self.w = weight

    def own(self, terms, allowed: list[int]):
        """(chunk ids sorted, their documents, their scores over `terms`) for the allowed
        chunks holding any of `terms`: probes of the postings' key (term, chunk_id)."""
        where = " AND p.chunk_id = ANY(:allowed)"
        params = {"t": [t[0] for t in terms], "wt": [t[1] for t in terms], "c0": self.c0, "c1": self.c1,
                  "allowed": allowed}
        row = self.conn.execute(sa.text(
            "SELECT array_agg(chunk_id), array_agg(group_id), array_agg(s) FROM ("
            " SELECT p.chunk_id, p.group_id, sum(q.wt * p.tf / (p.tf + :c0 + :c1 * p.length)) AS s"
            " FROM unnest(CAST(:t AS text[]), CAST(:wt AS float8[])) AS q(term, wt)"
            f" JOIN {self.ix.postings} p ON p.term = q.term WHERE p.term = ANY(:t){where}"
            " GROUP BY p.chunk_id, p.group_id) o"
        ), params).one()
        if row[0] is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        cid = np.asarray(row[0], np.int64)
        order = np.argsort(cid)  # by chunk id
        return cid[order], np.asarray(row[1], np.int64)[order], np.asarray(row[2], np.float64)[order]

    def whole(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(document ids sorted, their scores, their chunk counts) of `groups`; empty when
        documents do not count."""
        if not self.mix:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        params = {"t": [t[0] for t in self.terms], "gwt": [t[2] for t in self.terms], "c0": self.c0, "gc1": self.gc1}
        where = " AND g.group_id = ANY(:g)"
        params["g"] = [int(g) for g in groups]
        row = self.conn.execute(sa.text(
            "SELECT array_agg(group_id ORDER BY group_id), array_agg(s ORDER BY group_id),"
            " array_agg(chunks ORDER BY group_id) FROM ("
            " SELECT g.group_id, sum(q.gwt * g.tf / (g.tf + :c0 + :gc1 * l.length)) AS s, min(l.chunks) AS chunks"
            " FROM unnest(CAST(:t AS text[]), CAST(:gwt AS float8[])) AS q(term, gwt)"
            f" JOIN {self.ix.group_postings} g ON g.term = q.term JOIN {self.ix.groups} l USING (group_id)"
            f" WHERE g.term = ANY(:t){where} GROUP BY g.group_id) w"
        ), params).one()
        if row[0] is None:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        return np.asarray(row[0], np.int64), np.asarray(row[1], np.float64), np.asarray(row[2], np.int64)

    def factor(self, gid: np.ndarray, whole: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Each chunk's document factor: 1 - w + w x document / best document (1 when
        documents do not count)."""
        groups, scores, _ = whole
        if not self.mix or not len(groups) or scores.max() <= 0:
            return np.ones(len(gid))
        return 1 - self.w + self.w * scores[np.searchsorted(groups, gid)] / scores.max()

    def top(self, cid: np.ndarray, final: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(cid):
            return []
        best = np.lexsort((cid, -final))[:k]  # best first; ties by chunk id
        top = final[best]
        if self.mix:  # scores in [0, 1] whatever the collection's BM25 scale, as the files backend gives
            top = top / top[0]
        return [(int(c), float(s)) for c, s in zip(cid[best], top)]

    def exact(self, k: int) -> list[tuple[int, float]]:
        """Every chunk holding a query term scored, in one statement that returns the top k.
        One index-only range scan per term, its weight a constant (the planner sees each
        term's own row estimate and aggregates by hashing)."""
        t = self.terms
        params: dict = {"c0": self.c0, "c1": self.c1, "gc1": self.gc1, "w": self.w, "k": k}
        own, whole = [], []
        for n, (term, wt, gwt, _) in enumerate(t):
            params.update({f"t{n}": term, f"w{n}": wt, f"g{n}": gwt})
            own.append(f"SELECT chunk_id, group_id, :w{n} * tf / (tf + :c0 + :c1 * length) AS s "
                       f"FROM {self.ix.postings} WHERE term = :t{n}")
            whole.append(f"SELECT group_id, :g{n} AS wt, tf FROM {self.ix.group_postings} WHERE term = :t{n}")
        own_sql = f"SELECT chunk_id, group_id, sum(s) AS s FROM ({' UNION ALL '.join(own)}) p GROUP BY chunk_id, group_id"
        if not self.mix:
            sql = f"WITH own AS ({own_sql}) SELECT chunk_id, s FROM own ORDER BY s DESC, chunk_id LIMIT :k"
        else:
            # every document holding a term has a chunk holding it: the best document is among these
            sql = f"""WITH own AS ({own_sql}),
            whole AS (SELECT g.group_id, sum(g.wt * g.tf / (g.tf + :c0 + :gc1 * l.length)) AS s
                      FROM ({' UNION ALL '.join(whole)}) g JOIN {self.ix.groups} l USING (group_id) GROUP BY g.group_id),
            best AS (SELECT max(s) AS s FROM whole)
            SELECT o.chunk_id, o.s * (1 - :w + :w * w.s / best.s) AS f FROM own o JOIN whole w USING (group_id) CROSS JOIN best
            ORDER BY f DESC, o.chunk_id LIMIT :k"""
        rows = self.conn.execute(sa.text(sql), params).all()
        if not rows:
            return []
        return self.top(np.asarray([r[0] for r in rows], np.int64), np.asarray([r[1] for r in rows], np.float64), k)


def forget_engines() -> None:
    """Dispose of this process's index engines (tests drop their schemas afterwards)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _READY.clear()
