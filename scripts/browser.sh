#!/usr/bin/env bash
# Make sure Debian's Chromium is there for the web UI's browser tests (tests/web); install it
# if not (needs root). Playwright drives this system browser: it never downloads its own.
set -uo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
if ! command -v chromium >/dev/null; then
  echo "browser: chromium not installed, installing Debian's chromium" >&2
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! chromium --version >/dev/null 2>&1; then
  echo "browser: ERROR chromium still not available: the browser tests cannot run" >&2
  exit 1
fi
