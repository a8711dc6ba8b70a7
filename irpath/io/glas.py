"""The Warwick-QU / GlaS gland data set, read from its own folder layout.

A GlaS folder holds ``<name>.bmp`` RGB images (``train_1``, ``testA_3``, ...),
``<name>_anno.bmp`` instance label maps (0 background, 1..n glands) and
``Grade.csv`` with the columns ``name, Patient ID, grade (GlaS), grade
(Sirinukunwattana et al. 2015)``; values carry a leading space (`` benign``,
`` malignant``; `` healthy``, `` adenomatous``, `` moderately differentiated``,
...). Preparation follows BenTaieb et al. (2016), Sec. 3.1: resize to
500 x 500, cut non-overlapping 250 x 250 crops, split 70/10/20 by image.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, DataFileError, MissingFileError
from irpath.io.labels import read_label_image

CLASSES = ("benign", "malignant")
# Sirinukunwattana et al. (2015) grades: healthy and adenomatous tissue is benign,
# every adenocarcinoma differentiation grade is malignant.
_FINE_BENIGN = ("healthy", "adenomatous", "benign")


@dataclass(frozen=True)
class GlasRecord:
    """One GlaS image: ``image`` (H, W, 3) float32 [0, 255], ``labels`` (H, W) int32 instances."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    grade: str          # "benign" or "malignant"
    patient: str

    @property
    def cls(self) -> int:
        """0 benign, 1 malignant."""
        return CLASSES.index(self.grade)


@dataclass(frozen=True)
class GlasCrops:
    """Crops: images (M, c, c, 3) float32, labels (M, c, c) int32, classes (M,), names (M,)."""

    images: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    names: list

    @property
    def masks(self) -> np.ndarray:
        """(M, c, c, 1) float32 gland masks (labels > 0)."""
        return (self.labels > 0).astype(np.float32)[..., None]

    @property
    def one_hot(self) -> np.ndarray:
        """(M, 2) float32 one-hot classes (benign, malignant)."""
        return np.eye(len(CLASSES), dtype=np.float32)[self.classes]


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _grade(value: str, fine: bool, where: str) -> str:
    v = value.strip().lower()
    if not fine:
        if v in CLASSES:
            return v
    elif v:
        return "benign" if v in _FINE_BENIGN else "malignant"
    raise DataFileError(f"{where}: unknown grade {value!r} (expected benign or malignant)")


def read_grades(path) -> dict:
    """``Grade.csv`` -> {name: (grade, patient)}; prefers the GlaS grade column.

    Column names are matched without case or surrounding spaces; if the
    ``grade (GlaS)`` column is missing or empty for a row, the Sirinukunwattana
    et al. (2015) grade is mapped (healthy/adenomatous -> benign, else malignant).
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataFileError(f"{path}: empty grade table")
    header = [h.strip().lower() for h in rows[0]]
    col = lambda pred: next((i for i, h in enumerate(header) if pred(h)), None)  # noqa: E731
    i_name = col(lambda h: h == "name")
    i_patient = col(lambda h: "patient" in h)
    i_glas = col(lambda h: h.startswith("grade") and "glas" in h)
    i_fine = col(lambda h: h.startswith("grade") and "sirinukunwattana" in h)
    if i_glas is None and i_fine is None:  # a plain "grade" column
        i_glas = col(lambda h: h.startswith("grade"))
    if i_name is None or (i_glas is None and i_fine is None):
        raise DataFileError(f"{path}: needs a 'name' and a 'grade' column, found {rows[0]}")
    out = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cell = lambda i: row[i] if i is not None and i < len(row) else ""  # noqa: E731
        where = f"{path}: row {n}"
        if cell(i_glas).strip():
            grade = _grade(cell(i_glas), False, where)
        else:
            grade = _grade(cell(i_fine), True, where)
        out[cell(i_name).strip()] = (grade, cell(i_patient).strip())
    return out


def read_glas(folder, prefixes=None) -> list:
    """Read every annotated image of a GlaS folder.

    Args:
        folder: the folder with ``*.bmp``, ``*_anno.bmp`` and ``Grade.csv``.
        prefixes: keep names starting with one of these (e.g. ``("train",)``); default all.

    Returns:
        list of :class:`GlasRecord`, in natural name order (train_2 before train_10).

    Raises:
        MissingFileError: no folder, no ``Grade.csv``, no images, or an image without annotation.
        DataFileError: an image missing from ``Grade.csv`` or a bad grade/annotation.
    """
    from irpath.io.rgb import read_rgb

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such folder")
    grade_files = [p for p in folder.iterdir() if p.name.lower() == "grade.csv"]
    if not grade_files:
        raise MissingFileError(f"{folder / 'Grade.csv'}: no such file")
    grades = read_grades(grade_files[0])
    images = [p for p in folder.glob("*.bmp") if not p.stem.endswith("_anno")]
    if prefixes is not None:
        images = [p for p in images if p.stem.startswith(tuple(prefixes))]
    if not images:
        raise MissingFileError(f"{folder}: no GlaS images (*.bmp)")
    records = []
    for path in sorted(images, key=lambda p: _natural_key(p.stem)):
        anno = path.with_name(f"{path.stem}_anno.bmp")
        if not anno.exists():
            raise MissingFileError(f"{anno}: no annotation for {path.name}")
        if path.stem not in grades:
            raise DataFileError(f"{grade_files[0]}: no grade for {path.stem}")
        image = read_rgb(path).data
        labels = read_label_image(anno)
        if labels.shape != image.shape[:2]:
            raise DataFileError(f"{anno}: shape {labels.shape} differs from the image's "
                                f"{image.shape[:2]}")
        grade, patient = grades[path.stem]
        records.append(GlasRecord(path.stem, image, labels, grade, patient))
    return records


def prepare_glas(records, size: int = 500, crop: int = 250) -> GlasCrops:
    """Resize each image to size x size and cut non-overlapping crop x crop tiles (row-major).

    Images are resized bilinearly, label maps by nearest neighbour (instances
    stay integers). ``size // crop`` tiles per side; a remainder is dropped.
    """
    from PIL import Image

    if crop > size or crop < 1:
        raise ConfigError(f"crop {crop} must be in [1, size={size}]")
    per_side = size // crop
    images, labels, classes, names = [], [], [], []
    for rec in records:
        rgb = Image.fromarray(np.clip(np.rint(rec.image), 0, 255).astype(np.uint8), "RGB")
        img = np.asarray(rgb.resize((size, size), Image.BILINEAR), np.float32)
        lab = np.asarray(Image.fromarray(rec.labels.astype(np.int32), "I")
                         .resize((size, size), Image.NEAREST)).astype(np.int32)
        for i in range(per_side):
            for j in range(per_side):
                sl = (slice(i * crop, (i + 1) * crop), slice(j * crop, (j + 1) * crop))
                images.append(img[sl])
                labels.append(lab[sl])
                classes.append(rec.cls)
                names.append(rec.name)
    return GlasCrops(np.stack(images), np.stack(labels), np.asarray(classes, np.int64), names)


def split_by_image(names, fractions=(0.7, 0.1, 0.2), seed: int = 0) -> dict:
    """Split items into train/val/test so that all items of one image fall in one part.

    Args:
        names: (M,) source-image name of each item (e.g. ``GlasCrops.names``).
        fractions: (train, val, test) fractions of the distinct images; sum 1.
        seed: the images are shuffled by ``np.random.default_rng(seed)``.

    Returns:
        ``{"train": idx, "val": idx, "test": idx}``, sorted int index arrays into
        ``names``. Image counts are rounded by largest remainder (ties: earlier part).
    """
    fractions = np.asarray(fractions, float)
    if fractions.shape != (3,) or (fractions < 0).any() or abs(fractions.sum() - 1) > 1e-6:
        raise ConfigError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    names = np.asarray([str(n) for n in names])
    unique = sorted(set(names.tolist()), key=_natural_key)
    order = np.random.default_rng(seed).permutation(len(unique))
    exact = np.round(fractions * len(unique), 9)   # 0.7 * 85 is 59.4999...: make ties exact
    counts = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - counts), kind="stable")[: len(unique) - counts.sum()]:
        counts[k] += 1
    bounds = np.concatenate([[0], np.cumsum(counts)])
    parts = {}
    for key, lo, hi in zip(("train", "val", "test"), bounds[:-1], bounds[1:]):
        chosen = {unique[i] for i in order[lo:hi]}
        parts[key] = np.flatnonzero(np.isin(names, list(chosen))) if chosen else np.array([], int)
    return parts
