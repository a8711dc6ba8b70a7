"""A toy method: what a newcomer writes to add a method (the README's "Adding a method").

A 1x1 convolution on RGB tiles learns which pixels are "red"; its post-processing
labels connected red regions as instances. It declares its configs, the model, the
data and the post-processing; training, resume, workers, evaluation, export and
prediction are the core's.
"""

import dataclasses

import numpy as np

from irpath.methods.base import Method


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    in_channels: int = 3


@dataclasses.dataclass(frozen=True)
class ToyTrainConfig:
    epochs: int = 3
    batch_size: int = 2
    lr: float = 0.05
    seed: int = 0


def _read(manifest):
    from irpath.io import read_manifest
    from irpath.io.rgb import read_rgb

    rows = read_manifest(manifest, labels=None).rows
    x = np.stack([read_rgb(r.image).data for r in rows])
    y = np.stack([read_rgb(r.label).data[..., :1] for r in rows]) / 255.0
    return x, y


class Toy(Method):
    name = "toy"
    modality = "rgb"
    summary = "a 1x1 convolution that finds red pixels (an example)"
    config_class = ToyConfig
    train_config_class = ToyTrainConfig
    map_names = ("red",)
    result_arrays = ("inst",)

    def build_model(self, ctx):
        import keras

        image = keras.Input((None, None, 3), name="image")
        red = keras.layers.Conv2D(1, 1, activation="sigmoid")(keras.layers.Rescaling(1 / 255)(image))
        model = keras.Model(image, red, name="toy")
        model.compile(optimizer=keras.optimizers.Adam(ctx.train_cfg.lr), loss="binary_crossentropy")
        return model

    def datasets(self, ctx):
        import tensorflow as tf

        return tuple(tf.data.Dataset.from_tensor_slices(_read(ctx.data[k])).batch(ctx.global_batch)
                     for k in ("train", "val"))

    def postprocess(self, maps, prepared, cfg, *, threshold=None):
        from scipy import ndimage

        inst, n = ndimage.label(maps[..., 0] >= (threshold or 0.5))
        return {"arrays": {"inst": inst.astype(np.int32)}, "summary": {"objects": int(n)}}


METHOD = Toy()
