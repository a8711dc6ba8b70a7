import keras
import numpy as np
import pytest

from irpath.layers import sigma_abg
from irpath.methods.compsegnet.config import CompSegNetConfig, build_from_config
from irpath.models.compsegnet import extract_segmenter


@pytest.fixture
def model():
    keras.utils.set_random_seed(1)
    return build_from_config(CompSegNetConfig(in_channels=6, filters=4, depth=2, map_prior=0.02),
                             np.zeros(6), np.ones(6))


def test_map_keeps_input_size_for_any_shape(model, rng):
    seg = extract_segmenter(model)
    for h, w in [(8, 8), (13, 7), (1, 5)]:
        cube = rng.random((2, h, w, 6)).astype(np.float32)
        amap = np.asarray(seg(cube))
        assert amap.shape == (2, h, w, 1)
        assert (amap >= 0).all() and (amap <= 1).all()


def test_map_starts_at_the_prior_so_sigma_is_steep(model, rng):
    cube = rng.normal(size=(3, 8, 8, 6)).astype(np.float32)
    amap = np.asarray(extract_segmenter(model)(cube))
    np.testing.assert_allclose(amap, 0.02, rtol=1e-4)     # zero-initialised 1x1 kernel
    tissue = np.ones((3, 8, 8, 1), np.float32)
    o = np.asarray(model({"cube": cube, "tissue": tissue}))
    np.testing.assert_allclose(o, float(sigma_abg(np.float32(0.02))), rtol=1e-4)


def test_default_prior_is_alpha_over_beta():
    cfg = CompSegNetConfig()
    assert 1 / (1 + np.exp(-cfg.map_bias)) == pytest.approx(cfg.alpha / cfg.beta)


def test_paper_topology_defaults():
    cfg = CompSegNetConfig()
    assert (cfg.in_channels, cfg.filters, cfg.depth, cfg.alpha, cfg.beta, cfg.gamma, cfg.threshold) == (
        450, 64, 4, 0.1, 5.0, 0.001, 0.35)
    m = build_from_config(CompSegNetConfig(filters=2, depth=4), np.zeros(450), np.ones(450))
    seg = extract_segmenter(m)
    acts = {l.get_config()["activation"] for l in seg.layers
            if isinstance(l, (keras.layers.Activation, keras.layers.Conv2DTranspose))}
    assert acts == {"softplus"}                    # every hidden neuron is SoftPlus
    assert seg.get_layer("activation_map").get_config()["activation"] == "sigmoid"
    convs = [l for l in seg.layers if type(l) is keras.layers.Conv2D and l.name != "activation_map"]
    assert len(convs) == 2 * (2 * 4 + 1) and all(c.padding == "same" for c in convs)
    assert sum(isinstance(l, keras.layers.MaxPooling2D) for l in seg.layers) == 4
    assert seg.get_layer("down0_conv1").filters == 2 and seg.get_layer("bottom_conv1").filters == 32


def test_extracted_segmenter_shares_weights_and_round_trips(model, rng, tmp_path):
    seg = extract_segmenter(model)
    w = seg.get_layer("activation_map").kernel
    w.assign(np.full(w.shape, 0.3, np.float32))
    cube = rng.random((1, 8, 8, 6)).astype(np.float32)
    tissue = np.ones((1, 8, 8, 1), np.float32)
    expected = np.asarray(model({"cube": cube, "tissue": tissue}))
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(reloaded({"cube": cube, "tissue": tissue})), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(extract_segmenter(reloaded)(cube)), np.asarray(seg(cube)), rtol=1e-6)


@pytest.mark.parametrize("norm, layer", [("batch", keras.layers.BatchNormalization),
                                         ("group", keras.layers.GroupNormalization), ("none", None)])
def test_normalisation_variants_build(norm, layer, rng):
    m = build_from_config(CompSegNetConfig(in_channels=3, filters=8, depth=1, norm=norm), np.zeros(3), np.ones(3))
    out = m({"cube": rng.random((2, 4, 4, 3)).astype(np.float32), "tissue": np.ones((2, 4, 4, 1), np.float32)})
    assert np.asarray(out).shape == (2,)
    seg = extract_segmenter(m)
    kinds = {keras.layers.BatchNormalization: 0, keras.layers.GroupNormalization: 0}
    for lyr in seg.layers:
        if type(lyr) in kinds:
            kinds[type(lyr)] += 1
    convs = sum(type(lyr) is keras.layers.Conv2D and lyr.name != "activation_map" for lyr in seg.layers)
    for kind, count in kinds.items():
        assert count == (convs if kind is layer else 0), (kind, count)  # one after every convolution


def test_input_noise_is_a_training_only_layer(rng, tmp_path):
    from irpath.layers import TissueNoise

    plain = extract_segmenter(build_from_config(CompSegNetConfig(in_channels=6, filters=4, depth=1),
                                                np.zeros(6), np.ones(6)))
    assert not any(isinstance(lyr, TissueNoise) for lyr in plain.layers)   # default: no layer
    keras.utils.set_random_seed(2)
    seg = extract_segmenter(build_from_config(
        CompSegNetConfig(in_channels=6, filters=4, depth=1, input_noise=0.5), np.zeros(6), np.ones(6)))
    assert seg.get_layer("input_noise").stddev == 0.5
    w = seg.get_layer("activation_map").kernel
    w.assign(np.full(w.shape, 0.3, np.float32))
    cube = rng.random((2, 8, 8, 6)).astype(np.float32)
    assert not np.allclose(np.asarray(seg(cube, training=True)), np.asarray(seg(cube, training=True)))
    inferred = np.asarray(seg(cube))     # after the training calls (they move BatchNorm's statistics)
    np.testing.assert_array_equal(np.asarray(seg(cube)), inferred)              # deterministic
    seg.save(tmp_path / "s.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "s.keras")(cube)), inferred,
                               rtol=1e-6)
    with pytest.raises(Exception, match="input_noise"):
        CompSegNetConfig(input_noise=-0.1)
