"""API keys: `dik_<prefix>_<secret>`, stored as SHA-256, each of one tenant with scopes.

Scopes nest: admin includes write, write includes read.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from core.errors import DocIntelError, NotFoundError
from core.models import ApiKey, Tenant, utcnow
from core.store import Store

SCOPES = ("read", "write", "admin")


class ApiKeyError(DocIntelError):
    """A key that cannot be made as asked (unknown scope)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and what the key may do."""

    tenant: str
    tenant_id: int
    scopes: frozenset[str]
    key_prefix: str | None = None

    def allows(self, scope: str) -> bool:
        # admin > write > read: a key holds every scope below its highest one.
        rank = max((SCOPES.index(s) for s in self.scopes if s in SCOPES), default=-1)
        return SCOPES.index(scope) <= rank


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_summary(row: ApiKey, tenant: str) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "tenant": tenant, "scopes": list(row.scopes or []),
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "revoked": row.revoked_at is not None}


def _session_mac(key_digest: str, prefix: str, expires: int) -> str:
    return hmac.new(key_digest.encode(), f"session:{prefix}:{expires}".encode(), hashlib.sha256).hexdigest()


@dataclass
class ApiKeyStore:
    store: Store

    def create(self, tenant: str, name: str, scopes: list[str]) -> tuple[str, dict[str, Any]]:
        """(the key, shown once; its summary)."""
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            raise ApiKeyError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
        t = self.store.tenant(tenant)
        prefix = secrets.token_hex(6)
        key = f"dik_{prefix}_{secrets.token_urlsafe(32)}"
        row = ApiKey(tenant_id=t.id, name=name, prefix=prefix, key_sha256=_digest(key), scopes=sorted(set(scopes)))
        with self.store.session() as s:
            s.add(row)
        return key, key_summary(row, tenant)

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None for an unknown, malformed or revoked key (uncached;
        the API uses CachedAuthenticator)."""
        parts = key.split("_")
        if len(parts) < 3 or parts[0] != "dik":
            return None
        return self._principal(parts[1], lambda row: hmac.compare_digest(row.key_sha256, _digest(key)))

    def session_token(self, key: str, ttl_s: float) -> tuple[str, Principal, int] | None:
        """A browser session for a valid key: (token, principal, expiry as a Unix time), or
        None for an unknown or revoked key. The token is `dis_<prefix>.<expiry>.<mac>`, the
        MAC keyed by the key's stored digest: the raw key never sits in a cookie, a session
        ends when its key is revoked, and no server-wide secret has to be shared by replicas."""
        who = self.authenticate(key)
        if who is None:
            return None
        expires = int(time.time() + ttl_s)
        return f"dis_{who.key_prefix}.{expires}.{_session_mac(_digest(key), who.key_prefix, expires)}", who, expires

    def authenticate_session(self, token: str) -> Principal | None:
        """The principal of a session token that is well formed, unexpired and whose key is
        not revoked; None otherwise."""
        try:
            prefix, expires_s, mac = token.removeprefix("dis_").split(".")
            expires = int(expires_s)
        except ValueError:
            return None
        if not token.startswith("dis_") or expires < time.time():
            return None
        return self._principal(prefix, lambda row: hmac.compare_digest(mac, _session_mac(row.key_sha256, prefix, expires)))

    def _principal(self, prefix: str, proves: Callable[[ApiKey], bool]) -> Principal | None:
        """The principal of the unrevoked key with this prefix, when `proves` accepts what
        the caller holds for it (the key itself, or a session MAC); None otherwise."""
        with self.store.session() as s:
            found = s.execute(select(ApiKey, Tenant.name).join(Tenant, Tenant.id == ApiKey.tenant_id)
                              .where(ApiKey.prefix == prefix)).first()
        if found is None:
            return None
        row, tenant = found
        if row.revoked_at is not None or not proves(row):
            return None
        return Principal(tenant, row.tenant_id, frozenset(row.scopes or []), row.prefix)

    def list(self, tenant: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            q = select(ApiKey, Tenant.name).join(Tenant, Tenant.id == ApiKey.tenant_id).order_by(ApiKey.id)
            if tenant is not None:
                q = q.where(Tenant.name == tenant)
            return [key_summary(r, t) for r, t in s.execute(q).all()]

    def revoke(self, prefix: str) -> dict[str, Any]:
        with self.store.session() as s:
            n = s.execute(update(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
                          .values(revoked_at=utcnow())).rowcount
            found = s.execute(select(ApiKey, Tenant.name).join(Tenant, Tenant.id == ApiKey.tenant_id)
                              .where(ApiKey.prefix == prefix)).first()
        if found is None:
            raise NotFoundError(f"no API key with prefix '{prefix}' (see `docintel keys list`)")
        return {**key_summary(*found), "revoked_now": bool(n)}


class CachedAuthenticator:
    """Known keys remembered for `ttl_s` seconds, so that a request costs no key lookup:
    a revoked key stops working within that time (docs/api.md). Unknown keys are not
    cached (each costs a lookup, and no one can fill the cache with them)."""

    def __init__(self, keys: ApiKeyStore, ttl_s: float = 10.0):
        self.keys, self.ttl_s = keys, ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> Principal | None:
        """The key's principal when it is remembered and fresh; None means "look it up"
        (no I/O here, so an event loop may call it)."""
        return self._fresh(_digest(key))

    def _fresh(self, digest: str) -> Principal | None:
        with self._lock:
            hit = self._cache.get(digest)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl_s else None

    def __call__(self, key: str) -> Principal | None:
        digest = _digest(key)
        found = self._fresh(digest)
        if found is not None:
            return found
        now = time.monotonic()
        found = (self.keys.authenticate_session(key) if key.startswith("dis_") else self.keys.authenticate(key))
        with self._lock:
            if found is None:
                self._cache.pop(digest, None)
            else:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now, found)
        return found


__all__ = ["SCOPES", "ApiKeyError", "ApiKeyStore", "CachedAuthenticator", "Principal"]
