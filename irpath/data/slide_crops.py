"""A file-backed training stream: crops read lazily from slides inside their annotated regions.

Each row is an image (any :func:`irpath.io.sources.open_image` file: a slide, a
pyramid, a PNG) with a list of ``(geometry, class)`` objects in level-0 pixels
(from a QuPath GeoJSON file, :mod:`irpath.io.qupath`). Crops live on the run's
grid: ``mpp`` µm/px (None: level 0), read from the nearest level not coarser
than ``mpp`` and resampled (:class:`~irpath.io.sources.ResampledView`), so a read
costs the memory of one crop, never of the slide.

Crop ``i`` of epoch ``e`` is a function of ``(seed, e, i)`` alone: the image
(chosen in proportion to its annotated area), a point drawn uniformly inside its
annotations (the crop is centred on it, kept inside the image) and, with
``flips``, its mirroring. So the order of an epoch is a function of
``(seed, epoch)`` and a resumed run sees the crops an uninterrupted one would.
The ``tf.data`` pipeline reads each crop on the fly (``tf.numpy_function``); no
pixels are graph constants.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, ShapeError

#: The label of unannotated pixels (losses mask it out).
IGNORE = 255


@dataclasses.dataclass(frozen=True)
class SlideRow:
    """One image and its ``(geometry, class)`` objects (level-0 pixels)."""

    image: Path
    objects: tuple
    label: Path | None = None


class SlideCrops:
    """Crops of ``crop`` x ``crop`` pixels at ``mpp`` from ``rows`` (see the module docstring).

    ``labels(row, objects, crop, scale, origin)`` makes the crop's label arrays (a
    tuple of int32 (crop, crop) arrays); default one class map with :data:`IGNORE`
    where nothing is annotated.
    """

    def __init__(self, rows, *, crop: int, mpp: float | None = None, labels=None, flips: bool = False):
        import shapely

        from irpath.io.sources import LevelView, ResampledView, open_image

        self.rows, self.crop, self.mpp, self.flips = list(rows), int(crop), mpp, bool(flips)
        self.labels = labels or _class_labels
        self._sources, self._views, self.scales, self.regions, self.areas = [], [], [], [], []
        for row in self.rows:
            src = open_image(row.image)
            if mpp is None:
                level, factor = 0, 1.0
            else:
                if src.mpp is None:
                    raise ConfigError(f"{row.image}: the file records no pixel size (µm/px); "
                                      "train without --mpp (level 0) or use a file that has one")
                level = src.nearest_level(mpp)
                factor = mpp / src.level_mpp(level)
            view = ResampledView(LevelView(src, level), factor) if abs(factor - 1) > 1e-6 else \
                LevelView(src, level)
            if min(view.shape[:2]) < self.crop:
                raise ShapeError(f"{row.image}: {view.shape[1]} x {view.shape[0]} pixels at "
                                 f"{mpp or 'level-0'} µm/px, smaller than the {crop}-pixel crop")
            region = shapely.union_all([g for g, _ in row.objects]) if row.objects else None
            if region is None or region.is_empty:
                raise ConfigError(f"{row.label or row.image}: no annotated region to sample crops from")
            scale = float(src.downsamples[level]) * factor  # level-0 px per grid px
            self._sources.append(src)
            self._views.append(view)
            self.scales.append(scale)
            self.regions.append(region)
            self.areas.append(region.area / scale ** 2)
        self._p = np.asarray(self.areas, np.float64) / np.sum(self.areas)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def annotated_pixels(self) -> float:
        """Annotated area of all rows, in grid pixels."""
        return float(np.sum(self.areas))

    def close(self) -> None:
        for s in self._sources:
            s.close()

    def sample(self, seed: int, epoch: int, i: int) -> tuple[int, int, int, int]:
        """``(row, y, x, flip code)`` of crop ``i`` of ``epoch`` (grid pixels, top-left)."""
        import shapely

        rng = np.random.default_rng([int(seed), int(epoch), int(i)])
        r = int(rng.choice(len(self.rows), p=self._p))
        region, scale = self.regions[r], self.scales[r]
        x0, y0, x1, y1 = region.bounds
        point = None
        for _ in range(200):
            px, py = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if shapely.contains_xy(region, px, py):
                point = (py, px)
                break
        if point is None:
            p = region.representative_point()
            point = (p.y, p.x)
        h, w = self._views[r].shape[:2]
        y = int(np.clip(round(point[0] / scale - self.crop / 2), 0, h - self.crop))
        x = int(np.clip(round(point[1] / scale - self.crop / 2), 0, w - self.crop))
        flip = int(rng.integers(4)) if self.flips else 0
        return r, y, x, flip

    def read(self, r: int, y: int, x: int, flip: int = 0):
        """``(image (crop, crop, 3) float32, *labels)`` of the window at grid ``(y, x)``."""
        c = self.crop
        image = np.asarray(self._views[r][y:y + c, x:x + c], np.float32)[..., :3]
        scale = self.scales[r]
        labels = self.labels(self.rows[r], self.rows[r].objects, c, scale, (y * scale, x * scale))
        out = (image, *labels)
        if flip & 1:
            out = tuple(a[::-1] for a in out)
        if flip & 2:
            out = tuple(a[:, ::-1] for a in out)
        return tuple(np.ascontiguousarray(a) for a in out)

    def crop_at(self, seed: int, epoch: int, i: int):
        return self.read(*self.sample(seed, epoch, i))

    def dataset(self, batch_size: int, *, seed: int, per_epoch: int, start_epoch: int = 0,
                repeat: bool = True, label_specs=(("int32", ()),)):
        """A ``tf.data`` stream of batches ``(images (B, c, c, 3), labels...)``.

        ``per_epoch`` crops make an epoch; the stream starts at ``start_epoch`` and is
        endless with ``repeat`` (else one epoch, ``start_epoch``). ``label_specs``: the
        dtype and trailing shape of each label array (default one (c, c) int32 map).
        """
        import tensorflow as tf

        n = int(per_epoch)
        first = int(start_epoch) * n
        ds = tf.data.Dataset.range(first, 2 ** 62 if repeat else first + n)

        def load(k):
            e, i = divmod(int(k), n)
            return self.crop_at(seed, e, i)
        types = (tf.float32,) + tuple(tf.as_dtype(d) for d, _ in label_specs)
        c = self.crop

        def mapped(k):
            out = tf.numpy_function(load, [k], types, stateful=False)
            out[0].set_shape((c, c, 3))
            for t, (_, tail) in zip(out[1:], label_specs):
                t.set_shape((c, c, *tail))
            return tuple(out)
        ds = ds.map(mapped)  # sequential: the order is the index order
        return ds.batch(int(batch_size), drop_remainder=repeat).prefetch(1)


def crops_per_epoch(crops: SlideCrops, global_batch: int) -> int:
    """Crops per epoch: the annotated area over the crop area, whole batches, at least one."""
    import math

    n = math.ceil(crops.annotated_pixels / crops.crop ** 2)
    return max(1, math.ceil(n / global_batch)) * global_batch


def _class_labels(row, objects, crop, scale, origin):
    from irpath.io.qupath import rasterise

    return (rasterise(objects, (crop, crop), scale=scale, origin=origin, fill=IGNORE),)


def is_geojson_manifest(source) -> bool:
    """True for a manifest CSV whose ``label`` column names ``.geojson`` files."""
    import csv

    source = Path(source)
    if not (source.is_file() and source.suffix.lower() == ".csv"):
        return False
    with open(source, newline="", encoding="utf-8-sig") as f:
        labels = [(r.get("label") or "").strip().lower() for r in csv.DictReader(f)]
    return bool(labels) and any(lab.endswith((".geojson", ".json")) for lab in labels)


def geojson_rows(source, class_map: dict, types=("annotation",)) -> list:
    """:class:`SlideRow` s of an ``image,label`` manifest whose labels are QuPath GeoJSON.

    Raises:
        ManifestError / MissingFileError / DataFileError / ConfigError naming the file
        (a label that is not GeoJSON, class names the map does not map).
    """
    from irpath.errors import ManifestError
    from irpath.io import read_manifest
    from irpath.io.qupath import classify, read_qupath

    rows, bad = [], []
    for r in read_manifest(source, labels=None):
        if Path(r.label).suffix.lower() not in (".geojson", ".json"):
            bad.append(f"{r.label}: not a .geojson label (a manifest gives all labels as GeoJSON "
                       "or none)")
            continue
        rows.append(SlideRow(Path(r.image), tuple(classify(read_qupath(r.label), class_map, types)),
                             Path(r.label)))
    if bad:
        raise ManifestError(Path(source), bad)
    return rows
