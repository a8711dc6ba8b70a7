"""The VGG16-FCN's data: image / colour-coded label pairs, and the training pipeline.

Two layouts name the same thing, an RGB image and its colour-coded label image
(red = cancer, green = stroma, black = background; nearest colour wins, so
JPEG labels decode: :mod:`irpath.io.colour_labels`):

* a **manifest** CSV with the columns ``image,label`` (paths relative to the
  CSV; :func:`irpath.io.read_manifest` with ``labels=None``);
* a **folder** holding ``images/`` and ``labels/``: each image is paired with
  the label file of the same stem (any image suffix on either side).

Training samples come from the shared RGB pipeline
(:func:`irpath.data.rgb_pipeline.make_rgb_dataset`): whole images (the paper)
or random crops, mirrored about the x and y axes by the shared joint
augmentation (flips only), plus optional Gaussian noise on the image. Every
draw is a function of ``(seed, epoch)``, so a resumed run sees the batches an
uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, MissingFileError, ShapeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_NOISE_STREAM = 3  # a seed stream of its own (the pipeline uses 1 and 2)


@dataclasses.dataclass(frozen=True)
class Pairs:
    """Images and their class maps.

    Attributes:
        images: list of (H_i, W_i, 3) float32 pixel values in [0, 255].
        labels: list of (H_i, W_i) int32 classes (0 cancer, 1 stroma, 2 background).
        paths: list of ``(image path, label path)``.
        source: the manifest or folder they came from.
    """

    images: list
    labels: list
    paths: list
    source: Path

    def __len__(self) -> int:
        return len(self.images)

    @property
    def sizes(self) -> set:
        return {im.shape[:2] for im in self.images}


def list_pairs(source) -> list[tuple[Path, Path]]:
    """``(image, label)`` paths of a manifest CSV or an ``images/`` + ``labels/`` folder.

    Raises:
        MissingFileError: ``source``, a file it names, or a label for an image is missing.
        ManifestError: a bad manifest (every bad row listed).
        ConfigError: a folder without ``images/`` and ``labels/``, or with no images.
    """
    source = Path(source)
    if not source.exists():
        raise MissingFileError(f"{source}: no such manifest or images/ + labels/ folder")
    if source.is_file():
        from irpath.io import read_manifest

        return [(r.image, r.label) for r in read_manifest(source, labels=None)]
    images_dir, labels_dir = source / "images", source / "labels"
    if not (images_dir.is_dir() and labels_dir.is_dir()):
        raise ConfigError(f"{source}: a data folder needs images/ and labels/ sub-folders "
                          "(or pass an image,label manifest CSV)")
    labels = {}
    for p in sorted(labels_dir.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            labels.setdefault(p.stem, p)
    images = [p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise ConfigError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    missing = [p.name for p in images if p.stem not in labels]
    if missing:
        raise MissingFileError(f"{labels_dir}: no label image for {len(missing)} image(s), e.g. "
                               f"{missing[0]} (expected labels/{Path(missing[0]).stem}.png)")
    return [(p, labels[p.stem]) for p in images]


def read_pair(image_path, label_path) -> tuple[np.ndarray, np.ndarray]:
    """One pair: ((H, W, 3) float32 [0, 255], (H, W) int32 classes).

    Raises:
        DataFileError / InvalidValuesError / ShapeError naming the file: unreadable
        image, label colours far from red / green / black, or differing sizes.
    """
    from irpath.io.colour_labels import read_colour_labels
    from irpath.io.rgb import read_rgb

    image = np.asarray(read_rgb(image_path).data, np.float32)
    label = read_colour_labels(label_path)
    if label.shape != image.shape[:2]:
        raise ShapeError(f"{label_path}: label image is {label.shape[1]} x {label.shape[0]} pixels, "
                         f"its image {image_path} is {image.shape[1]} x {image.shape[0]}")
    return image, label


def read_pairs(source) -> Pairs:
    """Read every pair of a manifest or folder (see the module docstring)."""
    pairs = list_pairs(source)
    images, labels = zip(*(read_pair(i, lab) for i, lab in pairs))
    return Pairs(list(images), list(labels), pairs, Path(source))


def window_of(pairs: Pairs, crop: int | None, what: str):
    """The training window: ``crop`` (int), or the one (H, W) all images share when None.

    Raises:
        ShapeError: ``crop`` is None and the images differ in size.
    """
    if crop is not None:
        return int(crop)
    sizes = sorted(pairs.sizes)
    if len(sizes) != 1:
        raise ShapeError(f"{pairs.source}: the {what} images have {len(sizes)} sizes "
                         f"({', '.join(f'{w} x {h}' for h, w in sizes[:4])}); whole-image training "
                         "needs one size: pass --crop N")
    return tuple(int(v) for v in sizes[0])


def add_noise(dataset, std: float, seed: int, first_batch: int = 0):
    """Add N(0, std²) noise (grey levels) to the images of a batched ``(images, labels)``
    dataset, clipped to [0, 255]. Batch ``b`` (counted from ``first_batch``) draws from
    ``(seed, b)``, so a resumed stream gets the noise an uninterrupted one would."""
    import tensorflow as tf

    if std <= 0:
        return dataset
    base = tf.constant([int(seed), _NOISE_STREAM], tf.int64)

    def noisy(b, batch):
        images, labels = batch
        draw = tf.random.stateless_normal(tf.shape(images), tf.random.experimental.stateless_fold_in(
            base, b), stddev=float(std))
        return tf.clip_by_value(images + draw, 0.0, 255.0), labels
    return dataset.enumerate(start=int(first_batch)).map(noisy)


def make_datasets(train: Pairs, val: Pairs | None, train_cfg, *, global_batch: int,
                  start_epoch: int = 0):
    """``(train_ds, val_ds, steps_per_epoch)`` of ``(images (N, h, w, 3), classes (N, h, w))``.

    The training stream is endless (``repeat=True``) and starts at ``start_epoch``;
    validation takes the same windows (seeded crops, or whole images) without
    augmentation.
    """
    import math

    from irpath.data.joint_augment import AugmentConfig
    from irpath.data.rgb_pipeline import make_rgb_dataset

    window = window_of(train, train_cfg.crop, "training")
    mirror = None
    if train_cfg.mirror:  # Sec. 4.2: mirroring about the x and the y axis, nothing else
        mirror = AugmentConfig(rotation=0.0, scale=(1.0, 1.0), shear=0.0, elastic_alpha=0.0,
                               flips=True, rot90=False, brightness=0.0, contrast=0.0,
                               saturation=0.0, hue=0.0)
    steps = train_cfg.steps_per_epoch or math.ceil(len(train) / global_batch)
    train_ds = make_rgb_dataset(train.images, [(lab,) for lab in train.labels], crop=window,
                                batch_size=global_batch, seed=train_cfg.seed, augment=mirror,
                                shuffle=True, repeat=True, epoch=start_epoch, steps_per_epoch=steps)
    train_ds = train_ds.map(lambda x, y: (x, y[0]))
    train_ds = add_noise(train_ds, train_cfg.noise_std, train_cfg.seed, start_epoch * steps)
    val_ds = None
    if val is not None:
        val_window = window_of(val, train_cfg.crop, "validation")
        val_ds = make_rgb_dataset(val.images, [(lab,) for lab in val.labels], crop=val_window,
                                  batch_size=global_batch, seed=train_cfg.seed + 1, augment=None,
                                  shuffle=False).map(lambda x, y: (x, y[0]))
    return train_ds, val_ds, steps


#: The crop of GeoJSON-labelled slides when the recipe trains on whole images (``crop`` None).
SLIDE_CROP = 256


def read_slide_set(source, data: dict, train_cfg, *, train: bool):
    """A :class:`~irpath.data.slide_crops.SlideCrops` of a manifest of image + QuPath GeoJSON
    rows: region annotations mapped by ``data["class_map"]`` (default: QuPath's built-in
    names), crops at ``data["mpp"]``; unannotated pixels are ignored by the loss."""
    from irpath.data.slide_crops import SlideCrops, geojson_rows
    from irpath.io.colour_labels import CLASS_NAMES
    from irpath.io.qupath import FCN_DEFAULT_CLASS_MAP, parse_class_map

    class_map = parse_class_map(data.get("class_map"), CLASS_NAMES, FCN_DEFAULT_CLASS_MAP)
    rows = geojson_rows(source, class_map, ("annotation",))
    return SlideCrops(rows, crop=train_cfg.crop or SLIDE_CROP, mpp=data.get("mpp"),
                      flips=train and train_cfg.mirror)


def make_slide_datasets(train, val, train_cfg, *, global_batch: int, start_epoch: int = 0):
    """``(train_ds, val_ds)`` of ``(images, classes, weights)`` from slide crops: ``weights``
    is 0 on unannotated pixels (class :data:`~irpath.data.slide_crops.IGNORE`), so they
    do not count in the loss."""
    import tensorflow as tf

    from irpath.data.slide_crops import IGNORE, crops_per_epoch

    def weigh(x, y):
        known = tf.not_equal(y, IGNORE)
        return x, tf.where(known, y, tf.zeros_like(y)), tf.cast(known, tf.float32)
    n = (train_cfg.steps_per_epoch * global_batch if train_cfg.steps_per_epoch
         else crops_per_epoch(train, global_batch))
    train_ds = train.dataset(global_batch, seed=train_cfg.seed, per_epoch=n, start_epoch=start_epoch)
    train_ds = add_noise(train_ds, train_cfg.noise_std, train_cfg.seed,
                         start_epoch * (n // global_batch)).map(weigh)
    val_ds = None
    if val is not None:
        val_ds = val.dataset(global_batch, seed=train_cfg.seed + 1, per_epoch=crops_per_epoch(val, 1),
                             repeat=False).map(weigh)
    return train_ds, val_ds
