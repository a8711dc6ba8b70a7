"""Weight files in the layouts Keras has written, made here from a built model (never downloaded)."""

import h5py


def write_legacy_h5(model, path, *, notop_names: bool = False):
    """Weights the way Keras 2 wrote them (``save_weights("x.h5")``): root attributes
    ``layer_names`` / ``backend`` / ``keras_version``, one group per layer whose
    ``weight_names`` are ``<layer>/<variable>:0``, or with ``notop_names`` Keras' VGG16
    ``*_notop.h5`` names ``<layer>_W_1:0`` / ``<layer>_b_1:0``."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"
        for layer in model.layers:
            group = f.create_group(layer.name)
            if notop_names:
                names = [f"{layer.name}_{k}_1:0" for k in ("W", "b")[:len(layer.weights)]]
            else:
                names = [f"{w.path}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name, data=value)
    return path


def strip_layer_names(path):
    """Remove the layer names Keras >= 3.10 stores in a ``.weights.h5``: the file then reads
    as one written by an earlier Keras 3 (class keys only)."""
    with h5py.File(path, "r+") as f:
        for sub in f["layers"].values():
            if "vars" in sub and "name" in sub["vars"].attrs:
                del sub["vars"].attrs["name"]
    return path
