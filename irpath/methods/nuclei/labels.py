"""What nuclei label files mean: the id-mod-3 label image and instance + type maps.

Files are read by :func:`irpath.io.labels.read_instance_type` (every format and value
check lives there); this module gives the values their nuclei meaning.

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

import numpy as np

from irpath.errors import InvalidValuesError, ShapeError
from irpath.io.labels import check_label_map, read_instance_type

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
    instances = check_label_map(label, what="nuclei label image")
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
    instances = check_label_map(instances, what="instance map")
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
    inst = check_label_map(inst_map, what="inst_map").astype(np.int64)
    types = np.asarray(type_map)
    if types.shape != inst.shape:
        raise ShapeError(f"inst_map {inst.shape} and type_map {types.shape} differ in shape")
    types = check_label_map(types, what="type_map").astype(np.int64)
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


def read_nuclei_label(path, class_map: dict | None = None) -> np.ndarray:
    """Read a nuclei label file as an id-mod-3 label image.

    Args:
        path: a file :func:`irpath.io.labels.read_instance_type` reads. Holding one map
            (an 8/16-bit PNG or TIFF, a 2-D ``.npy``, an ``.npz``/``.mat`` ``label``), it is
            the id-mod-3 label image; holding an instance + type pair (``.mat``/``.npz``
            ``inst_map`` and ``type_map``, MATLAB v7.3 included; an ``.npy`` (H, W, 2)
            [inst, type] or a HoVer-Net (H, W, 5) patch), the types go through ``class_map``.
        class_map: ``{type: class}`` for instance + type files (required there).

    Returns:
        (H, W) int32 label image.
    """
    inst, types = read_instance_type(path, need_types=True)
    if types is None:
        return inst  # already checked: (H, W) int32 >= 0, its ids carry the classes (id % 3)
    if class_map is None:
        raise InvalidValuesError(f"{path}: instance + type maps need a class mapping")
    return encode_inst_type(inst, types, class_map, source=path)
