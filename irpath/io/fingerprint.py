"""One data fingerprint: what a run or a cache was made from, cheap to recompute.

A fingerprint is a sha256 over each input file's path, size and modification time
(a folder: every file below it) and any extra JSON-able settings. Reading no file
content keeps it fast on multi-GB cubes; replacing, editing or touching a file
changes it. Values carry their scheme (``sha256:...``) so records of older irpath
versions, made otherwise, can be told apart (:func:`comparable`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from irpath.errors import MissingFileError

SCHEME = "sha256:"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def fingerprint(paths, extra=None) -> str:
    """The fingerprint of ``paths`` (files or folders, or one path) and ``extra``.

    Args:
        paths: a path or an iterable of paths; None entries are skipped (e.g. an absent mask).
        extra: settings the result depends on besides the files (JSON-able), or None.

    Raises:
        MissingFileError: a path does not exist.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows = []
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if not p.exists():
            raise MissingFileError(f"{p}: no such file or folder")
        for f in _files(p):
            st = f.stat()
            rows.append([str(f), st.st_size, st.st_mtime_ns])
    doc = json.dumps({"files": rows, "extra": extra}, sort_keys=True, default=str)
    return SCHEME + hashlib.sha256(doc.encode()).hexdigest()


def comparable(a, b) -> bool:
    """True when both values are fingerprints of this scheme (an older record is not)."""
    return isinstance(a, str) and isinstance(b, str) and a.startswith(SCHEME) and b.startswith(SCHEME)
