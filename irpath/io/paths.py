"""Outputs: one guard for every command that writes, atomic writers, full-disk errors.

* :func:`make_output_dir` creates an output folder, with one-line errors.
* :func:`plan_outputs` is the guard: before any work, a command lists the files and
  folders it will write under ``--out``; it refuses, naming both paths, when one of them
  is an input, a file the model reads, or an existing file it did not create itself.
  What a command wrote is recorded in ``OUT/.irpath-outputs.json``, so re-running the
  same command over its own outputs is fine. Temporaries left by a killed run are
  removed there too.
* :func:`atomic_path` (and :func:`atomic_write_bytes`, ``_text``, ``_json``,
  :func:`atomic_save_npy`) writes to a temporary name beside the target and renames it
  into place when complete, so an output appears whole or not at all.
* :func:`environment_error` turns a full disk, a quota, a read-only file system or a
  denied write into a :class:`DiskError` (exit 2, one line, what to do);
  :func:`check_free_space` refuses a long write up front.

Paths are compared after ``os.path.realpath`` (symlinks, ``..``, a case-insensitive
file system through ``os.path.samefile``).
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import json
import os
import shutil
import uuid
from pathlib import Path

from irpath.errors import IrpathError

#: Name of the record of what irpath wrote in an output folder.
CLAIMS_FILE = ".irpath-outputs.json"
#: Marks a temporary: ``.<name>.irpath-tmp-<pid>-<token><suffix>`` beside its target.
TMP_MARK = ".irpath-tmp-"
#: errno values that are the user's environment, not a bug, with the remedy.
ENVIRONMENT_ERRNOS = {
    errno_mod.ENOSPC: ("no space left on device (ENOSPC)",
                       "free space and re-run the same command to resume"),
    errno_mod.EDQUOT: ("disk quota exceeded (EDQUOT)",
                       "free space (or raise the quota) and re-run the same command to resume"),
    errno_mod.EROFS: ("read-only file system (EROFS)",
                      "write to a writable --out, or remount it, and re-run the same command"),
    errno_mod.EACCES: ("permission denied (EACCES)",
                       "make it accessible or choose another --out, and re-run the same command"),
}


class OutputError(IrpathError):
    """An output path cannot be created or written."""


class DiskError(OutputError):
    """A write failed because of the environment: full disk, quota, read-only, no permission."""


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


# -- full disk and friends --------------------------------------------------------------
def environment_errno(exc: BaseException) -> int | None:
    """The ENOSPC / EDQUOT / EROFS / EACCES behind ``exc`` (or its causes), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            return exc.errno
        if not isinstance(exc, OSError):  # e.g. TensorFlow's own errors name the errno in words
            text = str(exc)
            for code in (errno_mod.ENOSPC, errno_mod.EDQUOT, errno_mod.EROFS):
                if os.strerror(code) in text:
                    return code
        exc = exc.__cause__ or exc.__context__
    return None


def environment_error(exc: BaseException, path) -> DiskError | None:
    """A one-line :class:`DiskError` for ``exc`` when it is an environment errno, else None.

    Args:
        exc: the exception raised by a write.
        path: the file being written (named when the exception names none).
    """
    code = environment_errno(exc)
    if code is None:
        return None
    words, remedy = ENVIRONMENT_ERRNOS[code]
    where = getattr(exc, "filename", None) or path
    if isinstance(where, str) and TMP_MARK in Path(where).name:
        where = path  # the user's name, not the temporary's
    return DiskError(f"{where}: {words}; {remedy}")


def check_free_space(path, needed_bytes: int, what: str = "the outputs") -> None:
    """Refuse up front, with both numbers, when ``needed_bytes`` exceed the free space at ``path``.

    Args:
        path: the output folder (or a file in it; the nearest existing parent is asked).
        needed_bytes: the known size of what will be written there.
        what: names the outputs in the message.
    """
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed_bytes > free:
        raise DiskError(f"{path}: {what} need {_size(needed_bytes)} but only {_size(free)} are free; "
                        "free space or choose another --out, then re-run the same command")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


# -- atomic writers ---------------------------------------------------------------------
def temporary_name(path) -> Path:
    """A hidden temporary beside ``path`` keeping its suffix (Keras and numpy look at it)."""
    path = Path(path)
    suffix = "".join(path.suffixes[-1:]) if path.suffix and not path.name.startswith(".") else ""
    stem = path.name[: len(path.name) - len(suffix)]
    return path.with_name(f".{stem}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The block writes a file (or a folder) at the temporary path. On any exception
    the temporary is removed and ``path`` is left as it was; an environment errno
    (full disk, ...) becomes a :class:`DiskError` naming ``path``. A folder replaces
    an existing one only after it is complete.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            old = temporary_name(path)
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        _remove(tmp)
        err = environment_error(exc, path) if isinstance(exc, Exception) else None
        if err is not None:
            raise err from None
        raise


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (and a final newline) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def atomic_save_npy(path, array) -> Path:
    """``np.save(path, array)`` atomically (``path`` is used as given: no ``.npy`` added)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    return Path(path)


def remove_temporaries(folder, recursive: bool = True) -> list[Path]:
    """Remove the temporaries under ``folder`` left by killed irpath processes.

    Only names carrying :data:`TMP_MARK` are touched, and only when the process that
    made them (its pid is in the name) is gone, so a concurrent run keeps its own.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(f"*{TMP_MARK}*") if recursive else folder.glob(f"*{TMP_MARK}*")
    removed = []
    for p in sorted(found, key=lambda q: len(q.parts), reverse=True):
        pid = p.name.split(TMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        _remove(p)
        removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the guard --------------------------------------------------------------------------
def _real(p) -> str:
    return os.path.normcase(os.path.realpath(p))


def _keys(paths) -> dict:
    """``{realpath or (st_dev, st_ino): the path as given}`` of ``paths``."""
    keys = {}
    for p in paths:
        keys[_real(p)] = str(p)
        with contextlib.suppress(OSError):
            st = os.stat(p)
            keys[(st.st_dev, st.st_ino)] = str(p)
    return keys


def _hit(target: Path, real: str, keys: dict, folder: bool, inside_counts: bool) -> str | None:
    """The path of ``keys`` that ``target`` is (or holds, for a folder; or lies in)."""
    if real in keys:
        return keys[real]
    with contextlib.suppress(OSError):
        st = os.stat(target)
        if (st.st_dev, st.st_ino) in keys:
            return keys[(st.st_dev, st.st_ino)]
    if not (folder or inside_counts):
        return None
    for k, given in keys.items():
        if isinstance(k, str) and ((folder and _inside(k, real)) or (inside_counts and _inside(real, k))):
            return given
    return None


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def input_files(paths) -> list[Path]:
    """``paths`` plus the files each one stands for: an ENVI header's data file (any
    file of the header's stem beside it)."""
    import glob

    out = []
    for p in map(Path, paths):
        out.append(p)
        if p.suffix.lower() == ".hdr":
            stem = p.with_suffix("")
            out += [Path(q) for q in glob.glob(glob.escape(str(stem)) + ".*") if Path(q) != p]
            out += [stem] if stem.is_file() else []
    return out


def same_or_inside(path, folder) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (after resolving symlinks and ``..``)."""
    return _inside(_real(path), _real(folder))


def read_claims(out_dir) -> dict[str, str]:
    """``{relative path: command}`` of what irpath wrote in ``out_dir`` ({} when none)."""
    f = Path(out_dir) / CLAIMS_FILE
    try:
        doc = json.loads(f.read_text())
        return {str(k): str(v) for k, v in doc.get("outputs", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def plan_outputs(out_dir, files, *, command: str, inputs=(), model_files=(), owned=()) -> list[Path]:
    """The guard of a command that writes: check its planned outputs before any work.

    Args:
        out_dir: the command's output folder (created here).
        files: what it will write, relative to ``out_dir``; a name ending in ``/`` is a
            folder the command writes into (it may hold only the command's own files).
        command: the command's name, recorded as the outputs' owner ("predict", ...).
        inputs: files or folders the command reads (a folder only counts as a whole).
        model_files: files or folders the model is read from.
        owned: relative names the command already owns without a record (outputs of
            irpath versions before the record existed).

    Returns:
        The planned output paths.

    Raises:
        OutputError: one line naming the planned output and the input, model file or
            foreign file it would replace.
    """
    out = make_output_dir(out_dir)
    claims = read_claims(out)
    ins, models = _keys(inputs), _keys(model_files)
    planned = []
    for name in dict.fromkeys(str(f) for f in files):
        folder = name.endswith("/")
        rel = name.rstrip("/")
        target = out / rel
        real = _real(target)
        for keys, kind, inside_counts in ((ins, "an input", False), (models, "a file the model reads", True)):
            hit = _hit(target, real, keys, folder, inside_counts)
            if hit is not None:
                raise OutputError(f"{target}: would overwrite {hit}, {kind}; choose another --out")
        if target.exists() and claims.get(rel) != command and rel not in owned:
            if not (folder and target.is_dir() and not any(target.iterdir())):
                who = claims.get(rel)
                what = f"was written by irpath {who}" if who else "was not written by irpath " + command
                raise OutputError(f"{target}: exists and {what}; refusing to replace it (choose "
                                  "another --out, or move it away)")
        planned.append(target)
    remove_temporaries(out)
    new = {**claims, **{str(p.relative_to(out)): command for p in planned}}
    if new != claims:
        try:
            atomic_write_json(out / CLAIMS_FILE, {"outputs": new}, indent=1)
        except OSError as exc:
            raise environment_error(exc, out / CLAIMS_FILE) or OutputError(
                f"{out / CLAIMS_FILE}: cannot write ({exc.strerror or exc})") from None
    return planned
