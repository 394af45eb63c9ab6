"""Request dependencies: the runtime, who is calling (API key -> tenant + scopes), rate limits.

Routes declare what they need with the `Annotated` aliases at the bottom: `Reader`,
`Writer`, `Admin` (a Principal holding that scope), `Rt` (the process's Runtime).
"""
from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiProblem
from core.apikeys import Principal
from core.settings import Settings
from workers.runtime import Runtime

SESSION_COOKIE = "docintel_session"  # the web UI's sign-in (api/routes/session.py)
CSRF_HEADER = "X-DocIntel-UI"
_bearer = HTTPBearer(auto_error=False, description="An API key from `docintel keys create`.")


# Dependencies are `async def` and do their work inline when it cannot block: FastAPI runs a
# plain `def` dependency on a worker thread, and three thread hand-offs per request cost
# more CPU under load than the checks themselves. Only blocking I/O (a key lookup on a cache
# miss, a Redis-backed rate limit, the tenant row without auth) goes to a thread.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


Rt = Annotated[Runtime, Depends(get_runtime)]


class RateLimiter:
    """A sliding window per key (the `limits` library's sliding-window counter: constant
    work per request, unlike a moving window's log of every hit): in Redis when several
    API processes share the limits (the celery deployment), else in this process's memory."""

    def __init__(self, settings: Settings):
        from limits import parse, storage, strategies

        self.item = parse(settings.rate_limit)
        if settings.job_queue == "celery":
            backend = storage.RedisStorage(settings.redis_url, key_prefix=f"{settings.queue_prefix}:ratelimit")
        else:
            backend = storage.MemoryStorage()
        self.limiter = strategies.SlidingWindowCounterRateLimiter(backend)
        self.blocking = settings.job_queue == "celery"  # a network round trip per check

    def check(self, key: str) -> None:
        if self.limiter.hit(self.item, key):
            return
        stats = self.limiter.get_window_stats(self.item, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiProblem(429, "rate-limited", f"more than {self.item} requests for this key; retry in {retry} s",
                         headers={"Retry-After": str(retry)})


async def principal(request: Request, rt: Rt,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The caller, authenticated and within its rate limit."""
    settings = rt.settings
    if not settings.api_auth:
        who = await run_in_threadpool(lambda: Principal(settings.default_tenant, rt.store.tenant(settings.default_tenant).id,
                                                        frozenset({"read", "write", "admin"})))
        limit_key = f"ip:{request.client.host if request.client else '-'}"
    else:
        token = credentials.credentials if credentials is not None else None
        if not token:
            token = request.cookies.get(SESSION_COOKIE)
            if token and request.method not in ("GET", "HEAD", "OPTIONS") and \
                    request.headers.get(CSRF_HEADER) != "1":
                # A cookie rides along on any request the browser makes; a header only our
                # own scripts set proves the request came from the UI's pages (CSRF).
                raise ApiProblem(403, "forbidden", f"a request signed in by cookie must send '{CSRF_HEADER}: 1'")
        if not token:
            raise ApiProblem(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>' "
                             "(create one with `docintel keys create --tenant NAME`)",
                             headers={"WWW-Authenticate": "Bearer"})
        authenticate = request.app.state.authenticate
        found = authenticate.cached(token)
        if found is None:  # a database lookup
            found = await run_in_threadpool(authenticate, token)
        if found is None:
            raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked",
                             headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        who, limit_key = found, f"key:{found.key_prefix}"
    request.state.tenant = who.tenant
    limiter = request.app.state.rate_limiter
    if limiter.blocking:
        await run_in_threadpool(limiter.check, limit_key)
    else:
        limiter.check(limit_key)
    return who


def require(scope: str):
    async def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.allows(scope):
            raise ApiProblem(403, "forbidden", f"this API key lacks the '{scope}' scope "
                             f"(it has: {', '.join(sorted(who.scopes)) or 'none'})")
        return who

    return dependency


async def model_capacity(rt: Rt) -> None:
    """503 when too many answers already wait for the model: better a quick "retry in a
    few seconds" than a request holding a server thread for minutes."""
    from core.compute import MODEL_CALL

    waiting = MODEL_CALL.waiting()
    if waiting >= rt.settings.max_waiting_answers:
        raise ApiProblem(503, "busy", f"{waiting} answers are waiting for the model; retry shortly",
                         headers={"Retry-After": "5"})


ModelCapacity = Depends(model_capacity)

Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Admin", "ModelCapacity", "RateLimiter", "Reader", "Rt", "Writer", "get_runtime", "principal", "require"]
