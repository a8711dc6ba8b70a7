"""A training cache whose spots a batch reads straight into its buffer, one read per cube.

:func:`build_cache` converts every spot of a manifest once into raw files:

=====================  ============================================================
``NNNNN.cube.f32``     (H, W, C) little-endian float32, C-order, on the target axis;
                       NaN and invalid pixels set to 0 (``NNNNN.cube.f16``, float16,
                       in a ``cube_dtype="float16"`` cache)
``NNNNN.tissue.u8``    (H, W) uint8, 1 = tissue (manifest ``tissue`` file, or
                       :func:`irpath.spectra.tissue_mask`)
``NNNNN.mask.u8``      (H, W) uint8 ground truth, only for rows with a ``mask``
``index.json``         per-spot image path, label, H, W, C and file names; the
                       target axis; a fingerprint of every input
=====================  ============================================================

Each cube file is one contiguous run of bytes in the (H, W, C) order of a batch
slot, so :class:`irpath.data.spot_reader.SpotReader` reads it with one
``os.preadv`` (outside the GIL) into the batch buffer; nothing converts it on the
way. The fingerprint (:func:`cache_key`) covers the manifest and each file it names
(path, size, mtime), the labels, the axis and the cube dtype: an unchanged fingerprint reuses the
cache at once, a changed one rebuilds it, so caches of the two dtypes never mix.

A float16 cache holds half the bytes. Rounding to float16 changes a value ``x``
by at most ``FLOAT16_REL_ERROR * |x|`` (half a unit in the last place, 2**-11
= 4.9e-4 relative) for ``|x| >= 2**-14``, and by at most ``FLOAT16_ABS_ERROR``
(2**-25 = 3.0e-8) below; absorbances (0.001-3) keep 3 significant digits.
Values beyond float16's range (65504) are refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, DataFileError, InvalidValuesError, MissingFileError
from irpath.io import ENVI_DATA_SUFFIXES, Manifest, read_cube, read_manifest, read_mask
from irpath.io.axis import check_axis
from irpath.io.cube import row_blocks
from irpath.spectra.axis import DEFAULT_AXIS, to_target_axis
from irpath.spectra.mask import (AMIDE_I_BAND, MAX_ABS_VALUE, REFERENCE_PERCENTILE, _band_slice,
                                 check_spectra, spans_amide_band, tissue_mask)

#: Bumped whenever the file layout or the conversion changes; old caches rebuild.
CACHE_FORMAT = 1
INDEX_NAME = "index.json"
_OWN_PATTERNS = ("*.cube.f32", "*.cube.f16", "*.tissue.u8", "*.mask.u8")
#: The cube dtypes a cache may hold, with their file suffix.
CUBE_DTYPES = {"float32": "f32", "float16": "f16"}
#: Largest rounding error of a float16 cache: relative above 2**-14, absolute below.
FLOAT16_REL_ERROR = 2.0**-11
FLOAT16_ABS_ERROR = 2.0**-25
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def check_cube_dtype(cube_dtype: str) -> str:
    """``cube_dtype`` if it is one of :data:`CUBE_DTYPES`, else a :class:`ConfigError`."""
    if cube_dtype not in CUBE_DTYPES:
        raise ConfigError(f"cache dtype must be one of {sorted(CUBE_DTYPES)}, got {cube_dtype!r}")
    return cube_dtype


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One cached spot. File names are relative to the cache folder."""

    image: str
    label: int
    height: int
    width: int
    channels: int
    cube_file: str
    tissue_file: str
    mask_file: str | None = None

    @property
    def has_mask(self) -> bool:
        return self.mask_file is not None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


@dataclasses.dataclass(frozen=True, eq=False)
class CacheIndex:
    """A built cache: its folder, spots (in manifest order) and spectral axis.

    Attributes:
        cache_dir: the folder holding the files and ``index.json``.
        entries: one :class:`CacheEntry` per spot.
        axis: (C,) float64 wavenumbers of every cached cube.
        fingerprint: hash of the inputs the cache was built from.
        cube_dtype: "float32" or "float16", how the cubes are stored.
    """

    cache_dir: Path
    entries: tuple[CacheEntry, ...]
    axis: np.ndarray
    fingerprint: str = ""
    cube_dtype: str = "float32"

    def __len__(self):
        return len(self.entries)

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(e.label for e in self.entries)

    @property
    def has_masks(self) -> bool:
        """True if every cancer spot has a ground-truth mask (and there is at least one)."""
        return all(e.has_mask for e in self.entries if e.label == 1) and any(
            e.has_mask for e in self.entries)

    def file(self, name: str) -> str:
        """Absolute path of a cache file named in an entry."""
        return str(Path(self.cache_dir) / name)

    def load(self, i: int):
        """Spot ``i`` as numpy arrays, for evaluation code.

        Returns:
            ``(cube, tissue, mask)``: (H, W, C) float32 (a float16 cache's values,
            widened), (H, W) bool, and (H, W) bool or None when the spot has no
            ground truth.
        """
        e = self.entries[i]
        cube = np.fromfile(self.file(e.cube_file), dtype=_file_dtype(self.cube_dtype)).reshape(e.shape)
        tissue = np.fromfile(self.file(e.tissue_file), dtype=np.uint8).reshape(e.shape[:2])
        mask = None
        if e.has_mask:
            mask = np.fromfile(self.file(e.mask_file), dtype=np.uint8).reshape(e.shape[:2]) != 0
        return cube.astype(np.float32, copy=False), tissue != 0, mask

    @classmethod
    def open(cls, cache_dir) -> "CacheIndex":
        """Read an existing cache's ``index.json`` (no fingerprint check)."""
        path = Path(cache_dir) / INDEX_NAME
        if not path.is_file():
            raise MissingFileError(f"{path}: no such cache index (run build_cache first)")
        try:
            doc = json.loads(path.read_text())
            entries = tuple(CacheEntry(**e) for e in doc["entries"])
            axis = np.asarray(doc["axis"], dtype=np.float64)
            fingerprint = doc["fingerprint"]
            cube_dtype = doc.get("cube_dtype", "float32")
            if cube_dtype not in CUBE_DTYPES:
                raise ValueError(f"unknown cube_dtype {cube_dtype!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise DataFileError(f"{path}: not a valid cache index ({exc})") from None
        return cls(cache_dir=Path(cache_dir), entries=entries, axis=axis,
                   fingerprint=fingerprint, cube_dtype=cube_dtype)


def _file_dtype(cube_dtype: str) -> np.dtype:
    """The little-endian numpy dtype of a cache's cube files."""
    return np.dtype("<f4" if cube_dtype == "float32" else "<f2")


def load_stats(path) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` from a run's ``stats.npz``, with a one-line error when it is damaged."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            mean, std = np.asarray(z["mean"]), np.asarray(z["std"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"{path}: damaged ({type(exc).__name__}); delete it and re-run with the "
                            "same --out to recompute it") from None
    if mean.shape != std.shape or mean.ndim != 1 or not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise DataFileError(f"{path}: damaged (bad shapes or non-finite values); delete it and re-run")
    return mean, std


def cache_key(manifest: Manifest, target_axis, cube_dtype: str = "float32") -> str:
    """The :func:`irpath.io.fingerprint.fingerprint` of everything the cache content depends
    on: the manifest and every file its rows name, their labels, the axis and the cube dtype."""
    from irpath.io.fingerprint import fingerprint

    files = [manifest.path] + [f for r in manifest for f in (r.image, r.mask, r.tissue)]
    extra = {"format": CACHE_FORMAT, "labels": [r.label for r in manifest],
             "axis": np.asarray(target_axis, dtype=np.float64).tolist(), "cube_dtype": cube_dtype}
    return fingerprint(files, extra)


def _reusable(cache_dir: Path, fp: str) -> CacheIndex | None:
    try:
        index = CacheIndex.open(cache_dir)
    except (MissingFileError, DataFileError):
        return None
    if index.fingerprint != fp:
        return None
    itemsize = _file_dtype(index.cube_dtype).itemsize
    for e in index.entries:  # cheap integrity check: every file there, right size
        sizes = [(e.cube_file, itemsize * e.height * e.width * e.channels),
                 (e.tissue_file, e.height * e.width)]
        if e.has_mask:
            sizes.append((e.mask_file, e.height * e.width))
        for name, size in sizes:
            p = cache_dir / name
            if not p.is_file() or p.stat().st_size != size:
                return None
    return index


def prepare_spot(image, target: np.ndarray, tissue_file=None):
    """Read one cube and bring it onto the model's axis, as training, evaluation and
    prediction all see it.

    The spectra are checked on the source cube (before resampling could smear an
    Inf into NaNs), the cube is brought onto ``target``, and the tissue mask is the
    ``tissue_file`` (restricted to valid pixels) or :func:`tissue_mask` on the
    amide I band when ``target`` covers it.

    Args:
        image: the cube file.
        target: (C,) the model's wavenumber axis.
        tissue_file: an optional tissue mask file.

    Returns:
        ``(data, valid, tissue)``: (H, W, C) data on ``target`` (possibly a lazy
        memmap, NaN and invalid pixels not yet zeroed), (H, W) bool valid pixels,
        (H, W) bool tissue.
    """
    name = str(image)
    cube = read_cube(image, mmap=True)
    check_spectra(cube.data, cube.valid, name=name)
    data = to_target_axis(cube.data, cube.wavenumbers, target, name=name)
    h, w, _ = data.shape
    valid = cube.valid
    if tissue_file is not None:
        tissue = read_mask(tissue_file, (h, w)) & valid
        if not tissue.any():
            raise InvalidValuesError(f"{tissue_file}: tissue mask is empty on the valid pixels of "
                                     f"{name}")
    else:
        tissue = tissue_mask(data, valid, axis=target if spans_amide_band(target) else None)
    return data, valid, tissue


#: :func:`tissue_mask`'s default ``rel_threshold``, which :func:`prepare_spot` uses.
_REL_THRESHOLD = 0.1


def _band(target: np.ndarray) -> slice:
    """Channels of ``target`` that :func:`prepare_spot`'s :func:`tissue_mask` averages."""
    if spans_amide_band(target):
        return _band_slice(target, target.size, AMIDE_I_BAND)
    return slice(None)


def _convert(cube, target: np.ndarray, out_path: Path, cube_dtype: str = "float32"):
    """Write ``cube`` onto ``target`` as the cache's cube file, in one pass over its data
    (:func:`convert_blocks`); a failed conversion leaves no file.

    Returns:
        ``(valid, keep, level)`` as :func:`convert_blocks`.
    """
    try:
        with open(out_path, "wb") as f:
            return convert_blocks(cube, target, lambda a, b, out: f.write(memoryview(out).cast("B")),
                                  cube_dtype)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise


def convert_blocks(cube, target: np.ndarray, write, cube_dtype: str = "float32"):
    """Bring ``cube`` onto ``target`` in one pass over its data, handing each row block to ``write``.

    Each ~64 MiB row block of the source is read once and used for everything
    :func:`prepare_spot` does in separate passes: the validity mask, the spectra
    check, resampling, the tissue-mask absorbance, and the NaN/invalid zeroing
    before ``write(a, b, block)`` receives rows a..b as (b - a, W, T) little-endian
    float32 (float16 with ``cube_dtype="float16"``).

    Returns:
        ``(valid, keep, level)``: (H, W) bool valid pixels, (H, W) bool candidate
        tissue (valid, finite, not all zero on ``target``), (H, W) float64 absorbance.

    Raises:
        InvalidValuesError, ShapeError: as :func:`check_spectra` and
        :func:`to_target_axis`, or a value beyond float16's range in a float16 cache.
    """
    name, src = cube.path, cube.data
    # Axis errors first, on a dummy pixel (no read).
    to_target_axis(np.zeros((1, 1, src.shape[-1]), src.dtype), cube.wavenumbers, target,
                   name=name)
    h, w = src.shape[:2]
    band = _band(target)
    ignore = cube.ignore_value
    valid = np.empty((h, w), bool)
    keep = np.empty((h, w), bool)
    level = np.empty((h, w), np.float64)
    any_tissue = bad = False
    for a, b in row_blocks(src):
        block = np.asarray(src[a:b])  # the only read of these rows
        # Finite pixels, without a block-sized temporary: NaN/Inf propagate into the
        # sum, and values below MAX_ABS_VALUE cannot overflow float64.
        with np.errstate(over="ignore", invalid="ignore"):
            ok = np.isfinite(block.sum(axis=-1, dtype=np.float64))
        everywhere = bool(ok.all())
        if not everywhere:  # Inf, or NaN mixed with finite values? (or a sum overflowed)
            ok = np.isfinite(block).all(axis=-1)
            nan = np.isnan(block)
            bad = bool(np.isinf(block).any() or (nan.any(axis=-1) & ~nan.all(axis=-1)).any())
        finite = block if everywhere else np.where(ok[..., None], block, 0)
        if finite.size and max(-float(finite.min()), float(finite.max())) > MAX_ABS_VALUE:
            bad = True
        if bad:
            break
        if ignore is not None:
            ok &= ~(block == block.dtype.type(ignore)).all(axis=-1)
        valid[a:b] = ok
        any_tissue = any_tissue or bool((ok & block.any(axis=-1)).any())
        data = to_target_axis(block, cube.wavenumbers, target, name=name)
        # As tissue_mask: valid, finite (implied by valid) and not all zero on target.
        keep[a:b] = ok & data.any(axis=-1)
        with np.errstate(invalid="ignore"):
            level[a:b] = data[..., band].mean(axis=-1, dtype=np.float64)
        out = np.ascontiguousarray(data, dtype="<f4")
        if not ok.all():  # zero NaN and invalid pixels (all-NaN ones are invalid)
            if np.may_share_memory(out, block):  # never write into the source
                out = out.copy()
            out[~ok] = 0.0
        if cube_dtype == "float16":
            if out.size and max(-float(out.min()), float(out.max())) > _FLOAT16_MAX:
                raise InvalidValuesError(f"{name}: values beyond float16's range "
                                         f"(|x| > {_FLOAT16_MAX:g}); use a float32 cache")
            out = out.astype("<f2")
        write(a, b, out)
    if bad or not any_tissue:
        check_spectra(src, cube.valid, name=name)  # re-reads only to name the first bad pixel
        raise InvalidValuesError(f"{name}: spectra failed the cache's checks")  # not reached
    return valid, keep, level


def _spot_tissue(valid, keep, level, tissue_file, name: str) -> np.ndarray:
    """(H, W) bool tissue of a converted spot: the ``tissue_file`` on its valid pixels, else as
    :func:`tissue_mask` (a fraction of the 99th percentile absorbance over ``keep``)."""
    if tissue_file is not None:
        tissue = read_mask(tissue_file, valid.shape) & valid
        if not tissue.any():
            raise InvalidValuesError(f"{tissue_file}: tissue mask is empty on the valid pixels of {name}")
        return tissue
    if not keep.any():
        return keep
    return keep & (level >= _REL_THRESHOLD * np.percentile(level[keep], REFERENCE_PERCENTILE))


def _aligned_empty(shape, align: int = 64) -> np.ndarray:
    """An uninitialised float32 array whose data start on an ``align``-byte boundary.

    TensorFlow copies an unaligned ndarray twice when it becomes a tensor, an aligned
    one once (a 400 MB input: 820 MB against 400 MB measured).
    """
    n = int(np.prod(shape)) * 4
    buf = np.empty(n + align, np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start:start + n].view(np.float32).reshape(shape)


def prepare_spot_array(image, target: np.ndarray, tissue_file=None):
    """:func:`prepare_spot` followed by the zeroing, in one read: the whole-image path's input.

    The only image-sized array is the (H, W, T) float32 result, filled row block by
    row block (an ENVI file is read through :class:`~irpath.io.sources.EnviSource`,
    whose reads unmap the file's pages), so the read costs about one prepared image;
    the array is 64-byte aligned, so TensorFlow takes it with one copy, not two.

    Returns:
        ``(data, valid, tissue)``: (H, W, T) float32 on ``target`` with NaN and invalid
        pixels 0, (H, W) bool valid pixels, (H, W) bool tissue.
    """
    target = check_axis(target, name="target_axis")
    cube = read_cube(image, mmap=True)
    if Path(image).suffix.lower() == ".hdr":
        from irpath.io.sources import EnviSource

        cube = dataclasses.replace(cube, data=EnviSource(image).level(0))
    h, w = cube.shape[:2]
    data = _aligned_empty((h, w, target.size))

    def write(a, b, out):
        data[a:b] = out
    valid, keep, level = convert_blocks(cube, target, write)
    return data, valid, _spot_tissue(valid, keep, level, tissue_file, str(image))


def _cache_spot(row, stem: str, cache_dir: Path, target: np.ndarray,
                cube_dtype: str = "float32") -> CacheEntry:
    """Cache one manifest row: the same arrays as :func:`prepare_spot` + zeroing, one read."""
    name = str(row.image)
    cube = read_cube(row.image, mmap=True)
    h, w = cube.shape[:2]
    entry = CacheEntry(image=name, label=int(row.label), height=h, width=w,
                       channels=int(target.size), cube_file=f"{stem}.cube.{CUBE_DTYPES[cube_dtype]}",
                       tissue_file=f"{stem}.tissue.u8",
                       mask_file=f"{stem}.mask.u8" if row.mask is not None else None)
    valid, keep, level = _convert(cube, target, cache_dir / entry.cube_file, cube_dtype)
    tissue = _spot_tissue(valid, keep, level, row.tissue, name)
    tissue.astype(np.uint8).tofile(cache_dir / entry.tissue_file)
    if row.mask is not None:
        read_mask(row.mask, (h, w)).astype(np.uint8).tofile(cache_dir / entry.mask_file)
    return entry


def build_cache(manifest, cache_dir, *, target_axis=DEFAULT_AXIS, progress: bool = True,
                cube_dtype: str = "float32") -> CacheIndex:
    """Convert a manifest's spots into a cache folder, or reuse an up-to-date one.

    For each row: read the cube (memory-mapped), check its spectra, bring it onto
    ``target_axis``, zero NaN/invalid pixels, take the tissue mask (the row's
    ``tissue`` file, else :func:`irpath.spectra.tissue_mask` on the amide I band)
    and the ground-truth mask, and write the raw files described in the module
    docstring. The result equals :func:`prepare_spot` followed by the zeroing, but
    each source cube is read once, in ~64 MiB row blocks (only a cube that fails
    the spectra check is read again, to name its first bad pixel). Spots may
    differ in H and W.

    Args:
        manifest: a :class:`irpath.io.Manifest` or the path of a manifest CSV.
        cache_dir: folder to write (created if needed). Only files this function
            owns (``*.cube.f32``, ``*.tissue.u8``, ``*.mask.u8``, ``index.json``)
            are replaced.
        target_axis: (C,) the model's wavenumber axis.
        progress: print one line per spot to stderr ("caching 3/60 spot_003.hdr").
        cube_dtype: "float32" (exact) or "float16" (half the bytes; error bound in
            the module docstring).

    Returns:
        The :class:`CacheIndex`.

    Raises:
        IrpathError subclasses naming the offending file (unreadable cube, Inf or
        partly-NaN spectra, wrong channel count, mask of the wrong size).
    """
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest)
    target = check_axis(target_axis, name="target_axis")
    check_cube_dtype(cube_dtype)
    cache_dir = Path(cache_dir)
    fp = cache_key(manifest, target, cube_dtype)
    index = _reusable(cache_dir, fp)
    if index is not None:
        if progress:
            print(f"cache up to date: {cache_dir} ({len(index)} spots)", file=sys.stderr)
        return index
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / INDEX_NAME).unlink(missing_ok=True)  # invalid until the rebuild finishes
    for pattern in _OWN_PATTERNS:
        for stale in cache_dir.glob(pattern):
            stale.unlink()
    entries = []
    n = len(manifest)
    for i, row in enumerate(manifest):
        if progress:
            print(f"caching {i + 1}/{n} {row.image.name}", file=sys.stderr, flush=True)
        entries.append(_cache_spot(row, f"{i:05d}", cache_dir, target, cube_dtype))
    doc = {"format": CACHE_FORMAT, "fingerprint": fp, "manifest": str(manifest.path),
           "axis": target.tolist(), "cube_dtype": cube_dtype,
           "entries": [dataclasses.asdict(e) for e in entries]}
    tmp = cache_dir / (INDEX_NAME + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, cache_dir / INDEX_NAME)
    return CacheIndex(cache_dir=cache_dir, entries=tuple(entries), axis=target, fingerprint=fp,
                      cube_dtype=cube_dtype)
