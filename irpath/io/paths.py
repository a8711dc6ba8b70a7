"""Output folders: created with one-line errors instead of OSError tracebacks."""

from __future__ import annotations

from pathlib import Path

from irpath.errors import IrpathError


class OutputError(IrpathError):
    """An output path cannot be created or written."""


def make_output_dir(path) -> Path:
    """Create folder ``path`` (and its parents) or raise :class:`OutputError` naming it:
    an existing file, a parent that is a file, no permission, a read-only file system."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is a file, not a folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{path}: {parent} is a file, not a folder")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".irpath-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    return path
