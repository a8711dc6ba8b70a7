"""Nuclei label formats: the id-mod-3 label image and instance + type maps.

Two formats describe the same thing, every nucleus as a set of pixels with a class:

* **id-mod-3 label image** (Qu et al. 2019, Sec. 2.1): one (H, W) integer image;
  0 = background, each nucleus its own positive id, and its class is ``id % 3``:
  0 → tumour, 1 → lymphocyte, 2 → stroma (:data:`CLASSES`).
* **instance map + type map** (CoNSeP / PanNuke / HoVer-Net exports): ``inst_map``
  (H, W) with one id per nucleus and ``type_map`` (H, W) with a dataset-specific
  type per pixel; a *class mapping* ``{type: class}`` turns types into the three
  classes (a class is a name from :data:`CLASSES` or its index; ``None`` drops the
  type's nuclei, which then become background).

Throughout irpath's nuclei code a *class* is an index into :data:`CLASSES`
(= ``id % 3``). Target channels and class maps use ``1 + class`` so that 0 stays
background (see :mod:`irpath.methods.nuclei.targets`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irpath.errors import (DataFileError, DatasetNotFoundError, InvalidValuesError, MissingFileError,
                           ShapeError, UnsupportedFormatError)

CLASSES = ("tumour", "lymphocyte", "stroma")

#: CoNSeP types (1 other, 2 inflammatory, 3 healthy epithelial, 4 malignant epithelial,
#: 5 fibroblast, 6 muscle, 7 endothelial) folded as HoVer-Net does (epithelial,
#: inflammatory, spindle); "other" joins stroma, the paper's catch-all class.
CONSEP_CLASS_MAP = {1: "stroma", 2: "lymphocyte", 3: "tumour", 4: "tumour",
                    5: "stroma", 6: "stroma", 7: "stroma"}

#: PanNuke types as commonly exported to type maps (1 neoplastic, 2 inflammatory,
#: 3 connective, 4 dead, 5 epithelial).
PANNUKE_CLASS_MAP = {1: "tumour", 2: "lymphocyte", 3: "stroma", 4: "stroma", 5: "tumour"}


def class_index(value) -> int:
    """A class name from :data:`CLASSES` or an index 0..2 → the index."""
    if isinstance(value, str):
        if value not in CLASSES:
            raise InvalidValuesError(f"unknown nucleus class {value!r}; expected one of {CLASSES}")
        return CLASSES.index(value)
    index = int(value)
    if not 0 <= index < len(CLASSES):
        raise InvalidValuesError(f"nucleus class index {index} out of range 0..{len(CLASSES) - 1}")
    return index


def decode_label(label) -> tuple[np.ndarray, dict[int, int]]:
    """Split an id-mod-3 label image into instances and classes.

    Args:
        label: (H, W) integer label image (0 = background).

    Returns:
        ``(instances, classes)``: (H, W) int32 instance ids (the label's own ids)
        and ``{id: id % 3}`` for every id present.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ShapeError(f"a nuclei label image must be 2-D (H, W), got shape {label.shape}")
    if label.dtype.kind == "f":
        if not np.all(np.isfinite(label)) or np.any(label != np.round(label)):
            raise InvalidValuesError("a nuclei label image must hold integers")
    if label.min(initial=0) < 0:
        raise InvalidValuesError("a nuclei label image must not hold negative ids")
    instances = label.astype(np.int32)
    ids = np.unique(instances)
    return instances, {int(i): int(i) % 3 for i in ids[ids > 0]}


def encode_label(instances, classes: dict) -> np.ndarray:
    """Instances and their classes → an id-mod-3 label image.

    Instances are renumbered in order of their ids: the k-th (k = 0, 1, ...) gets
    ``3 * (k + 1) + class``, so ids are unique, ``id % 3`` is the class and the
    largest id is below ``3 * (n + 2)``.

    Args:
        instances: (H, W) integer instance map (0 = background).
        classes: ``{instance id: class}`` (name or index) for every instance id
            present; a class of ``None`` drops the instance.

    Returns:
        (H, W) int32 label image.
    """
    instances = np.asarray(instances)
    if instances.ndim != 2:
        raise ShapeError(f"an instance map must be 2-D (H, W), got shape {instances.shape}")
    ids = np.unique(instances)
    ids = ids[ids > 0]
    missing = [int(i) for i in ids if int(i) not in classes]
    if missing:
        raise InvalidValuesError(f"no class given for instance id(s) {missing[:10]}")
    lut = np.zeros(int(ids.max(initial=0)) + 1, dtype=np.int64)
    k = 0
    for i in ids:
        cls = classes[int(i)]
        if cls is None:
            continue
        lut[int(i)] = 3 * (k + 1) + class_index(cls)
        k += 1
    out = np.where(instances > 0, lut[np.clip(instances, 0, None).astype(np.int64)], 0)
    return out.astype(np.int32)


def instance_types(inst_map, type_map) -> dict[int, int]:
    """Each instance's type: the most frequent nonzero type among its pixels (0 if none)."""
    inst = np.asarray(inst_map).astype(np.int64)
    types = np.asarray(type_map).astype(np.int64)
    if inst.shape != types.shape:
        raise ShapeError(f"inst_map {inst.shape} and type_map {types.shape} differ in shape")
    if types.min(initial=0) < 0 or inst.min(initial=0) < 0:
        raise InvalidValuesError("inst_map and type_map must not be negative")
    ids, inst_idx = np.unique(inst, return_inverse=True)
    inst_idx = inst_idx.reshape(inst.shape)
    n_types = int(types.max(initial=0)) + 1
    counts = np.bincount((inst_idx * n_types + types).ravel(), minlength=len(ids) * n_types)
    counts = counts.reshape(len(ids), n_types)
    counts[:, 0] = 0  # untyped pixels do not vote
    best = np.where(counts.any(axis=1), counts.argmax(axis=1), 0)
    return {int(i): int(t) for i, t in zip(ids, best) if i > 0}


def encode_inst_type(inst_map, type_map, class_map: dict, source="") -> np.ndarray:
    """Instance + type maps → an id-mod-3 label image through ``class_map``.

    Args:
        inst_map: (H, W) integer instance map (0 = background).
        type_map: (H, W) integer type map (0 = untyped).
        class_map: ``{type: class}``; class a name, an index or ``None`` (drop).
        source: file name for error messages.

    Returns:
        (H, W) int32 label image (see :func:`encode_label`).

    Raises:
        InvalidValuesError: an instance has a type missing from ``class_map``.
    """
    types = instance_types(inst_map, type_map)
    unknown = sorted({t for t in types.values() if t not in class_map})
    if unknown:
        where = f"{source}: " if source else ""
        raise InvalidValuesError(f"{where}nucleus type(s) {unknown} not in the class mapping "
                                 f"{sorted(class_map)}")
    return encode_label(inst_map, {i: class_map[t] for i, t in types.items()})


def _load_container(path: Path) -> dict:
    suffix = path.suffix.lower()
    try:
        if suffix == ".mat":
            from scipy.io import loadmat
            return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        arr = np.load(path, allow_pickle=False)
    except NotImplementedError:
        raise DataFileError(f"{path}: MATLAB v7.3 label files are not supported; "
                            "save with -v7") from None
    except Exception as exc:  # corrupt files raise many types
        raise DataFileError(f"{path}: cannot read label file: {exc}") from None
    if arr.ndim == 2:
        return {"label": arr}
    if arr.ndim == 3 and arr.shape[-1] >= 2:  # (H, W, 2) or HoVer-Net's (H, W, 5): [..., inst, type]
        return {"inst_map": arr[..., -2], "type_map": arr[..., -1]}
    raise ShapeError(f"{path}: expected (H, W) or (H, W, >=2) [inst, type], got {arr.shape}")


def read_nuclei_label(path, class_map: dict | None = None) -> np.ndarray:
    """Read a nuclei label file as an id-mod-3 label image.

    Args:
        path: an id-mod-3 label image (8/16-bit PNG or TIFF, or a 2-D ``.npy``);
            or an instance + type container: ``.mat``/``.npz`` with ``inst_map``
            and ``type_map``, or an ``.npy`` (H, W, 2) [inst, type] (the last two
            channels of a HoVer-Net (H, W, 5) patch).
        class_map: ``{type: class}`` for instance + type files (required there).

    Returns:
        (H, W) int32 label image.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".png", ".tif", ".tiff"):
        from PIL import Image
        try:
            with Image.open(path) as im:
                label = np.asarray(im)
        except Exception as exc:
            raise DataFileError(f"{path}: cannot read label image: {exc}") from None
        if label.ndim != 2:
            raise ShapeError(f"{path}: a label image must be single-channel, got {label.shape}")
        return decode_label(label)[0]
    if suffix not in (".npy", ".npz", ".mat"):
        raise UnsupportedFormatError(f"{path}: unsupported nuclei label type {suffix!r}")
    variables = _load_container(path)
    if "inst_map" in variables or "type_map" in variables:
        for key in ("inst_map", "type_map"):
            if key not in variables:
                raise DatasetNotFoundError(f"{path}: no variable named {key}")
        if class_map is None:
            raise InvalidValuesError(f"{path}: instance + type maps need a class mapping")
        return encode_inst_type(variables["inst_map"], variables["type_map"], class_map, source=path)
    if "label" in variables:
        try:
            return decode_label(variables["label"])[0]
        except (ShapeError, InvalidValuesError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    raise DatasetNotFoundError(f"{path}: no inst_map/type_map (has: {', '.join(variables)})")


def write_nuclei_label(path, label) -> Path:
    """Write an id-mod-3 label image: 16-bit PNG if ids fit, else ``.npy``.

    Returns:
        The path written (the suffix becomes ``.npy`` when ids exceed 65535).
    """
    from PIL import Image

    label = np.asarray(label)
    path = Path(path)
    if label.max(initial=0) > 65535:
        path = path.with_suffix(".npy")
        np.save(path, label.astype(np.int32))
        return path
    Image.fromarray(label.astype(np.uint16)).save(path)
    return path
