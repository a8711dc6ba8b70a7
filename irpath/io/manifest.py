"""Manifests: CSV files listing spots and their spot-level labels.

Header ``image,label`` plus optional ``mask`` (ground-truth region, used only
for evaluation) and ``tissue`` (tissue mask). Paths are relative to the CSV's
folder. ``label`` is 1 = cancer, 0 = cancer-free. Every row is checked up front
and all problems are reported together in one :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from irpath.errors import ManifestError, MissingFileError

REQUIRED_COLUMNS = ("image", "label")
OPTIONAL_COLUMNS = ("mask", "tissue")
LABELS = {"0": 0, "1": 1}


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    """One spot. Paths are absolute; ``mask``/``tissue`` are None when not given."""

    image: Path
    label: int
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


def read_manifest(path, *, require_masks: bool = False) -> Manifest:
    """Read and validate a manifest CSV.

    Args:
        path: the CSV file.
        require_masks: if True, every cancer row (label 1) must name a ``mask``.

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
        rec = {(k or "").strip(): (v or "").strip() for k, v in rec.items() if k is not None}
        where = f"line {lineno}"
        image = rec.get("image", "")
        if not image:
            problems.append(f"{where}: empty image path")
            continue
        image_path = (base / image).resolve()
        ok = True
        if not image_path.exists():
            problems.append(f"{where}: image {image} not found")
            ok = False
        key = str(image_path)
        if key in seen:
            problems.append(f"{where}: duplicate image {image} (first on line {seen[key]})")
            ok = False
        else:
            seen[key] = lineno
        label = LABELS.get(rec.get("label", ""))
        if label is None:
            problems.append(f"{where}: unknown label {rec.get('label', '')!r} (use 1 = cancer, "
                            "0 = cancer-free)")
            ok = False
        extra = {}
        for col in OPTIONAL_COLUMNS:
            val = rec.get(col, "")
            if val:
                p = (base / val).resolve()
                if not p.exists():
                    problems.append(f"{where}: {col} {val} not found")
                    ok = False
                extra[col] = p
        if require_masks and label == 1 and "mask" not in extra:
            problems.append(f"{where}: cancer spot {image} has no mask (needed for Dice)")
            ok = False
        if ok:
            rows.append(ManifestRow(image=image_path, label=label, **extra))
    if not records:
        problems.append("no rows")
    if problems:
        raise ManifestError(path, problems)
    return Manifest(path=path, rows=tuple(rows))
