"""Label images (class maps, instance maps) as (H, W) int32, never collapsed to bool.

Unlike :func:`irpath.io.masks.read_mask`, every reader here keeps each pixel's
integer value: class indices of a class map, object ids of an instance map
(0 = background). Formats:

==========================  ===============================================
``.png`` ``.tif`` ``.bmp``  modes 1, L, P (the palette *index*, not its colour),
                            I, I;16, F (integral values); RGB/RGBA only when
                            R == G == B (grey saved as colour)
``.npy``                    integer/bool arrays, or floats holding integers;
                            for :func:`read_instance_type` also ``(H, W, 2)``
                            (instance, type) and HoVer-Net's ``(H, W, 5)``
                            (R, G, B, instance, type); never unpickled
``.npz``                    named arrays (``key``; ``inst_map``/``type_map``)
``.mat``                    a 2-D numeric variable (scipy; v7.3 through h5py),
                            e.g. CoNSeP/PanNuke ``inst_map``/``type_map``
==========================  ===============================================

:func:`check_label_map` applies the same value checks to an in-memory array, and
:func:`write_label_image` writes a map back (16-bit PNG, or ``.npy`` beyond 65535).
What the values *mean* (classes, id-mod-3 nuclei) belongs to the method reading them.
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


def _where(name) -> str:
    return f"{name}: " if str(name) else ""


def _as_int32(arr, path, what: str = "label image") -> np.ndarray:
    """``arr`` as int32, refusing NaN, non-integral, negative and too-large values."""
    arr = np.asarray(arr)
    kind = arr.dtype.kind
    where = _where(path)
    if kind == "b":
        return arr.astype(np.int32)
    if kind == "f":
        if not np.isfinite(arr).all():
            raise InvalidValuesError(f"{where}{what} contains NaN/Inf")
        bad = arr != np.round(arr)
        if bad.any():
            raise InvalidValuesError(f"{where}{what} holds non-integral values, e.g. "
                                     f"{arr[bad][0]!r} ({int(bad.sum())} pixels)")
    elif kind not in "iu":
        raise DataFileError(f"{where}{what} has dtype {arr.dtype}; expected integers")
    if arr.size:
        if arr.min() < 0:
            raise InvalidValuesError(f"{where}{what} has negative values (min {arr.min()})")
        if arr.max() > _INT32_MAX:
            raise InvalidValuesError(f"{where}{what} has values above int32 (max {arr.max()})")
    return arr.astype(np.int32)


def _check_shape(arr, path, shape, what: str = "label image") -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ShapeError(f"{_where(path)}a {what} must be 2-D (H, W), got shape {arr.shape}")
    if shape is not None and tuple(arr.shape) != tuple(shape[:2]):
        raise ShapeError(f"{_where(path)}{what} is {arr.shape[0]}x{arr.shape[1]} but its image is "
                         f"{shape[0]}x{shape[1]}")
    return arr


def check_label_map(arr, name="", what: str = "label image", shape=None) -> np.ndarray:
    """An in-memory class or instance map checked as the readers check a file's.

    Args:
        arr: (H, W) or (H, W, 1) integers, bools, or floats holding integers.
        name: the file or array named in messages ("" for none).
        what: what the map is, in messages (e.g. "nuclei label image").
        shape: the (H, W) it must have, checked if given.

    Returns:
        (H, W) int32, all values >= 0.

    Raises:
        ShapeError: not 2-D, or not ``shape``.
        InvalidValuesError: NaN/Inf, non-integral, negative or above-int32 values.
        DataFileError: a non-numeric dtype.
    """
    return _as_int32(_check_shape(np.asarray(arr), name, shape, what), name, what)


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
    return check_label_map(arr, path, shape=shape)




def read_instance_type(path, *, shape=None, inst_key: str = "inst_map", type_key: str = "type_map",
                       need_types: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an instance (or label) map and, where the file has one, its per-pixel type map.

    Args:
        path: any label file of :data:`LABEL_SUFFIXES`. Holding one map (an image,
            a 2-D ``.npy``, an ``.npz``/``.mat`` without ``inst_key``/``type_key``,
            read as :func:`read_label_image` reads it) it gives ``(map, None)``. An
            (H, W, 2) ``.npy`` is (instance, type), an (H, W, 5) one a HoVer-Net patch
            (R, G, B, instance, type); an ``.npz``/``.mat`` (CoNSeP/PanNuke exports,
            v7.3 included) names the maps ``inst_key`` and ``type_key``. Dicts pickled
            into ``.npy`` are refused: use ``.npz``.
        shape: the (H, W) of the image, checked if given.
        inst_key, type_key: variable names of the two maps.
        need_types: refuse an ``.npz``/``.mat`` that has ``inst_key`` but no ``type_key``
            (rather than giving the instance map without types).

    Returns:
        ``(inst, types)``: (H, W) int32 ids (0 = background) and (H, W) int32 type
        indices of the same shape, or None when the file holds a single map.

    Raises:
        The errors of :func:`read_label_image`, each naming ``path``; ShapeError for an
        ``.npy`` stack of another depth or maps of different shapes.
    """
    path, suffix = _check_path(path, LABEL_SUFFIXES)
    if suffix in IMAGE_SUFFIXES:
        return read_label_image(path, shape), None
    types = None
    if suffix == ".npy":
        inst = _read_npy(path)
        if inst.ndim == 3 and inst.shape[-1] in (2, 5):
            inst, types = inst[..., -2], inst[..., -1]
        elif not (inst.ndim == 2 or (inst.ndim == 3 and inst.shape[-1] == 1)):
            raise ShapeError(f"{path}: expected an (H, W) map, an (H, W, 2) (instance, type) "
                             f"stack or an (H, W, 5) HoVer-Net patch, got shape {inst.shape}")
    else:
        variables = _read_npz(path) if suffix == ".npz" else _read_mat(path)
        if inst_key in variables:
            inst, types = variables[inst_key], variables.get(type_key)
            if types is None and need_types:
                raise DatasetNotFoundError(f"{path}: no type map named {type_key} beside "
                                           f"{inst_key} (has: {_listing(variables)})")
        elif type_key in variables:
            raise DatasetNotFoundError(f"{path}: no instance map named {inst_key} "
                                       f"(has: {_listing(variables)})")
        else:
            inst = _pick(path, variables, None)
    inst = check_label_map(inst, path, "instance map" if types is not None else "label image",
                           shape)
    if types is not None:
        types = check_label_map(types, path, "type map", inst.shape)
    return inst, types


def write_label_image(path, label) -> Path:
    """Write an (H, W) class or instance map, atomically: a 16-bit PNG when its values fit,
    else an ``.npy`` (int32).

    Args:
        path: the ``.png`` to write; its suffix becomes ``.npy`` when a value exceeds 65535.
        label: (H, W) non-negative integers.

    Returns:
        The path written.
    """
    from PIL import Image

    from irpath.io.paths import atomic_path, atomic_save_npy

    label = check_label_map(label, path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if label.max(initial=0) > 65535:
        return atomic_save_npy(path.with_suffix(".npy"), label)
    with atomic_path(path) as tmp:  # the temporary keeps the suffix PIL reads the format from
        Image.fromarray(label.astype(np.uint16)).save(tmp)
    return path
