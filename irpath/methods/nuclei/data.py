"""The nuclei method's data: dataset folders, class mappings, patches, targets and tf.data.

A dataset is a folder::

    DIR/images/NAME.png|tif|tiff|jpg|bmp     RGB (or grey: read as 3 equal channels)
    DIR/labels/NAME.png|tif|tiff|npy|npz|mat  the label of the same stem (NAME_label.* works too)

Labels are id-mod-3 label images (0 background, class = id % 3: 0 tumour, 1
lymphocyte, 2 stroma), or instance + type maps (``inst_map`` / ``type_map`` in a
``.mat`` / ``.npz``, or an (H, W, 2) ``.npy``) with a class mapping
(:func:`parse_class_map`); see :func:`irpath.methods.nuclei.labels.read_nuclei_label`.

Training (Sec. 2.1): every image gives ``patches_per_image`` overlapping patches
on a square grid (16 of 250 x 250 in the paper). The 5-class target and the
weight map (eq. 2) are computed on the *whole* image (so a nucleus cut by a patch
border keeps its true contour and weights) and cut with the patch; the core's
pipeline (:func:`irpath.data.rgb_pipeline.make_rgb_dataset`) then draws random
crops (224) with the joint augmentation applied to image, class map (nearest)
and weight map alike, as the authors augment their precomputed weight maps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, DataFileError, MissingFileError, ShapeError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
LABEL_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".npz", ".mat")


def find_pairs(folder) -> list[tuple[Path, Path]]:
    """``[(image, label), ...]`` of a dataset folder, sorted by image name.

    Raises:
        MissingFileError: no such folder, no ``images/`` or ``labels/``, or an image
            without a label (the message names the image and what was looked for).
        DataFileError: no images at all.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such dataset folder (expected images/ and labels/)")
    images_dir, labels_dir = folder / "images", folder / "labels"
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            raise MissingFileError(f"{d}: missing; a nuclei dataset folder holds images/NAME.png "
                                   "and labels/NAME.png|tif|npy|mat")
    images = sorted(p for p in images_dir.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not images:
        raise DataFileError(f"{images_dir}: no images ({' '.join(IMAGE_SUFFIXES)})")
    labels = {}
    for p in sorted(labels_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES:
            for stem in (p.stem, p.stem[:-6] if p.stem.endswith("_label") else None):
                if stem:
                    labels.setdefault(stem, p)
    pairs = []
    for image in images:
        label = labels.get(image.stem)
        if label is None:
            raise MissingFileError(f"{image}: no label {labels_dir}/{image.stem}"
                                   f"[_label]{{{','.join(LABEL_SUFFIXES)}}}")
        pairs.append((image, label))
    return pairs


def parse_class_map(spec) -> dict | None:
    """A class mapping ``{type: class}`` from ``--class-map``.

    Args:
        spec: None; "consep" or "pannuke"; a JSON file ``{"1": "tumour", ...}``; or
            inline ``"1:tumour,2:lymphocyte,3:stroma"``. Classes are names
            (tumour, lymphocyte, stroma), indices 0-2, or "none" (drop the type).

    Returns:
        ``{int type: class index or None}``, or None.

    Raises:
        ConfigError: an unreadable spec, a non-integer type or an unknown class.
    """
    from irpath.methods.nuclei.labels import CONSEP_CLASS_MAP, PANNUKE_CLASS_MAP, class_index

    if spec is None:
        return None
    text = str(spec).strip()
    named = {"consep": CONSEP_CLASS_MAP, "pannuke": PANNUKE_CLASS_MAP}
    if text.lower() in named:
        raw = named[text.lower()]
    elif text.lower().endswith(".json"):
        try:
            raw = json.loads(Path(text).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{text}: no such class-map file") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{text}: not a JSON class map ({exc})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{text}: a class map must be a JSON object {{type: class}}")
    else:
        raw = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, value = item.partition(":")
            if not sep:
                raise ConfigError(f"class map {text!r}: expected consep, pannuke, a .json file or "
                                  "TYPE:CLASS pairs such as 1:tumour,2:lymphocyte,3:stroma")
            raw[key.strip()] = value.strip()
    out = {}
    for key, value in raw.items():
        try:
            t = int(key)
        except (TypeError, ValueError):
            raise ConfigError(f"class map {text!r}: type {key!r} is not an integer") from None
        if value is None or str(value).lower() == "none":
            out[t] = None
            continue
        try:
            out[t] = class_index(int(value) if str(value).isdigit() else str(value).lower())
        except Exception as exc:  # InvalidValuesError with the allowed names
            raise ConfigError(f"class map {text!r}: {exc}") from None
    return out


def read_sample(image, label, *, class_map=None, stain=None) -> tuple[np.ndarray, np.ndarray]:
    """One image as the model sees it and its id-mod-3 label.

    Returns:
        ``(rgb (H, W, 3) float32 in [0, 255], label (H, W) int32)``.

    Raises:
        ShapeError: image and label differ in size (both files named).
    """
    from irpath.data.prepare import prepare_image
    from irpath.methods.nuclei.labels import read_nuclei_label

    prepared = prepare_image(image, "rgb", in_channels=3, stain=stain)
    lab = read_nuclei_label(label, class_map)
    if lab.shape != prepared.shape:
        raise ShapeError(f"{label}: label is {lab.shape[0]}x{lab.shape[1]} but {Path(image).name} "
                         f"is {prepared.shape[0]}x{prepared.shape[1]}")
    return prepared.data, lab


def read_dataset(pairs, *, class_map=None, stain=None) -> tuple[list, list]:
    """:func:`read_sample` over ``pairs``: ``(images, labels)`` lists."""
    images, labels = [], []
    for image, label in pairs:
        rgb, lab = read_sample(image, label, class_map=class_map, stain=stain)
        images.append(rgb)
        labels.append(lab)
    return images, labels


def patch_boxes(height: int, width: int, patch: int, per_image: int) -> list[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` of up to ``per_image`` overlapping patches on a square grid.

    The grid has ``sqrt(per_image)`` starts per axis, spread uniformly from 0 to
    ``size - patch`` (so neighbours overlap when ``size < patch * sqrt(n)``); an
    axis shorter than ``patch`` gives one patch of the whole axis. Duplicate
    boxes (small images) are dropped.
    """
    n = math.isqrt(int(per_image))

    def starts(size):
        p = min(int(patch), int(size))
        return p, sorted({int(round(v)) for v in np.linspace(0, size - p, n)})
    ph, ys = starts(height)
    pw, xs = starts(width)
    return [(y, y + ph, x, x + pw) for y in ys for x in xs]


def training_patches(images, labels, *, patch: int, per_image: int):
    """Patches of every image with their targets, computed on the whole image first.

    Args:
        images: list of (H, W, 3) float32.
        labels: list of (H, W) int32 id-mod-3 labels.
        patch, per_image: see :func:`patch_boxes`.

    Returns:
        ``(patches, targets)``: a list of (h, w, 3) float32 and a list of
        ``(class map (h, w) int32, weight map (h, w) float32)`` tuples.
    """
    from irpath.methods.nuclei.targets import five_class_target, weight_map

    patches, targets = [], []
    for rgb, lab in zip(images, labels):
        cls, weight = five_class_target(lab).astype(np.int32), weight_map(lab)
        for y0, y1, x0, x1 in patch_boxes(*lab.shape, patch, per_image):
            patches.append(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            targets.append((cls[y0:y1, x0:x1].copy(), weight[y0:y1, x0:x1].copy()))
    return patches, targets


def validation_tiles(images, labels, *, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping ``tile`` x ``tile`` tiles covering every validation image.

    Tiles cover each image (the last tile of a row/column is shifted inside the
    image, :func:`irpath.inference.tiling.tile_grid`); tiles of images smaller
    than ``tile`` are zero-padded with weight 0, so padding adds no loss.

    Returns:
        ``(x (M, tile, tile, 3) float32, y (M, tile, tile, 2) float32 [class, weight])``.
    """
    from irpath.inference.tiling import tile_grid
    from irpath.methods.nuclei.targets import pack_targets

    xs, ys = [], []
    for rgb, lab in zip(images, labels):
        packed = pack_targets(lab)
        for y0, y1, x0, x1 in tile_grid(*lab.shape, tile=tile, overlap=0):
            x = np.zeros((tile, tile, rgb.shape[-1]), np.float32)
            y = np.zeros((tile, tile, 2), np.float32)
            x[:y1 - y0, :x1 - x0] = rgb[y0:y1, x0:x1]
            y[:y1 - y0, :x1 - x0] = packed[y0:y1, x0:x1]
            xs.append(x)
            ys.append(y)
    return np.stack(xs), np.stack(ys)


def steps_per_epoch(n_patches: int, batch: int, steps: int | None = None) -> int:
    """Batches per epoch: ``steps`` if given, else one pass over the patches."""
    return int(steps) if steps else max(1, math.ceil(n_patches / batch))


def train_dataset(patches, targets, *, crop: int, batch: int, seed: int, augment, epoch: int,
                  steps: int):
    """The endless, seeded training stream (resumable: epoch ``e`` depends on (seed, e) only).

    Returns:
        ``tf.data.Dataset`` of ``(images (N, crop, crop, 3), y_true (N, crop, crop, 2))``,
        ``y_true`` = [class, weight] as :class:`~irpath.losses.nuclei.NucleiLoss` takes.
    """
    import tensorflow as tf

    from irpath.data.rgb_pipeline import make_rgb_dataset

    small = min(min(p.shape[:2]) for p in patches)
    if small < crop:
        from irpath.train.run_dir import log

        log(f"note: some patches ({small} px) are smaller than the crop ({crop} px); "
            "they are mirror-padded")
    ds = make_rgb_dataset(patches, targets, crop=crop, batch_size=batch, seed=seed, augment=augment,
                          shuffle=True, repeat=True, epoch=epoch, steps_per_epoch=steps,
                          pad_mode="reflect")

    def pack(image, maps):
        cls, weight = maps
        return image, tf.stack([tf.cast(cls, tf.float32), tf.cast(weight, tf.float32)], axis=-1)
    return ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE)


def check_weights_file(path, what: str, flag: str) -> None:
    """Refuse a missing ``--vgg-weights`` / ``--encoder-weights`` file before any work."""
    if path is not None and not Path(path).is_file():
        raise MissingFileError(f"{path}: no such {what} file ({flag})")
