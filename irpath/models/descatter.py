"""A small 1-D convolutional descattering network: raw spectrum -> corrected spectrum.

After the descattering autoencoders of Magnussen et al. 2020 / 2022 (biospectools'
``DSAE``), reshaped for irpath's use: the network predicts the *correction*
(corrected - raw) of a spectrum, standardised per wavenumber, from the raw spectrum
standardised per wavenumber. Both standardisations are Keras ``Normalization``
layers holding the training statistics, so the saved ``.keras`` model maps raw
absorbance to corrected absorbance on its own. Only built-in layers: it round-trips
through ``.keras`` without custom objects.
"""

from __future__ import annotations

import keras
import numpy as np


def build_descatter(n_channels: int, stats: dict, *, filters: tuple[int, ...] = (16, 32),
                    kernel: int = 9, hidden: int = 256) -> tuple[keras.Model, keras.Model]:
    """The corrector and its training view, sharing every layer.

    Args:
        n_channels: C, channels per spectrum.
        stats: ``{"x_mean", "x_var", "r_mean", "r_var"}``, (C,) arrays: per-wavenumber
            mean and variance of the raw spectra and of the corrections.
        filters: Conv1D filters per stride-2 stage.
        kernel: Conv1D kernel size.
        hidden: width of the dense layers.

    Returns:
        ``(corrector, trainer)``: corrector (N, C) raw -> (N, C) corrected; trainer
        (N, C) raw -> (N, C) standardised correction (what the loss sees).
    """
    raw = keras.Input((n_channels,), name="raw")
    z = keras.layers.Normalization(mean=np.asarray(stats["x_mean"], np.float32),
                                   variance=np.asarray(stats["x_var"], np.float32),
                                   name="standardise_input")(raw)
    h = keras.layers.Reshape((n_channels, 1))(z)
    for i, f in enumerate(filters):
        h = keras.layers.Conv1D(f, kernel, strides=2, padding="same", activation="relu",
                                name=f"conv{i}")(h)
    h = keras.layers.Concatenate()([keras.layers.Flatten()(h), z])
    h = keras.layers.Dense(hidden, activation="relu", name="dense0")(h)
    h = keras.layers.Dense(hidden, activation="relu", name="dense1")(h)
    d = keras.layers.Add(name="correction_std")([keras.layers.Dense(n_channels, name="nonlinear")(h),
                                                 keras.layers.Dense(n_channels, name="linear")(z)])
    r = keras.layers.Normalization(mean=np.asarray(stats["r_mean"], np.float32),
                                   variance=np.asarray(stats["r_var"], np.float32), invert=True,
                                   name="unstandardise_correction")(d)
    corrected = keras.layers.Add(name="corrected")([raw, r])
    return (keras.Model(raw, corrected, name="descatter"),
            keras.Model(raw, d, name="descatter_trainer"))
