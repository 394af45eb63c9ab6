"""Browser sign-in for the web UI: an API key is exchanged for an HttpOnly session cookie.

The cookie carries a session token, never the key (core.apikeys.ApiKeyStore.session_token);
every `/v1` route accepts it in place of `Authorization: Bearer`, so the UI uses the same
routes as any client. Requests it makes that change something also send `X-DocIntel-UI: 1`.
"""
from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SESSION_COOKIE, Reader, Rt
from api.errors import ApiProblem
from core.apikeys import ApiKeyStore

router = APIRouter(prefix="/v1", tags=["session"])


class SignIn(BaseModel):
    api_key: str = Field(min_length=1, max_length=500, description="A key from `docintel keys create`.")


def _who(who) -> dict:
    return {"tenant": who.tenant, "scopes": sorted(who.scopes), "key_prefix": who.key_prefix}


@router.post("/session", summary="Sign in with an API key: sets the web UI's HttpOnly session cookie")
async def sign_in(body: SignIn, request: Request, response: Response, rt: Rt) -> dict:
    if not rt.settings.api_auth:
        raise ApiProblem(409, "no-auth", "this server runs without API keys (DOCINTEL_API_AUTH=false): no sign-in needed")
    made = await run_in_threadpool(ApiKeyStore(rt.store).session_token, body.api_key.strip(), rt.settings.session_ttl_s)
    if made is None:
        raise ApiProblem(401, "unauthorized", "that API key is unknown or revoked: check it, or ask an admin for a "
                         "new one (`docintel keys create --tenant NAME`)")
    token, who, expires = made
    response.set_cookie(SESSION_COOKIE, token, max_age=int(rt.settings.session_ttl_s), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return {**_who(who), "expires_at": expires}


@router.get("/session", summary="Who is signed in (by cookie or by key)")
def current_session(who: Reader) -> dict:
    return _who(who)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out: clears the session cookie")
def sign_out() -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
