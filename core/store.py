"""The SQL store: SQLite by default, PostgreSQL by URL. Schema managed by Alembic."""
from __future__ import annotations

import ast
import hashlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, create_engine, delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import NotFoundError
from core.models import Chunk, Collection, Document, Tenant
from core.settings import Settings
from core.types import ChunkDraft, PageSpan

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Which database (URL, schema) each engine is on, so an index backend on the same one can
# join a store transaction (active_connection).
_ENGINE_DATABASES: "weakref.WeakKeyDictionary[Engine, tuple[str, str]]" = weakref.WeakKeyDictionary()
# The store transaction open in this thread / task, if any.
_ACTIVE_SESSION: ContextVar[Session | None] = ContextVar("docintel_store_session", default=None)


def active_connection(settings: Settings) -> Connection | None:
    """The connection of the `Store.session()` open in this thread on the database these
    settings name, if any: an index backend that keeps its entries in the same database
    writes on it, so chunk rows and index entries commit (or roll back) together."""
    session = _ACTIVE_SESSION.get()
    if session is None:
        return None
    if _ENGINE_DATABASES.get(session.get_bind()) != (settings.sqlalchemy_url, settings.database_schema):
        return None
    return session.connection()


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    elif settings.database_schema:
        # public stays on the path: extensions (pgvector's `vector` type) live there
        kwargs["connect_args"] = {"options": f"-csearch_path={settings.database_schema},public"}
    # A server connection can drop (a PostgreSQL restart): test it on checkout. A SQLite
    # file cannot, and the ping was a fifth of a search's database time.
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"), **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # cascades and concurrent readers
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

    _ENGINE_DATABASES[engine] = (url, settings.database_schema)
    return engine


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision of core/migrations/versions, read from the scripts' `revision` and
    `down_revision` lines without Alembic (importing it is a good part of a CLI command's
    start); None unless exactly one head (Alembic then decides)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in ("revision", "down_revision"):
                    found[node.targets[0].id] = ast.literal_eval(node.value)
        if "revision" not in found:
            continue
        revisions.add(found["revision"])
        down = found.get("down_revision")
        parents.update(down if isinstance(down, (tuple, list)) else [down] if down else [])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revisions(engine: Engine) -> tuple[str, ...] | None:
    """The revisions recorded in the database's alembic_version table (one query); None when
    it cannot be read (a fresh database has no such table)."""
    try:
        with engine.connect() as conn:
            # PostgreSQL: the configured schema's table only (public, also on the search path,
            # may hold another deployment's), as core/migrations/env.py has Alembic read it
            if conn.dialect.name == "postgresql" and conn.execute(text(
                "SELECT to_regclass(quote_ident(current_schema()) || '.alembic_version') IS NULL"
            )).scalar():
                return None
            return tuple(sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()))
    except DBAPIError:
        return None


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision. A database already there costs one
    query: Alembic runs (and is imported) only for one that is behind or new."""
    head = head_revision()
    if head is not None and current_revisions(engine) == (head,):
        return
    upgrade(engine)


def upgrade(engine: Engine) -> None:
    """Alembic's upgrade to head in one transaction that first takes the database's
    migration lock, so that processes opening a fresh (or behind) database at once take
    turns: the first migrates, the next find it done (Alembic reads the version under the
    lock). SQLite: BEGIN IMMEDIATE, its write lock (a waiting process waits up to the
    connection's 30 s busy timeout); the DDL commits or rolls back with the version row.
    PostgreSQL: a transaction-scoped advisory lock per schema."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('docintel.migrations.' || current_schema()))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Store:
    """Repository over tenants, collections, documents and chunks."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Store":
        engine = make_engine(settings)
        migrate(engine)
        return cls(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            with session.begin():
                token = _ACTIVE_SESSION.set(session)
                try:
                    yield session
                finally:
                    _ACTIVE_SESSION.reset(token)

    # -- tenants and collections -------------------------------------------------
    def tenant(self, name: str, create: bool = True) -> Tenant:
        def find(s: Session) -> Tenant | None:
            return s.scalar(select(Tenant).where(Tenant.name == name))

        if not create:
            with self.session() as s:
                row = find(s)
            if row is None:
                raise NotFoundError(f"tenant '{name}' does not exist")
            return row
        return self._get_or_create(find, lambda: Tenant(name=name))

    def collection(self, tenant: str, name: str, create: bool = False) -> Collection:
        if not create:  # the hot path (every search and answer): one prepared query, no write
            with self.session() as s:
                row = s.scalar(_COLLECTION_BY_NAME, {"tenant": tenant, "name": name})
            if row is None:
                raise _no_collection(name)
            return row
        t = self.tenant(tenant, create=True)

        def find(s: Session) -> Collection | None:
            return s.scalar(select(Collection).where(Collection.tenant_id == t.id, Collection.name == name))

        return self._get_or_create(find, lambda: Collection(tenant_id=t.id, name=name))

    def collection_id(self, tenant: str, name: str) -> int:
        """The collection's id alone (every search asks): a Core query, no ORM object."""
        with self.engine.connect() as conn:
            found = conn.execute(_COLLECTION_ID_BY_NAME, {"tenant": tenant, "name": name}).scalar()
        if found is None:
            raise _no_collection(name)
        return found

    def _get_or_create(self, find, make):
        """The row, made if missing. Two processes making the same row at once (two workers
        ingesting into a new collection) both end with the one that won."""
        try:
            with self.session() as s:
                row = find(s)
                if row is None:
                    row = make()
                    s.add(row)
                    s.flush()
                return row
        except IntegrityError:
            with self.session() as s:
                row = find(s)
            if row is None:
                raise
            return row

    def list_collections(self, tenant: str) -> list[dict[str, Any]]:
        t = self.tenant(tenant, create=True)
        with self.session() as s:
            rows = s.execute(
                select(Collection, func.count(Document.id))
                .outerjoin(Document, Document.collection_id == Collection.id)
                .where(Collection.tenant_id == t.id)
                .group_by(Collection.id)
                .order_by(Collection.name)
            ).all()
            return [{"id": c.id, "name": c.name, "documents": n} for c, n in rows]

    def delete_collection(self, collection_id: int) -> None:
        with self.session() as s:
            # Explicit deletes: do not rely on the database enforcing ON DELETE CASCADE.
            doc_ids = select(Document.id).where(Document.collection_id == collection_id)
            s.execute(delete(Chunk).where(Chunk.document_id.in_(doc_ids)))
            s.execute(delete(Document).where(Document.collection_id == collection_id))
            s.execute(delete(Collection).where(Collection.id == collection_id))

    # -- documents ---------------------------------------------------------------
    def find_document(self, collection_id: int, name: str) -> Document | None:
        with self.session() as s:
            return s.scalar(select(Document).where(Document.collection_id == collection_id, Document.name == name))

    def get_document(self, document_id: int, collection_id: int | None = None) -> Document:
        with self.session() as s:
            row = s.get(Document, document_id)
            if row is None or (collection_id is not None and row.collection_id != collection_id):
                raise NotFoundError(f"document {document_id} does not exist in this collection")
            return row

    def tenant_document(self, tenant: str, document_id: int) -> tuple[Document, Collection]:
        """A document by id within one tenant. Another tenant's document is "not found", the
        same as a missing one, so ids never tell whether something exists elsewhere."""
        with self.session() as s:
            row = s.execute(
                select(Document, Collection).join(Collection, Collection.id == Document.collection_id)
                .join(Tenant, Tenant.id == Collection.tenant_id)
                .where(Document.id == document_id, Tenant.name == tenant)
            ).first()
        if row is None:
            raise NotFoundError(f"document {document_id} does not exist")
        return row[0], row[1]

    def list_documents(self, collection_id: int) -> list[Document]:
        with self.session() as s:
            return list(s.scalars(select(Document).where(Document.collection_id == collection_id).order_by(Document.id)))

    def only_document(self, collection_id: int) -> Document | None:
        """The collection's one indexed document, or None when it holds none or several."""
        with self.session() as s:
            ids = list(s.scalars(select(Document.id).where(
                Document.collection_id == collection_id, Document.status == "indexed").limit(2)))
            return s.get(Document, ids[0]) if len(ids) == 1 else None

    def chunk_ids(self, document_id: int) -> list[int]:
        with self.session() as s:
            return list(s.scalars(select(Chunk.id).where(Chunk.document_id == document_id).order_by(Chunk.ordinal)))

    def chunk_count(self, document_id: int) -> int:
        with self.session() as s:
            return s.scalar(select(func.count(Chunk.id)).where(Chunk.document_id == document_id)) or 0

    def chunk_counts(self, collection_id: int) -> dict[int, int]:
        """Chunks per document of a collection, in one query (document lists show them)."""
        with self.session() as s:
            rows = s.execute(select(Chunk.document_id, func.count(Chunk.id)).join(Document, Document.id == Chunk.document_id)
                             .where(Document.collection_id == collection_id).group_by(Chunk.document_id))
            return {doc_id: n for doc_id, n in rows}

    def chunks_for_document(self, document_id: int) -> list[Chunk]:
        with self.session() as s:
            return list(s.scalars(select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.ordinal)))

    def record_failure(
        self, collection_id: int, name: str, sha256: str | None, mime: str | None, error: str, metadata: dict
    ) -> int:
        """Record a failed file on its document row. A previously indexed version stays searchable."""
        with self.session() as s:
            row = s.scalar(select(Document).where(Document.collection_id == collection_id, Document.name == name))
            if row is None:
                row = Document(
                    collection_id=collection_id, name=name, sha256=sha256, mime=mime, pages=0,
                    status="failed", error=error, version=1, metadata_=metadata,
                )
                s.add(row)
            elif row.status == "indexed":
                # Keep the good version; note why the new one was refused.
                row.error = error
                row.metadata_ = {**(row.metadata_ or {}), "last_failed_sha256": sha256}
            else:
                row.sha256, row.mime, row.status, row.error, row.metadata_ = sha256, mime, "failed", error, metadata
            s.flush()
            return row.id

    def save_document_version(
        self,
        collection_id: int,
        name: str,
        sha256: str,
        mime: str,
        text: str,
        pages: Sequence[PageSpan],
        metadata: dict[str, Any],
        chunks: Sequence[ChunkDraft],
        apply_to_index: Callable[[list[int], list[int], int], None],
    ) -> tuple[int, list[int]]:
        """Write a new version of a document and its chunks in one transaction.

        `apply_to_index(old_chunk_ids, new_chunk_ids, document_id)` runs inside the transaction, before
        commit: if it raises, the database is rolled back. If the commit itself fails after
        the index was saved, the index holds vectors with no rows; search ignores those.
        """
        with self.session() as s:
            doc = s.scalar(select(Document).where(Document.collection_id == collection_id, Document.name == name))
            old_ids: list[int] = []
            if doc is None:
                doc = Document(collection_id=collection_id, name=name, version=1)
                s.add(doc)
            else:
                old_ids = list(s.scalars(select(Chunk.id).where(Chunk.document_id == doc.id)))
                s.execute(delete(Chunk).where(Chunk.document_id == doc.id))
                doc.version = (doc.version or 0) + 1
            doc.sha256, doc.mime, doc.text, doc.pages = sha256, mime, text, len(pages)
            doc.page_spans = [[p.number, p.char_start, p.char_end] for p in pages]
            doc.status, doc.error, doc.metadata_ = "indexed", None, metadata
            s.flush()
            rows = [
                Chunk(
                    document_id=doc.id, ordinal=c.ordinal, page_start=c.page_start, page_end=c.page_end,
                    char_start=c.char_start, char_end=c.char_end, text=c.text, token_count=c.token_count,
                    text_sha256=text_sha256(c.text), sentence_vectors=c.sentence_vectors,
                )
                for c in chunks
            ]
            s.add_all(rows)
            s.flush()
            new_ids = [r.id for r in rows]
            apply_to_index(old_ids, new_ids, doc.id)
            return doc.id, new_ids

    def delete_document(self, document_id: int, apply_to_index: Callable[[list[int]], None]) -> None:
        with self.session() as s:
            ids = list(s.scalars(select(Chunk.id).where(Chunk.document_id == document_id)))
            s.execute(delete(Chunk).where(Chunk.document_id == document_id))
            s.execute(delete(Document).where(Document.id == document_id))
            apply_to_index(ids)

    def hit_rows(self, chunk_ids: Sequence[int]) -> dict[int, tuple]:
        """What a search hit shows, per chunk id, as plain columns (no ORM objects: this runs
        on every search): (document id, collection id, document name, metadata, page start,
        page end, char start, char end, text)."""
        if not chunk_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(_HIT_ROWS, {"ids": list(chunk_ids)}).all()
        return {r[0]: tuple(r[1:]) for r in rows}

    def sentence_vectors(self, chunk_ids: Sequence[int]) -> dict[int, bytes]:
        """The stored sentence embeddings of those chunks that have them."""
        out: dict[int, bytes] = {}
        ids = list(chunk_ids)
        with self.session() as s:
            for i in range(0, len(ids), 1000):
                rows = s.execute(
                    select(Chunk.id, Chunk.sentence_vectors).where(
                        Chunk.id.in_(ids[i : i + 1000]), Chunk.sentence_vectors.is_not(None)
                    )
                )
                out.update((cid, blob) for cid, blob in rows)
        return out

    def set_sentence_vectors(self, collection_id: int, blobs: dict[int, bytes] | None) -> None:
        """Store these chunks' sentence embeddings (chunk id -> packed block), or with None
        clear those of every chunk of the collection (one transaction)."""
        with self.session() as s:
            if blobs is None:
                chunk_ids = select(Chunk.id).join(Document, Document.id == Chunk.document_id).where(
                    Document.collection_id == collection_id)
                s.execute(update(Chunk).where(Chunk.id.in_(chunk_ids)).values(sentence_vectors=None),
                          execution_options={"synchronize_session": False})
            elif blobs:
                s.execute(update(Chunk), [{"id": cid, "sentence_vectors": blob} for cid, blob in blobs.items()])

    def chunks_by_ids(self, chunk_ids: Sequence[int]) -> list[Chunk]:
        with self.session() as s:
            out: list[Chunk] = []
            ids = list(chunk_ids)
            for i in range(0, len(ids), 1000):  # keep IN lists bounded
                out.extend(s.scalars(select(Chunk).where(Chunk.id.in_(ids[i : i + 1000]))))
            return out

    def document_filter_rows(self, collection_id: int) -> list[tuple[int, str, dict]]:
        """(id, name, metadata) of indexed documents, for search filters."""
        with self.session() as s:
            rows = s.execute(
                select(Document.id, Document.name, Document.metadata_).where(
                    Document.collection_id == collection_id, Document.status == "indexed"
                )
            ).all()
            return [(r[0], r[1], r[2] or {}) for r in rows]

    def chunk_ids_for_documents(self, document_ids: Sequence[int]) -> set[int]:
        out: set[int] = set()
        ids = list(document_ids)
        with self.session() as s:
            for i in range(0, len(ids), 1000):
                out.update(s.scalars(select(Chunk.id).where(Chunk.document_id.in_(ids[i : i + 1000]))))
        return out

    def chunk_documents(self, collection_id: int) -> dict[int, int]:
        """Every chunk of a collection: chunk id -> its document id."""
        with self.session() as s:
            rows = s.execute(
                select(Chunk.id, Chunk.document_id).join(Document, Document.id == Chunk.document_id)
                .where(Document.collection_id == collection_id)
            )
            return {int(cid): int(did) for cid, did in rows}

    def all_chunk_ids(self, collection_id: int) -> list[int]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(Chunk.id).join(Document, Document.id == Chunk.document_id).where(Document.collection_id == collection_id)
                )
            )


def _no_collection(name: str) -> NotFoundError:
    return NotFoundError(f"collection '{name}' does not exist (ingest documents into it first)")


# The search path's queries, built once: composing a statement costs more Python time
# than SQLite takes to run it.
_COLLECTION_ID_BY_NAME = (select(Collection.id).join(Tenant, Tenant.id == Collection.tenant_id)
                          .where(Tenant.name == bindparam("tenant"), Collection.name == bindparam("name")))
_COLLECTION_BY_NAME = (select(Collection).join(Tenant, Tenant.id == Collection.tenant_id)
                       .where(Tenant.name == bindparam("tenant"), Collection.name == bindparam("name")))
_HIT_ROWS = (select(Chunk.id, Document.id, Document.collection_id, Document.name, Document.metadata_, Chunk.page_start,
                    Chunk.page_end, Chunk.char_start, Chunk.char_end, Chunk.text)
             .join(Document, Document.id == Chunk.document_id).where(Chunk.id.in_(bindparam("ids", expanding=True))))
