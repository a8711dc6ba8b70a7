"""One shared check for every custom layer: config and .keras round-trips."""

import keras
import numpy as np


def assert_layer_round_trip(layer, inputs, tmp_path):
    """``layer`` survives get_config/from_config and a .keras save/load with identical outputs.

    Args:
        layer: a built or unbuilt layer instance.
        inputs: a numpy array or list of arrays to call it on.
        tmp_path: a pytest tmp_path.
    """
    multi = isinstance(inputs, (list, tuple))
    expected = np.asarray(layer(list(inputs) if multi else inputs))

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    if clone.weights or layer.weights:
        clone(list(inputs) if multi else inputs)
        clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(list(inputs) if multi else inputs)), expected, rtol=1e-6, atol=1e-7)

    arrays = list(inputs) if multi else [inputs]
    model_inputs = [keras.Input(shape=a.shape[1:], dtype=str(a.dtype)) for a in arrays]
    out = layer(model_inputs if multi else model_inputs[0])
    model = keras.Model(model_inputs if multi else model_inputs[0], out)
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded(arrays if multi else arrays[0])), expected,
                               rtol=1e-6, atol=1e-7)
    return reloaded
