"""The browser UI: one page (templates/index.html) and its script and styles (static/).

It talks to the server only through the public `/v1` routes, signed in with an HttpOnly
session cookie (api/routes/session.py), so nothing works in the UI that does not work
over the API. No build step: plain ES modules and CSS, served by the API app
(`api.app._web_ui` mounts them). This package imports nothing of ours.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent
INDEX_HTML = ROOT / "templates" / "index.html"
STATIC_DIR = ROOT / "static"

__all__ = ["INDEX_HTML", "ROOT", "STATIC_DIR"]
