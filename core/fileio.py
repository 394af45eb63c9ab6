"""File helpers: atomic writes (temp file in the same folder, fsync, rename, fsync the folder) and streamed sha256."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode("utf-8"))


def remove_files(folder: Path, names: tuple[str, ...] | list[str]) -> None:
    """Delete these files of a folder, with any temp files an interrupted atomic write of them
    left, then the folder itself once nothing else is in it."""
    folder = Path(folder)
    for name in names:
        (folder / name).unlink(missing_ok=True)
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:  # absent, or other files still in it
        pass


def sha256_file(path: Path, block_size: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MB blocks (model files are hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(block_size):
            h.update(block)
    return h.hexdigest()


class WatchedJson:
    """A JSON file that another process may replace (atomically) at any time, re-read only
    when it changed. Index readers ask on every search whether a writer saved a newer
    version: a stat costs microseconds where open, read and parse cost tens of them."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._signature: tuple[int, int, int] | None = None
        self._data: dict = {}

    def read(self) -> dict:
        """The file's current content ({} when there is no file)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._signature, self._data = None, {}
            return {}
        # An atomic replace is a new inode; an in-place write changes mtime or size.
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature != self._signature:
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
            self._signature = signature
        return self._data
