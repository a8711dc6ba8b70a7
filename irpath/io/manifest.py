"""Manifests: CSV files listing spots and their spot-level labels.

Header ``image,label`` plus optional ``mask`` (ground-truth region, used only
for evaluation) and ``tissue`` (tissue mask). Paths are relative to the CSV's
folder. ``label`` is 1 = cancer, 0 = cancer-free. Every row is checked up front
and all problems are reported together in one :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import os
import dataclasses
from pathlib import Path

from irpath.errors import ManifestError, MissingFileError

REQUIRED_COLUMNS = ("image", "label")
OPTIONAL_COLUMNS = ("mask", "tissue")
LABELS = {"0": 0, "1": 1}


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    """One image. Paths are absolute; ``mask``/``tissue`` are None when not given.
    ``label`` is an integer class, or the path of a label image when the manifest
    was read with ``labels=None``."""

    image: Path
    label: int | Path
    mask: Path | None = None
    tissue: Path | None = None


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A validated manifest: the CSV path and its rows, in file order."""

    path: Path
    rows: tuple[ManifestRow, ...]

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.rows]


def _absolute(p: Path) -> Path:
    """``p`` resolved, or made absolute when resolving fails (a symlink loop)."""
    try:
        return p.resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(p))


def _path_problem(p: Path) -> str | None:
    """Why ``p`` cannot be read, or None."""
    try:
        p.resolve(strict=True)
    except RuntimeError:
        return "is a symlink loop"
    except OSError:
        return "not found"
    return None


def _unreadable(row: ManifestRow) -> list[str]:
    """Problems found by opening each file of a row (headers only; cubes memory-mapped)."""
    from irpath.errors import IrpathError
    from irpath.io import read_cube, read_mask

    problems = []
    try:
        shape = read_cube(row.image, mmap=True).shape
    except IrpathError as exc:
        return [str(exc)]
    except OSError as exc:
        return [f"{row.image}: cannot read ({exc.strerror or exc})"]
    for col in ("mask", "tissue"):
        f = getattr(row, col)
        if f is not None:
            try:
                read_mask(f, shape[:2])
            except IrpathError as exc:
                problems.append(str(exc))
    return problems


def read_manifest(path, *, require_masks: bool = False, labels: dict[str, int] | None = LABELS,
                  check_files: bool = False) -> Manifest:
    """Read and validate a manifest CSV.

    Args:
        path: the CSV file.
        require_masks: if True, every cancer row (label 1) must name a ``mask``.
        labels: the accepted label strings and their integer classes (default
            1 = cancer, 0 = cancer-free); None when ``label`` names a label image file.
        check_files: also open every image and mask (headers only) so unreadable
            files are reported up front, all at once, before any work starts.

    Raises:
        MissingFileError: the CSV itself does not exist.
        ManifestError: bad header or any bad rows (all listed, with line numbers).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such manifest file")
    base = path.parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            records = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(path, [f"not a readable CSV ({exc})"]) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(path, [f"header must contain columns image,label (missing: "
                                   f"{', '.join(missing)}; found: {','.join(header) or 'nothing'})"])
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ManifestError(path, [f"unknown column(s) {', '.join(unknown)}; allowed: image, label, "
                                   "mask, tissue"])
    problems, rows, seen = [], [], {}
    for lineno, rec in enumerate(records, start=2):
        where = f"line {lineno}"
        if None in rec:
            problems.append(f"{where}: {len(rec[None])} more field(s) than the header's "
                            f"{len(header)} columns")
            continue
        rec = {(k or "").strip(): (v or "").strip() for k, v in rec.items() if k is not None}
        image = rec.get("image", "")
        if not image:
            problems.append(f"{where}: empty image path")
            continue
        image_path = _absolute(base / image)
        ok = True
        why = _path_problem(image_path)
        if why:
            problems.append(f"{where}: image {image} {why}")
            ok = False
        key = str(image_path)
        if key in seen:
            problems.append(f"{where}: duplicate image {image} (first on line {seen[key]})")
            ok = False
        else:
            seen[key] = lineno
        raw_label = rec.get("label", "")
        if labels is None:
            label = _absolute(base / raw_label) if raw_label else None
            why = "is empty" if label is None else _path_problem(label)
            if why:
                problems.append(f"{where}: label image {raw_label} {why}")
                ok = False
        else:
            label = labels.get(raw_label)
            if label is None:
                known = ", ".join(f"{k}" for k in labels)
                hint = " (use 1 = cancer, 0 = cancer-free)" if labels is LABELS else f" (known: {known})"
                problems.append(f"{where}: unknown label {raw_label!r}{hint}")
                ok = False
        extra = {}
        for col in OPTIONAL_COLUMNS:
            val = rec.get(col, "")
            if val:
                p = _absolute(base / val)
                why = _path_problem(p)
                if why:
                    problems.append(f"{where}: {col} {val} {why}")
                    ok = False
                extra[col] = p
        if require_masks and label == 1 and "mask" not in extra:
            problems.append(f"{where}: cancer spot {image} has no mask (needed for Dice)")
            ok = False
        if ok:
            rows.append(ManifestRow(image=image_path, label=label, **extra))
    if not records:
        problems.append("no rows")
    if not problems and check_files:
        for lineno, row in enumerate(rows, start=2):
            problems += [f"line {lineno}: {p}" for p in _unreadable(row)]
    if problems:
        raise ManifestError(path, problems)
    return Manifest(path=path, rows=tuple(rows))
