"""Keras weight files of a known network (VGG16, ResNet34), in either Keras layout.

Read with h5py alone, layer by layer, and copied into the layers of the same name:

* **keras3**: ``model.save_weights("x.weights.h5")``: a ``layers`` group with one
  subgroup per layer, keyed by its class (``conv2d``, ``conv2d_1``, ... in the
  model's layer order), its arrays under ``vars/0``, ``vars/1``, ...; Keras >= 3.10
  also stores the layer's own name as the ``name`` attribute of ``vars``.
* **legacy**: Keras 2's h5 (``save_weights("x.h5")``, and the files Keras'
  applications download, e.g. ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``):
  a ``layer_names`` attribute, one group per layer whose ``weight_names`` attribute
  lists its arrays in order; under ``model_weights`` when a whole model was saved.

A :class:`Network` says which layers a file must hold and their shapes, so a file of
another network, or of other widths, is refused in one line before anything is set.
Only the file's top-level layers count: a nested model's weights are not searched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irpath.errors import DataFileError, MissingFileError, ShapeError

LAYOUTS = ("keras3", "legacy")


@dataclass(frozen=True)
class LayerWeights:
    """One layer of a :class:`Network`: its name, its keras3 file key, its weight shapes."""

    name: str
    key: str
    shapes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Network:
    """The layers with weights a weights file of this network holds.

    Attributes:
        name: the network, as messages name it (e.g. "VGG16").
        layers: in the network's layer order.
    """

    name: str
    layers: tuple[LayerWeights, ...]

    def __post_init__(self):
        if not self.layers:
            raise ValueError(f"network {self.name!r} has no layers with weights")


def class_key(class_name: str) -> str:
    """Keras' snake_case of a layer class name (``Conv2D`` -> ``conv2d``), as keras3 files key it."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def network_of(model, name: str) -> Network:
    """The :class:`Network` of a built Keras model: its layers that have weights.

    Args:
        model: a Keras model (only ``.layers``, each layer's ``.name``, class and
            ``get_weights()`` are used).
        name: the network's name for messages.
    """
    counts: dict[str, int] = {}
    layers = []
    for layer in model.layers:
        base = class_key(type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        shapes = tuple(tuple(np.shape(w)) for w in layer.get_weights())
        if shapes:
            layers.append(LayerWeights(layer.name, base if n == 0 else f"{base}_{n}", shapes))
    return Network(name, tuple(layers))


def _vgg16() -> Network:
    widths = (3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    names = [f"block{b}_conv{i}" for b, n in enumerate((2, 2, 3, 3, 3), start=1)
             for i in range(1, n + 1)]
    return Network("VGG16", tuple(
        LayerWeights(name, "conv2d" if k == 0 else f"conv2d_{k}", ((3, 3, cin, cout), (cout,)))
        for k, (name, cin, cout) in enumerate(zip(names, widths[:-1], widths[1:]))))


#: ``keras.applications.VGG16``'s 13 convolutions (the dense top, if a file has it, is ignored).
VGG16 = _vgg16()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_keras3(group) -> tuple[dict, dict]:
    """``({layer name: arrays}, {class key: arrays})`` of a keras3 ``layers`` group."""
    by_name, by_key = {}, {}
    for key, sub in group.items():
        if "vars" not in sub:
            continue
        variables = sub["vars"]
        arrays = [np.asarray(variables[str(i)]) for i in range(len(variables))]
        by_key[key] = arrays
        if "name" in variables.attrs:
            by_name[_text(variables.attrs["name"])] = arrays
    return by_name, by_key


def _read_legacy(group) -> dict:
    out = {}
    for name in (_text(n) for n in group.attrs["layer_names"]):
        if name in group:
            out[name] = [np.asarray(group[name][_text(w)])
                         for w in group[name].attrs.get("weight_names", [])]
    return out


def read_weights_file(path, network: Network) -> tuple[str, dict[str, list[np.ndarray]]]:
    """Read ``network``'s layers from a weights file in either layout.

    Args:
        path: an HDF5 weights file (see the module docstring for the two layouts).
        network: the layers the file must hold, with their shapes.

    Returns:
        ``(layout, weights)``: "keras3" or "legacy", and ``{layer name: [arrays]}`` for
        every layer of ``network`` (in the order of ``layer.get_weights()``).

    Raises:
        MissingFileError: no such file.
        DataFileError: not HDF5, neither layout, or not ``network``'s layers and shapes.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {network.name} weights file not found")
    try:
        with h5py.File(path, "r") as f:
            if "layers" in f:
                layout = "keras3"
                by_name, by_key = _read_keras3(f["layers"])
                # Files of Keras < 3.10 carry no layer names: their class keys stand in.
                found = by_name or {layer.name: by_key[layer.key] for layer in network.layers
                                    if layer.key in by_key}
            else:
                group = f["model_weights"] if "model_weights" in f else f
                if "layer_names" not in group.attrs:
                    raise DataFileError(f"{path}: neither Keras 3 .weights.h5 (no 'layers' group) "
                                        "nor Keras 2 h5 weights (no 'layer_names' attribute)")
                layout, found = "legacy", _read_legacy(group)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read as HDF5 weights: {exc}") from None
    weights, problems = {}, []
    for layer in network.layers:
        arrays = found.get(layer.name)
        shapes = None if arrays is None else tuple(a.shape for a in arrays)
        if shapes == layer.shapes:
            weights[layer.name] = arrays
        else:
            problems.append(f"layer {layer.name} " + ("missing" if arrays is None else
                                                      f"has {list(shapes)}, not {list(layer.shapes)}"))
    if problems:
        raise DataFileError(f"{path}: not {network.name} weights ({layout} layout): "
                            f"{len(weights)} of its {len(network.layers)} layers match; "
                            f"{problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1
                                                else ""))
    return layout, weights


def set_layer_weights(model, weights: dict, source) -> list[str]:
    """Copy ``{layer name: [arrays]}`` into the layers of ``model`` that have those names.

    Args:
        model: a Keras model (``.name``, ``.layers``, ``get_weights``/``set_weights``).
        weights: e.g. from :func:`read_weights_file`; layers with other names are left alone.
        source: the file (or source) named in messages.

    Returns:
        The names of the layers set, in ``model``'s order.

    Raises:
        ShapeError: ``model`` has none of those layers, or one of them has other shapes
            (nothing is set then).
    """
    targets = [layer for layer in model.layers if layer.name in weights]
    if not targets:
        raise ShapeError(f"{source}: model {model.name!r} has none of the layers to load into "
                         f"({', '.join(list(weights)[:3])}, ...)")
    for layer in targets:
        have = [tuple(np.shape(w)) for w in layer.get_weights()]
        want = [tuple(np.shape(v)) for v in weights[layer.name]]
        if have != want:
            raise ShapeError(f"{source}: layer {layer.name} has weight shapes {have}, the file has "
                             f"{want}")
    for layer in targets:
        layer.set_weights(weights[layer.name])
    return [layer.name for layer in targets]


def load_weights_file(model, path, network: Network) -> list[str]:
    """:func:`read_weights_file` then :func:`set_layer_weights`: ``network``'s weights from
    ``path`` (either layout) into the layers of ``model`` named like them.

    Returns:
        The names of the layers that received weights.
    """
    _, weights = read_weights_file(path, network)
    return set_layer_weights(model, weights, path)
