"""The web UI's sign-in: an API key exchanged for an HttpOnly session cookie that every /v1
route accepts, with a CSRF header for writes; and the UI page itself."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow  # an app over real stores (the PostgreSQL variant is also `integration`)


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def fresh_client(api):
    from fastapi.testclient import TestClient

    return TestClient(api["client"].app)


def test_sign_in_sets_an_httponly_cookie_that_the_v1_routes_accept(api):
    c = fresh_client(api)
    r = c.post("/v1/session", json={"api_key": key_of(api["acme"])})
    assert r.status_code == 200 and r.json()["tenant"] == "acme" and "write" in r.json()["scopes"]
    cookie = r.headers["set-cookie"]
    assert "docintel_session=dis_" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert key_of(api["acme"]) not in cookie  # the key itself never travels back
    assert c.get("/v1/session").json()["tenant"] == "acme"
    assert c.get("/v1/collections").status_code == 200
    # a write signed in by cookie needs the UI's header (a cross-site form cannot send it)
    refused = c.post("/v1/collections", json={"name": "from-cookie"})
    assert refused.status_code == 403 and "X-DocIntel-UI" in refused.json()["detail"]
    made = c.post("/v1/collections", json={"name": "from-cookie"}, headers={"X-DocIntel-UI": "1"})
    assert made.status_code == 201
    assert c.delete("/v1/session").status_code == 204
    assert c.get("/v1/session").status_code == 401


def test_a_wrong_key_is_a_401_with_a_message_and_sets_nothing(api):
    c = fresh_client(api)
    r = c.post("/v1/session", json={"api_key": "dik_nope_nope"})
    assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]
    assert "set-cookie" not in r.headers
    assert c.post("/v1/session", json={}).status_code == 422


def test_a_forged_or_expired_session_is_refused_and_revocation_ends_sessions(api):
    from core.apikeys import ApiKeyStore

    rt = api["rt"]
    keys = ApiKeyStore(rt.store)
    key, _ = keys.create("acme", "ui", ["read"])
    token, who, _ = keys.session_token(key, 3600)
    assert keys.authenticate_session(token).tenant == "acme"
    prefix, expires, mac = token.removeprefix("dis_").split(".")
    assert keys.authenticate_session(f"dis_{prefix}.{int(expires) + 999}.{mac}") is None  # a longer life, same MAC
    assert keys.authenticate_session(f"dis_{prefix}.{expires}.{'0' * len(mac)}") is None
    expired, _, _ = keys.session_token(key, -1)
    assert keys.authenticate_session(expired) is None
    keys.revoke(who.key_prefix)
    assert keys.authenticate_session(token) is None
    c = fresh_client(api)
    c.cookies.set("docintel_session", token)
    time.sleep(0.35)  # the fixture's key cache lasts 0.3 s
    assert c.get("/v1/collections").status_code == 401


def test_a_session_sees_only_its_tenant(api):
    c = fresh_client(api)
    c.post("/v1/collections", json={"name": "acme-only"}, headers=api["acme"]).raise_for_status()
    c.post("/v1/session", json={"api_key": key_of(api["globex"])}).raise_for_status()
    names = [x["name"] for x in c.get("/v1/collections").json()["collections"]]
    assert "acme-only" not in names
    assert c.get("/v1/collections/acme-only/documents").status_code == 404


def test_the_ui_page_and_its_assets_are_served_with_a_strict_policy(api):
    c = fresh_client(api)
    page = c.get("/")
    assert page.status_code == 200 and '<script type="module" src="/ui/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert c.get("/ui/app.js").status_code == 200 and c.get("/ui/app.css").status_code == 200
    assert "/" not in c.get("/openapi.json").json()["paths"]  # the page is not an API route


def test_evaluation_reports_are_404_for_unknown_runs(api):
    c = api["client"]
    assert c.get("/v1/evaluations/nope/report", headers=api["acme"]).status_code == 404
    assert c.get("/v1/evaluations/a/compare/b/report", headers=api["acme"]).status_code == 404
