import time

import keras
import numpy as np
import pytest

from irpath.errors import ConfigError, DataFileError, MissingFileError
from irpath.models.vgg_fcn import (PAPER_DECODERS, VGG16_CUTS, VGGPreprocess, build_vgg_fcn,
                                   load_vgg16_weights)
from tests.serialization import assert_layer_round_trip

TINY = (8, 8, 8, 8, 8, 8)  # narrow Fig. 6 decoder for speed


def _vgg_layers(model):
    return [layer for layer in model.layers if layer.name.startswith("block")]


@pytest.fixture(scope="module")
def vgg_notop(tmp_path_factory):
    """A VGG16 (no top) with random weights, and the .weights.h5 file it saved."""
    keras.utils.set_random_seed(3)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path_factory.mktemp("vgg") / "vgg16_notop.weights.h5"
    vgg.save_weights(path)
    return vgg, path


def test_cut_table_matches_vgg16():
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    names = [layer.name for layer in vgg.layers[1:]]
    assert list(VGG16_CUTS) == names
    for layer in vgg.layers[1:]:
        assert VGG16_CUTS[layer.name] == 64 // layer.output.shape[1]


@pytest.mark.parametrize("cut, decoder", [
    ("block1_conv2", (("conv", 3, 8),)),
    ("block2_conv2", "exp3"),
    ("block3_conv2", None),
    ("block3_pool", (("up", 2, 8),) * 3),
])
def test_encoder_cut_points(cut, decoder):
    filters = None if not isinstance(decoder, str) else [8] * len(PAPER_DECODERS[decoder])
    model = build_vgg_fcn(cut=cut, decoder=decoder, decoder_filters=filters if decoder else TINY)
    reference = keras.applications.VGG16(include_top=False, weights=None)
    ref_names = [layer.name for layer in reference.layers[1:]]
    names = [layer.name for layer in _vgg_layers(model)]
    assert names == ref_names[: ref_names.index(cut) + 1]
    for layer in _vgg_layers(model):
        ref = reference.get_layer(layer.name).get_config()
        got = layer.get_config()
        for key in ("filters", "kernel_size", "strides", "padding", "activation", "pool_size"):
            assert got.get(key) == ref.get(key), (layer.name, key)
    encoder = keras.Model(model.input, model.get_layer(cut).output)
    features = encoder(np.zeros((1, 32, 48, 3), np.float32))
    stride = VGG16_CUTS[cut]
    assert features.shape[1:3] == (32 // stride, 48 // stride)
    assert model(np.zeros((1, 32, 48, 3), np.float32)).shape == (1, 32, 48, 3)


def test_final_architecture_is_fig6():
    model = build_vgg_fcn()
    decoder = [layer for layer in model.layers if layer.name.startswith(("decoder", "logits"))]
    summary = [(type(layer).__name__, layer.kernel_size, layer.filters,
                layer.get_config()["activation"]) for layer in decoder]
    assert summary == [("Conv2D", (3, 3), 256, "relu"), ("Conv2DTranspose", (2, 2), 256, "relu"),
                       ("Conv2D", (3, 3), 256, "relu"), ("Conv2DTranspose", (2, 2), 128, "relu"),
                       ("Conv2D", (3, 3), 64, "relu"), ("Conv2D", (3, 3), 32, "relu"),
                       ("Conv2D", (3, 3), 3, "linear")]
    assert all(layer.strides == (2, 2) for layer in decoder if "up" in layer.name)
    assert model.get_layer("block3_conv2").output.shape[-1] == 256
    assert model.layers[-1].name == "probabilities"


@pytest.mark.parametrize("exp", ["exp1", "exp2"])
def test_experiments_1_2_build(exp):
    model = build_vgg_fcn(cut="block2_conv2", decoder=exp, decoder_filters=(4, 4, 4, 4))
    kernels = [layer.kernel_size[0] for layer in model.layers if layer.name.startswith("decoder_conv")]
    assert kernels == {"exp1": [11, 9, 3], "exp2": [9, 7, 5]}[exp]
    assert model(np.zeros((1, 17, 21, 3), np.float32)).shape == (1, 17, 21, 3)


@pytest.mark.parametrize("hw", [(33, 50), (17, 9), (64, 64), (1, 1)])
def test_output_size_equals_input_size(hw):
    model = build_vgg_fcn(decoder_filters=TINY)
    x = np.random.default_rng(0).uniform(0, 255, (2, *hw, 3)).astype(np.float32)
    y = np.asarray(model(x))
    assert y.shape == (2, *hw, 3)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_paper_size_forward():
    model = build_vgg_fcn()
    y = model(np.full((1, 720, 1128, 3), 128.0, np.float32))
    assert y.shape == (1, 720, 1128, 3)


def test_preprocessing_matches_keras_applications(tmp_path, rng):
    x = rng.uniform(0, 255, (2, 5, 4, 3)).astype(np.float32)
    expected = keras.applications.vgg16.preprocess_input(x.copy())
    np.testing.assert_allclose(np.asarray(VGGPreprocess()(x)), expected, rtol=1e-6, atol=1e-4)
    assert_layer_round_trip(VGGPreprocess(name="pre"), x, tmp_path)


def test_weights_load_and_features_match_vgg16(vgg_notop, rng):
    vgg, path = vgg_notop
    model = build_vgg_fcn(weights=path, decoder_filters=TINY)
    for layer in _vgg_layers(model):
        for got, want in zip(layer.get_weights(), vgg.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)
    # The model's encoder on raw RGB == keras' VGG16 on preprocess_input(RGB).
    x = rng.uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    ours = keras.Model(model.input, model.get_layer("block3_conv2").output)(x)
    theirs = keras.Model(vgg.input, vgg.get_layer("block3_conv2").output)(
        keras.applications.vgg16.preprocess_input(x.copy()))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-3)


def test_load_into_encoder_only(vgg_notop):
    vgg, path = vgg_notop
    encoder = keras.Sequential([keras.Input((None, None, 3)),
                                keras.layers.Conv2D(64, 3, padding="same", name="block1_conv1"),
                                keras.layers.Conv2D(5, 1, name="head")])
    assert load_vgg16_weights(encoder, path) == ["block1_conv1"]
    np.testing.assert_array_equal(encoder.get_layer("block1_conv1").get_weights()[0],
                                  vgg.get_layer("block1_conv1").get_weights()[0])


def test_bad_weight_files(tmp_path):
    small = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    small.save_weights(tmp_path / "small.weights.h5")
    model = build_vgg_fcn(cut="block1_conv2", decoder=(("conv", 3, 4),))
    with pytest.raises(DataFileError, match=r"small\.weights\.h5: not VGG16 weights"):
        load_vgg16_weights(model, tmp_path / "small.weights.h5")
    (tmp_path / "junk.weights.h5").write_text("not hdf5")
    with pytest.raises(DataFileError, match=r"junk\.weights\.h5: cannot read"):
        load_vgg16_weights(model, tmp_path / "junk.weights.h5")
    with pytest.raises(MissingFileError, match="absent.weights.h5"):
        build_vgg_fcn(weights=tmp_path / "absent.weights.h5")


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown VGG16 cut"):
        build_vgg_fcn(cut="block9_conv1")
    with pytest.raises(ConfigError, match="upsamples by 2"):
        build_vgg_fcn(cut="block3_conv2", decoder="exp3")
    with pytest.raises(ConfigError, match="decoder_filters has 2"):
        build_vgg_fcn(decoder_filters=(8, 8))
    with pytest.raises(ConfigError, match="3 input channels"):
        build_vgg_fcn(input_channels=4, weights="x.weights.h5")


def test_other_channel_counts():
    model = build_vgg_fcn(input_channels=5, n_classes=2, decoder_filters=TINY)
    assert model(np.zeros((1, 12, 10, 5), np.float32)).shape == (1, 12, 10, 2)


def test_keras_save_load_identical(tmp_path, rng):
    model = build_vgg_fcn(decoder_filters=TINY)
    x = rng.uniform(0, 255, (1, 21, 30, 3)).astype(np.float32)
    expected = np.asarray(model(x))
    model.save(tmp_path / "fcn.keras")
    reloaded = keras.saving.load_model(tmp_path / "fcn.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(x)), expected)


def test_freeze_encoder():
    model = build_vgg_fcn(decoder_filters=TINY, freeze_encoder=True)
    assert not any(layer.trainable for layer in _vgg_layers(model))
    assert model.get_layer("decoder_conv1").trainable


def _crops(n, size, seed):
    from irpath.demo.textures import make_texture_set

    images, labels = make_texture_set(n, size, seed=seed)
    return images.astype(np.float32), labels


def _change_fraction(maps):
    """Fraction of 4-neighbour pairs with different labels in (N, H, W) maps."""
    changes = (maps[:, 1:] != maps[:, :-1]).sum() + (maps[:, :, 1:] != maps[:, :, :-1]).sum()
    n, h, w = maps.shape
    return changes / (n * ((h - 1) * w + h * (w - 1)))


def test_short_training_beats_chance():
    """End-to-end: builder + loss learn the synthetic textures within ~40 steps.

    Uses the Experiments 1-3 cut (stride 2) and a 16-filter decoder: a from-scratch
    Fig. 6 network needs minutes (see benchmarks/fcn_synthetic.py).
    """
    from irpath.losses.fcn import SegmentationLoss

    x, y = _crops(16, 32, seed=11)
    xt, yt = _crops(8, 32, seed=12)
    keras.utils.set_random_seed(0)
    model = build_vgg_fcn(cut="block2_conv2", decoder=(("up", 2, 16), ("conv", 3, 16)))
    model.compile(keras.optimizers.Adam(1e-3), loss=SegmentationLoss())
    start = time.time()
    history = model.fit(x, y, batch_size=4, epochs=10, verbose=0)
    acc = np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt)
    majority = np.max(np.bincount(yt.ravel(), minlength=3)) / yt.size
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert acc > majority + 0.2, (acc, majority, time.time() - start)


TV = 0.5


def test_tv_term_lowers_prediction_noise():
    """Same init and data: training with tv_weight > 0 gives smoother label maps."""
    from irpath.losses.fcn import SegmentationLoss

    x, y = _crops(16, 32, seed=11)
    xt, yt = _crops(8, 32, seed=12)
    keras.utils.set_random_seed(0)
    model = build_vgg_fcn(cut="block2_conv2", decoder=(("up", 2, 16), ("conv", 3, 16)))
    init = model.get_weights()
    noise, acc = {}, {}
    for tv in (0.0, TV):
        model.set_weights(init)
        model.compile(keras.optimizers.Adam(1e-3), loss=SegmentationLoss(tv_weight=tv))
        model.fit(x, y, batch_size=4, epochs=10, verbose=0, shuffle=False)
        pred = np.argmax(model.predict(xt, verbose=0), -1)
        noise[tv], acc[tv] = _change_fraction(pred), np.mean(pred == yt)
    print("change fraction", noise, "accuracy", acc, "GT", _change_fraction(yt))
    # measured: 0.184 -> 0.141 (GT 0.084); accuracy 0.785 -> 0.817
    assert noise[TV] < 0.85 * noise[0.0], noise
    assert acc[TV] > acc[0.0] - 0.05, acc  # smoother, not collapsed to one class
