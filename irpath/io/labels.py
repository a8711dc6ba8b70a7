"""Label images (class maps, instance maps) as (H, W) int32, never collapsed to bool.

Unlike :func:`irpath.io.masks.read_mask`, every reader here keeps each pixel's
integer value: class indices of a class map, object ids of an instance map
(0 = background). Formats:

==========================  ===============================================
``.png`` ``.tif`` ``.bmp``  modes 1, L, P (the palette *index*, not its colour),
                            I, I;16, F (integral values); RGB/RGBA only when
                            R == G == B (grey saved as colour)
``.npy``                    integer/bool arrays, or floats holding integers;
                            ``(H, W, 2)`` = (instance, type) for
                            :func:`read_instance_type`; never unpickled
``.npz``                    named arrays (``key``; ``inst_map``/``type_map``)
``.mat``                    a 2-D numeric variable (scipy; v7.3 through h5py),
                            e.g. CoNSeP/PanNuke ``inst_map``/``type_map``
==========================  ===============================================
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from irpath.errors import (DataFileError, DatasetNotFoundError, InvalidValuesError,
                           MissingFileError, ShapeError, UnsupportedFormatError)

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
LABEL_SUFFIXES = IMAGE_SUFFIXES + (".npy", ".npz", ".mat")
#: Names tried, in order, for the label variable of an ``.npz`` / ``.mat`` file.
LABEL_KEYS = ("label", "labels", "class_map", "inst_map", "type_map", "mask")
_GREY_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_INT32_MAX = np.iinfo(np.int32).max


def _check_path(path, suffixes) -> tuple[Path, str]:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise UnsupportedFormatError(f"{path}: unsupported label file type {suffix!r}; "
                                     "expected one of " + " ".join(suffixes))
    return path, suffix


def _as_int32(arr, path, what: str = "label image") -> np.ndarray:
    """``arr`` as int32, refusing NaN, non-integral, negative and too-large values."""
    arr = np.asarray(arr)
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(np.int32)
    if kind == "f":
        if not np.isfinite(arr).all():
            raise InvalidValuesError(f"{path}: {what} contains NaN/Inf")
        bad = arr != np.round(arr)
        if bad.any():
            raise InvalidValuesError(f"{path}: {what} holds non-integral values, e.g. "
                                     f"{arr[bad][0]!r} ({int(bad.sum())} pixels)")
    elif kind not in "iu":
        raise DataFileError(f"{path}: {what} has dtype {arr.dtype}; expected integers")
    if arr.size:
        if arr.min() < 0:
            raise InvalidValuesError(f"{path}: {what} has negative values (min {arr.min()})")
        if arr.max() > _INT32_MAX:
            raise InvalidValuesError(f"{path}: {what} has values above int32 (max {arr.max()})")
    return arr.astype(np.int32)


def _check_shape(arr, path, shape, what: str = "label image") -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ShapeError(f"{path}: a {what} must be 2-D (H, W), got shape {arr.shape}")
    if shape is not None and tuple(arr.shape) != tuple(shape[:2]):
        raise ShapeError(f"{path}: {what} is {arr.shape[0]}x{arr.shape[1]} but its image is "
                         f"{shape[0]}x{shape[1]}")
    return arr


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.asarray(im)
    except Exception as exc:  # Pillow raises many types on corrupt files
        raise DataFileError(f"{path}: cannot read label image: {exc}") from None
    if mode in _GREY_MODES:
        return arr
    if mode in ("LA", "PA"):
        return arr[..., 0]
    if mode in ("RGB", "RGBA") and arr.ndim == 3:
        rgb = arr[..., :3]
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all():
            return rgb[..., 0]
        raise DataFileError(f"{path}: label image is colour ({mode}) with R, G, B differing; "
                            "colour-coded labels need a colour -> index decoder (e.g. "
                            "irpath.io.colour_labels.read_colour_labels), or save them as "
                            "mode L/P/I")
    raise DataFileError(f"{path}: label image mode {mode} is not supported; expected a "
                        "single-channel (1, L, P, I, I;16, F) image")


def _listing(variables: dict) -> str:
    return ", ".join(f"{k} {getattr(v, 'shape', '')}" for k, v in variables.items()) or "none"


def _read_mat(path: Path) -> dict:
    """``{name: array}`` of a ``.mat`` file's numeric variables (v7.3: root datasets)."""
    from scipy.io import loadmat

    try:
        variables = loadmat(path)
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5) files
        return _read_mat_v73(path)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... on junk
        raise DataFileError(f"{path}: cannot read MAT file: {exc}") from None
    return {k: v for k, v in variables.items()
            if not k.startswith("__") and isinstance(v, np.ndarray) and v.dtype.kind in "biuf"}


def _read_mat_v73(path: Path) -> dict:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            # MATLAB writes column-major: an (H, W) variable is stored (W, H).
            return {k: np.asarray(d[()]).T for k, d in f.items()
                    if isinstance(d, h5py.Dataset) and d.dtype.kind in "biuf"}
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read MAT v7.3 file: {exc}") from None


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise DataFileError(f"{path}: cannot read .npz: {exc}") from None


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:  # object arrays (dicts), truncated files
        raise DataFileError(f"{path}: cannot read .npy (a dict of arrays must be saved as "
                            f".npz): {exc}") from None


def _pick(path, variables: dict, key: str | None):
    if key is not None:
        if key not in variables:
            raise DatasetNotFoundError(f"{path}: no variable named {key} "
                                       f"(has: {_listing(variables)})")
        return variables[key]
    name = next((k for k in LABEL_KEYS if k in variables), None)
    if name is None:
        flat = [k for k, v in variables.items() if np.ndim(v) == 2 and min(np.shape(v)) > 1]
        if len(flat) != 1:
            raise DatasetNotFoundError(f"{path}: no variable named {' or '.join(LABEL_KEYS)} "
                                       f"and {len(flat)} 2-D variables to choose from (has: "
                                       f"{_listing(variables)}); pass the name as key")
        name = flat[0]
    return variables[name]


def read_label_image(path, shape=None, *, key: str | None = None) -> np.ndarray:
    """Read a class or instance map as (H, W) int32, keeping every value.

    Args:
        path: ``.png``/``.tif``/``.tiff``/``.bmp``/``.npy``/``.npz``/``.mat`` file
            (see the module docstring for accepted modes and dtypes).
        shape: the (H, W) (or (H, W, C)) of its image, checked if given.
        key: variable name inside an ``.npz``/``.mat``; default the first of
            :data:`LABEL_KEYS` present, else the only 2-D variable.

    Returns:
        (H, W) int32, all values >= 0.

    Raises:
        MissingFileError, UnsupportedFormatError, DataFileError (unreadable,
        colour image, non-integer dtype), DatasetNotFoundError, ShapeError,
        InvalidValuesError (NaN, negative, non-integral) -- each naming ``path``.
    """
    path, suffix = _check_path(path, LABEL_SUFFIXES)
    if suffix in IMAGE_SUFFIXES:
        arr = _read_pil(path)
    elif suffix == ".npy":
        arr = _read_npy(path)
    elif suffix == ".npz":
        arr = _pick(path, _read_npz(path), key)
    else:
        arr = _pick(path, _read_mat(path), key)
    return _as_int32(_check_shape(np.asarray(arr), path, shape), path)


def read_instance_type(path, inst_key: str = "inst_map", type_key: str = "type_map",
                       shape=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a nuclei instance map and, if present, its per-pixel type map.

    Args:
        path: ``.mat`` (CoNSeP/PanNuke exports, v7.3 included) or ``.npz`` with
            arrays ``inst_key`` and optionally ``type_key``; or ``.npy`` holding
            an (H, W) instance map (no types) or an (H, W, 2) stack
            (instance, type). Dicts pickled into ``.npy`` are refused: use ``.npz``.
        inst_key, type_key: variable names of the two maps.
        shape: the (H, W) of the image, checked if given.

    Returns:
        ``(inst, types)``: (H, W) int32 instance ids (0 = background) and
        (H, W) int32 type indices, or None when the file has no type map.
    """
    path, suffix = _check_path(path, (".npy", ".npz", ".mat"))
    if suffix == ".npy":
        arr = _read_npy(path)
        if arr.ndim == 3 and arr.shape[-1] == 2:
            inst, types = arr[..., 0], arr[..., 1]
        elif arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 1):
            inst, types = arr, None
        else:
            raise ShapeError(f"{path}: expected an (H, W) instance map or an (H, W, 2) "
                             f"(instance, type) stack, got shape {arr.shape}")
    else:
        variables = _read_npz(path) if suffix == ".npz" else _read_mat(path)
        if inst_key not in variables:
            raise DatasetNotFoundError(f"{path}: no instance map named {inst_key} "
                                       f"(has: {_listing(variables)})")
        inst, types = variables[inst_key], variables.get(type_key)
    inst = _as_int32(_check_shape(np.asarray(inst), path, shape, "instance map"), path,
                     "instance map")
    if types is not None:
        types = _as_int32(_check_shape(np.asarray(types), path, inst.shape, "type map"), path,
                          "type map")
    return inst, types


def check_label_values(labels, allowed, path) -> None:
    """Refuse label values outside ``allowed``.

    Args:
        labels: (H, W) integer label image.
        allowed: the permitted values (e.g. ``range(n_classes)``).
        path: the file the labels came from, named in the message.

    Raises:
        InvalidValuesError: naming ``path``, up to 5 unknown values and how many
            pixels hold unknown values.
    """
    labels = np.asarray(labels)
    allowed = np.asarray(sorted(set(int(v) for v in allowed)), dtype=np.int64)
    unknown = np.setdiff1d(np.unique(labels), allowed)
    if unknown.size:
        count = int(np.isin(labels, unknown).sum())
        shown = ", ".join(str(int(v)) for v in unknown[:5])
        more = f" (+{unknown.size - 5} more)" if unknown.size > 5 else ""
        raise InvalidValuesError(f"{path}: label values {shown}{more} are not among the "
                                 f"allowed {_describe(allowed)} ({count} pixels)")


def _describe(allowed: np.ndarray) -> str:
    if allowed.size > 2 and np.array_equal(allowed, np.arange(allowed[0], allowed[-1] + 1)):
        return f"{allowed[0]}..{allowed[-1]}"
    return "{" + ", ".join(str(int(v)) for v in allowed[:10]) + (", ...}" if allowed.size > 10
                                                                  else "}")
