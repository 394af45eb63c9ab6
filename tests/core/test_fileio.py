"""Atomic writes and the watched manifest that index readers poll on every search."""
from __future__ import annotations

import os

import pytest

from core.fileio import WatchedJson, atomic_write_json

pytestmark = pytest.mark.unit


def test_a_watched_file_is_read_again_only_when_it_changes(tmp_path):
    path = tmp_path / "manifest.json"
    watched = WatchedJson(path)
    assert watched.read() == {}  # not written yet
    atomic_write_json(path, {"version": 1})
    assert watched.read() == {"version": 1}
    first = watched.read()
    assert watched.read() is first  # unchanged: served without reading the file

    atomic_write_json(path, {"version": 2})  # another process saves: a new file renamed over it
    assert watched.read() == {"version": 2}

    path.write_text('{"version": 3}')  # same size, written in place, a later mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert watched.read() == {"version": 3}

    path.unlink()
    assert watched.read() == {}
