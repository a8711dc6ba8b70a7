"""Flips/turns in the training step equal the pipeline's array-level augmentation."""

import numpy as np
import pytest
import tensorflow as tf

from irpath.data import build_cache
from irpath.methods.compsegnet.data import make_dataset
from irpath.io import read_manifest
from irpath.layers import DihedralTransform

from tests.data.conftest import AXIS, write_spots

KW = dict(batch_size=3, augment=True, comparative=True, seed=4, pad_multiple=8, steps_per_epoch=2)


@pytest.fixture
def square_spots(tmp_path, rng):
    """Six 8 x 8 spots: no padding, so all 8 transforms are drawn."""
    path, _ = write_spots(tmp_path / "src", [(8, 8)] * 6, [1, 0, 1, 0, 1, 0], rng=rng)
    return build_cache(read_manifest(path), tmp_path / "cache", target_axis=AXIS, progress=False)


def _arrays(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def test_device_augmentation_equals_the_array_reference(square_spots):
    for epoch in (0, 3):
        host = _arrays(make_dataset(square_spots, epoch=epoch, **KW))
        device = _arrays(make_dataset(square_spots, epoch=epoch, device_augment=True, **KW))
        assert len(host) == len(device) == 2
        for h, d in zip(host, device):
            cube, tissue = DihedralTransform()([d["cube"], d["tissue"], d["dihedral"]])
            np.testing.assert_array_equal(np.asarray(cube), h["cube"])
            np.testing.assert_array_equal(np.asarray(tissue), h["tissue"])
            np.testing.assert_array_equal(d["label"], h["label"])
        ks = np.concatenate([d["dihedral"] for d in device])
        assert len(set(ks)) > 2  # really augmented
        plain = _arrays(make_dataset(square_spots, epoch=epoch, **{**KW, "augment": False}))
        np.testing.assert_array_equal(np.concatenate([d["cube"] for d in device]),
                                      np.concatenate([p["cube"] for p in plain]))


def test_transforms_are_a_function_of_seed_and_epoch(square_spots):
    stream = make_dataset(square_spots, repeat=True, device_augment=True, **KW)
    first4 = [b["dihedral"].numpy() for b in stream.take(8)]          # epochs 0..3
    resumed = [b["dihedral"].numpy() for b in make_dataset(square_spots, epoch=3, device_augment=True, **KW)]
    np.testing.assert_array_equal(np.concatenate(first4[6:]), np.concatenate(resumed))
    other = make_dataset(square_spots, epoch=3, device_augment=True, **{**KW, "seed": 5})
    assert not np.array_equal(np.concatenate([b["dihedral"].numpy() for b in other]),
                              np.concatenate(resumed))


def test_padded_spots_keep_their_host_augmentation(spots):
    index, _ = spots  # mixed sizes: transformed before padding, as always
    kw = {**KW, "pad_multiple": 16, "comparative": False, "steps_per_epoch": None}
    host = _arrays(make_dataset(index, **kw))
    device = _arrays(make_dataset(index, device_augment=True, **kw))
    for h, d in zip(host, device, strict=True):
        assert not d["dihedral"].any()
        np.testing.assert_array_equal(d["cube"], h["cube"])


def test_compsegnet_with_device_augmentation_gives_the_same_outputs_and_gradients(square_spots, rng):
    import keras

    from irpath.losses import ComparativeLoss
    from irpath.methods.compsegnet.config import CompSegNetConfig
    from irpath.methods.compsegnet.config import build_from_config

    cfg = CompSegNetConfig(filters=2, depth=1, in_channels=AXIS.size, wn_start=float(AXIS[0]),
                           wn_stop=float(AXIS[-1]), norm="none")
    mean, std = rng.random(AXIS.size), rng.random(AXIS.size) + 0.5
    keras.utils.set_random_seed(0)
    on_host = build_from_config(cfg, mean, std)
    keras.utils.set_random_seed(0)
    on_device = build_from_config(cfg, mean, std, device_augment=True)
    for a, b in zip(on_host.get_weights(), on_device.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the same initial weights from the same seed
    h = next(iter(make_dataset(square_spots, **KW)))
    d = next(iter(make_dataset(square_spots, device_augment=True, **KW)))
    loss = ComparativeLoss(alpha=cfg.alpha)
    grads = []
    for model, x in ((on_host, {"cube": h["cube"], "tissue": h["tissue"]}),
                     (on_device, {"cube": d["cube"], "tissue": d["tissue"], "dihedral": d["dihedral"]})):
        with tf.GradientTape() as tape:
            value = loss(h["label"], model(x, training=True))
        grads.append([g.numpy() for g in tape.gradient(value, model.trainable_weights)])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
