"""The multi-loss method's data: a GlaS folder or a manifest, split by image, as tiles.

* **GlaS folder** (``*.bmp``, ``*_anno.bmp``, ``Grade.csv``;
  :func:`irpath.io.glas.read_glas`): images are split 70/10/20 by image
  (:func:`irpath.io.glas.split_by_image`); training and validation use the
  resized images' non-overlapping tiles (Sec. 3.1), evaluation the held-out
  test images, resized whole.
* **Manifest** CSV with the columns ``image,label,class``: ``image`` an RGB file,
  ``label`` its instance (or 0/1 gland) label image (:func:`irpath.io.labels.read_label_image`:
  png/tif/bmp/npy/npz/mat, 0 = background), ``class`` ``benign``/``malignant``
  (or 0/1). Paths are relative to the CSV. Training holds out a part of the
  rows, by image, for validation; evaluation uses every row.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, DataFileError, MissingFileError, ShapeError
from irpath.io.glas import CLASSES

SPLIT_FILE = "split.json"
MANIFEST_COLUMNS = ("image", "label", "class")


@dataclass(frozen=True)
class Tiles:
    """Labelled tiles: ``images`` list of (H, W, 3) float32 [0, 255], ``labels`` list of (H, W)
    int32 instances, ``classes`` (M,) int (0 benign, 1 malignant), ``names`` source image per tile."""

    images: list
    labels: list
    classes: np.ndarray
    names: list

    def subset(self, idx) -> "Tiles":
        idx = [int(i) for i in idx]
        return Tiles([self.images[i] for i in idx], [self.labels[i] for i in idx],
                     np.asarray(self.classes)[idx], [self.names[i] for i in idx])

    def __len__(self) -> int:
        return len(self.images)


def is_glas_folder(path) -> bool:
    """True for a folder (a GlaS layout), False for a file (a manifest)."""
    return Path(path).is_dir()


def _class_index(value: str, where: str) -> int:
    v = str(value).strip().lower()
    if v in CLASSES:
        return CLASSES.index(v)
    if v in ("0", "1"):
        return int(v)
    raise DataFileError(f"{where}: unknown class {value!r} (expected benign, malignant, 0 or 1)")


def read_manifest_tiles(path) -> Tiles:
    """Read an ``image,label,class`` manifest: every row's image, label image and class.

    Raises:
        MissingFileError: the CSV or a file it names is missing.
        ManifestError / DataFileError / ShapeError: a bad header, class, label or shape
            (each message names the file and line).
    """
    from irpath.io.labels import read_label_image
    from irpath.io.rgb import read_rgb

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such manifest file or GlaS folder")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = list(reader)
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise DataFileError(f"{path}: a multiloss manifest needs the columns image,label,class "
                              f"(missing: {', '.join(missing)}; found: {','.join(header) or 'nothing'})")
    if not rows:
        raise DataFileError(f"{path}: the manifest has no rows")
    images, labels, classes, names = [], [], [], []
    for lineno, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        where = f"{path}: line {lineno}"
        cls = _class_index(row["class"], where)
        image_path, label_path = path.parent / row["image"], path.parent / row["label"]
        if not row["image"] or not image_path.is_file():
            raise MissingFileError(f"{image_path}: no such image ({where})")
        image = read_rgb(image_path).data
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ShapeError(f"{image_path}: expected an RGB image, got shape {image.shape}")
        labels.append(read_label_image(label_path, image.shape[:2]))
        images.append(np.asarray(image, np.float32))
        classes.append(cls)
        names.append(row["image"])
    return Tiles(images, labels, np.asarray(classes, np.int64), names)


def _split_names(names, fractions, seed) -> dict:
    from irpath.io.glas import split_by_image

    parts = split_by_image(names, fractions, seed)
    return {k: sorted({str(names[i]) for i in v}) for k, v in parts.items()}


def load_training_tiles(data, train_cfg) -> tuple[Tiles, Tiles, dict]:
    """Training and validation tiles of a GlaS folder or manifest, and the split record.

    Returns:
        ``(train, val, split)``; ``split`` is the dict written to ``RUN_DIR/split.json``
        (``{"data", "kind", "seed", "fractions", "train", "val", "test"}``, image names).
    """
    from irpath.io.glas import prepare_glas, read_glas

    data = Path(data)
    if is_glas_folder(data):
        records = read_glas(data)
        crops = prepare_glas(records, train_cfg.resize, train_cfg.tile)
        tiles = Tiles(list(crops.images), list(crops.labels), crops.classes, list(crops.names))
        fractions, kind = train_cfg.split, "glas"
    else:
        tiles, kind = read_manifest_tiles(data), "manifest"
        v = train_cfg.manifest_val_fraction
        fractions = (1.0 - v, v, 0.0)
    split = _split_names(tiles.names, fractions, train_cfg.seed)
    for part in ("train", "val"):
        if not split[part]:
            raise ConfigError(f"{data}: too few images ({len(set(tiles.names))}) for a "
                              f"{part} part of the split {fractions}")
    pick = lambda part: tiles.subset([i for i, n in enumerate(tiles.names) if n in set(split[part])])  # noqa: E731
    train = pick("train")
    if len(set(train.classes.tolist())) < 2:
        print(f"note: {data}: the training images hold only one class", flush=True)
    record = {"data": str(data.resolve()), "kind": kind, "seed": train_cfg.seed,
              "fractions": list(fractions), "resize": train_cfg.resize, **split}
    return train, pick("val"), record


def write_split(run_path, split: dict) -> Path:
    """Write ``RUN_DIR/split.json``; a run that already records another split is refused."""
    out = Path(run_path) / SPLIT_FILE
    if out.is_file():
        try:
            old = json.loads(out.read_text())
        except (OSError, ValueError):
            old = None
        if old is not None and {k: old.get(k) for k in ("train", "val", "test")} != \
                {k: split[k] for k in ("train", "val", "test")}:
            raise ConfigError(f"{out}: this run was trained on another split of the images (other "
                              "data or --seed); resume with the same data and seed or use a new --out")
    from irpath.io.paths import atomic_write_json

    return atomic_write_json(out, split)


def find_split(model_source) -> Path | None:
    """``split.json`` of the run a model came from (beside it or one folder up)."""
    src = Path(model_source)
    for folder in (src, src.parent, src.parent.parent):
        if (folder / SPLIT_FILE).is_file():
            return folder / SPLIT_FILE
    return None


def load_evaluation_tiles(data, model_source) -> tuple[Tiles, str]:
    """The images to evaluate: a GlaS folder's held-out test images (resized whole to the
    run's ``resize``; the split comes from the run's ``split.json``) or every manifest row.

    Returns:
        ``(tiles, description)``.
    """
    from irpath.io.glas import prepare_glas, read_glas

    data = Path(data)
    if not is_glas_folder(data):
        return read_manifest_tiles(data), f"every row of {data}"
    split_file = find_split(model_source)
    if split_file is None:
        raise ConfigError(f"{model_source}: no {SPLIT_FILE} beside the model, so the test part of "
                          f"{data} is unknown; evaluate the run directory, or pass a manifest")
    split = json.loads(split_file.read_text())
    test = set(split.get("test", []))
    if not test:
        raise ConfigError(f"{split_file}: the split has no test images (was the run trained on a "
                          "manifest? evaluate on a manifest then)")
    records = [r for r in read_glas(data) if r.name in test]
    missing = sorted(test - {r.name for r in records})
    if missing:
        raise MissingFileError(f"{data}: test image(s) of {split_file} missing: {', '.join(missing[:5])}")
    resize = int(split.get("resize", 500))
    crops = prepare_glas(records, resize, resize)
    return (Tiles(list(crops.images), list(crops.labels), crops.classes, list(crops.names)),
            f"{len(records)} test images of {data} ({split_file})")
