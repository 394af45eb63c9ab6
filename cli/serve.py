"""`docintel serve` (the HTTP API on uvicorn) and `docintel keys ...` (its API keys)."""
from __future__ import annotations

from typing import Optional

import typer

from cli.output import JsonOpt, emit, fail, get_settings
from core.errors import DocIntelError

keys_app = typer.Typer(help="Create, list and revoke API keys (each belongs to one tenant).", no_args_is_help=True)


def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Address to bind (default DOCINTEL_API_HOST, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default DOCINTEL_API_PORT, 8080)."),
    workers: int = typer.Option(1, "--workers", min=1, help="API processes (needs the celery job queue when > 1)."),
) -> None:
    """Serve the HTTP API. With no broker configured, jobs run inside this process (embedded);
    with DOCINTEL_JOB_QUEUE=celery it only enqueues them for `docintel worker`."""
    import uvicorn

    settings = get_settings()
    if workers > 1 and settings.job_queue == "embedded":
        fail(ValueError("--workers > 1 needs DOCINTEL_JOB_QUEUE=celery: embedded jobs run inside the one API process"), False)
    uvicorn.run("cli.composition:app_from_settings", factory=True, host=host or settings.api_host, port=port or settings.api_port,
                workers=workers, log_config=None, access_log=False, timeout_graceful_shutdown=30)


def _keys():
    from core.apikeys import ApiKeyStore
    from core.store import Store

    return ApiKeyStore(Store.from_settings(get_settings()))


@keys_app.command("create")
def keys_create(
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Tenant name (default from settings)."),
    name: str = typer.Option("default", "--name", help="What the key is for."),
    scope: list[str] = typer.Option(["read", "write"], "--scope", help="read | write | admin (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    try:
        key, row = _keys().create(tenant or get_settings().default_tenant, name, scope)
    except DocIntelError as exc:
        fail(exc, as_json)
    emit({**row, "key": key}, as_json, f"{key}\n(tenant {row['tenant']}, scopes {', '.join(row['scopes'])}; "
                                      "shown only now: store it)")


@keys_app.command("list")
def keys_list(tenant: Optional[str] = typer.Option(None, "--tenant"), as_json: bool = JsonOpt) -> None:
    """Keys (their prefixes, never the keys)."""
    rows = _keys().list(tenant)
    emit({"keys": rows}, as_json, "\n".join(
        f"{r['prefix']}  {r['tenant']:16} {','.join(r['scopes']):18} {'revoked' if r['revoked'] else 'active':8} {r['name']}"
        for r in rows) or "no keys")


@keys_app.command("revoke")
def keys_revoke(prefix: str = typer.Argument(..., help="The key's prefix (from `keys list`)."), as_json: bool = JsonOpt) -> None:
    """Revoke a key: requests with it are refused from now on."""
    try:
        out = _keys().revoke(prefix)
    except DocIntelError as exc:
        fail(exc, as_json)
    emit(out, as_json, f"revoked {out['prefix']} ({out['tenant']})")
