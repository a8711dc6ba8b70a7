"""Mixed precision (bfloat16 on CPU) and XLA: every method's model trains and maps stay float32.

CompSegNet trains as ``irpath train`` runs it (graph, and XLA); the RGB methods'
models train eagerly (``run_eagerly``): a dtype mismatch fails the same way
there, without tracing their large graphs (~20 s each on CPU). Each test leaves
Keras' global dtype policy at float32 (fixture), so no other test sees a mixed
policy.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.layers.precision import reduced_precision, set_precision


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def bf16():
    assert set_precision(True) == "mixed_bfloat16"  # tests run on CPU
    assert reduced_precision()


def _finite_losses(history):
    losses = np.asarray(history.history["loss"])
    assert losses.size and np.isfinite(losses).all(), losses
    return losses


def _float32_finite(maps):
    maps = np.asarray(maps) if not isinstance(maps, dict) else maps
    for m in (maps.values() if isinstance(maps, dict) else [maps]):
        assert m.dtype == np.float32, m.dtype
        assert np.isfinite(m).all()


def _fits_and_predicts_a_float32_softmax(model, x, y):
    """Two epochs with finite losses, then float32, finite per-pixel class probabilities."""
    _finite_losses(model.fit(x, y, batch_size=2, epochs=2, verbose=0))
    probs = model.predict(x, verbose=0)
    _float32_finite(probs)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def _xla_probe():
    """A loss wrapper that records whether it was traced inside an XLA (jit_compile) function."""
    from tensorflow.python.ops import control_flow_util

    from irpath.losses import ComparativeLoss

    class Probe(ComparativeLoss):
        traced_in_xla = []

        def call(self, y_true, y_pred):
            graph = tf.compat.v1.get_default_graph()
            self.traced_in_xla.append(control_flow_util.GraphOrParentsInXlaContext(graph))
            return super().call(y_true, y_pred)
    return Probe


def test_set_precision_switches_the_global_policy():
    gpu = bool(tf.config.list_physical_devices("GPU"))
    assert set_precision(True) == ("mixed_float16" if gpu else "mixed_bfloat16")
    assert keras.config.dtype_policy().name == ("mixed_float16" if gpu else "mixed_bfloat16")
    assert reduced_precision()
    assert keras.layers.Dense(2).compute_dtype == ("float16" if gpu else "bfloat16")
    assert set_precision(False) == "float32"
    assert not reduced_precision()
    assert keras.layers.Dense(2).compute_dtype == "float32"


def _compsegnet(rng, in_channels=12):
    from irpath.losses import ComparativeLoss
    from irpath.methods.compsegnet.config import CompSegNetConfig
    from irpath.methods.compsegnet.config import build_from_config
    from irpath.methods.compsegnet.optimizer import RMSprop

    keras.utils.set_random_seed(0)
    cfg = CompSegNetConfig(in_channels=in_channels, filters=4, depth=1,
                           preprocess={"vector_norm": True})
    model = build_from_config(cfg, rng.random(in_channels), rng.random(in_channels) + 0.5)
    model.compile(optimizer=RMSprop(learning_rate=1e-2), loss=ComparativeLoss(alpha=cfg.alpha))
    cube = rng.random((4, 16, 16, in_channels)).astype(np.float32)
    tissue = np.ones((4, 16, 16, 1), np.float32)
    x, y = {"cube": cube, "tissue": tissue}, np.array([0, 1, 0, 1], np.float32)
    return model, x, y


def test_compsegnet_pads_channels_only_under_reduced_precision(rng, tmp_path):
    from irpath.models.compsegnet import extract_segmenter

    model, _, _ = _compsegnet(rng)
    seg = extract_segmenter(model)
    assert "pad_channels" not in [lyr.name for lyr in seg.layers]
    assert seg.get_layer("down0_conv1").kernel.shape[2] == 12
    set_precision(True)
    model, _, _ = _compsegnet(rng)
    seg = extract_segmenter(model)
    assert seg.get_layer("pad_channels").multiple == 8
    assert seg.get_layer("down0_conv1").kernel.shape[2] == 16       # 12 -> 16
    assert seg.get_layer("down0_conv1").compute_dtype == "bfloat16"
    assert seg.get_layer("down0_conv1").kernel.dtype == "float32"   # variables stay float32
    for name in ("vector_norm", "standardise", "activation_map", "crop"):
        assert seg.get_layer(name).compute_dtype == "float32", name
    assert model.get_layer("pooling_neuron").compute_dtype == "float32"
    # a mixed-precision model reloads as it was saved, in a float32 process too
    seg.save(tmp_path / "mixed.keras")
    cube = rng.random((1, 8, 8, 12)).astype(np.float32)
    expected = np.asarray(seg(cube))
    set_precision(False)
    reloaded = keras.saving.load_model(tmp_path / "mixed.keras")
    assert reloaded.get_layer("down0_conv1").compute_dtype == "bfloat16"
    assert reloaded.get_layer("pad_channels").multiple == 8
    got = np.asarray(reloaded(cube))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_compsegnet_trains_in_bfloat16(bf16, rng, jit):
    from irpath.models.compsegnet import extract_segmenter

    model, x, y = _compsegnet(rng)
    probe = _xla_probe()
    model.compile(optimizer=model.optimizer, loss=probe(alpha=0.1))
    if jit:  # as the CLI does: switch XLA on after compile, before the first fit
        model.jit_compile = True
    before = [w.copy() for w in model.get_weights()]
    _finite_losses(model.fit(x, y, batch_size=4, epochs=3, verbose=0))
    assert probe.traced_in_xla and all(t == jit for t in probe.traced_in_xla)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert sum(changed) > len(changed) // 2                           # the trunk learned
    amap = extract_segmenter(model).predict(x["cube"], verbose=0)
    assert amap.shape == (4, 16, 16, 1)
    _float32_finite(amap)
    assert ((amap >= 0) & (amap <= 1)).all()


def test_bfloat16_map_stays_close_to_float32(rng):
    """Same weights, bfloat16 trunk vs float32: the map differs by rounding only."""
    from irpath.models.compsegnet import extract_segmenter

    model32, x, _ = _compsegnet(rng)
    seg32 = extract_segmenter(model32)
    head = seg32.get_layer("activation_map")
    head.kernel.assign(np.full(head.kernel.shape, 0.2, np.float32))
    set_precision(True)
    model16, _, _ = _compsegnet(np.random.default_rng(0))
    seg16 = extract_segmenter(model16)
    for lyr in seg32.layers:
        if lyr.weights:
            weights = lyr.get_weights()
            if lyr.name == "down0_conv1":  # 12 -> 16 input channels; the extra ones see zeros
                kernel = np.zeros(seg16.get_layer(lyr.name).kernel.shape, np.float32)
                kernel[:, :, :12] = weights[0]
                weights[0] = kernel
            seg16.get_layer(lyr.name).set_weights(weights)
    a32 = np.asarray(seg32(x["cube"]))
    a16 = np.asarray(seg16(x["cube"]))
    assert a16.dtype == np.float32 and a32.std() > 1e-3
    np.testing.assert_allclose(a16, a32, atol=0.02)
    assert not np.array_equal(a16, a32)  # it did compute in bfloat16


def test_fcn_trains_in_bfloat16(bf16, rng):
    from irpath.methods.fcn.config import FcnConfig, FcnTrainConfig
    from irpath.methods.fcn.train import build_model

    keras.utils.set_random_seed(0)
    cfg = FcnConfig(cut="block2_conv2", decoder="up:2:8,conv:3:8")
    model = build_model(cfg, FcnTrainConfig(lr=1e-3), steps_per_epoch=1)
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    x = (rng.random((2, 16, 16, 3)) * 255).astype(np.float32)
    y = rng.integers(0, 3, (2, 16, 16)).astype(np.int32)
    y = np.eye(3, dtype=np.float32)[y]
    _fits_and_predicts_a_float32_softmax(model, x, y)


def test_multiloss_joint_trains_in_bfloat16(bf16, rng):
    from irpath.losses.multiloss import multiloss_compile_args
    from irpath.methods.multiloss.config import MultiLossTrainConfig
    from irpath.methods.multiloss.train import make_optimizer
    from irpath.models.multiloss import (build_classifier, build_joint_model, build_segmenter,
                                         inference_model)

    keras.utils.set_random_seed(0)
    model = build_joint_model(build_classifier(filters=4, depth=2),
                              build_segmenter(filters=4, depth=2), mode="joint")
    model.compile(optimizer=make_optimizer(MultiLossTrainConfig(optimizer="adam", lr=1e-3)),
                  run_eagerly=True, **multiloss_compile_args("joint"))
    img = (rng.random((2, 16, 16, 3)) * 255).astype(np.float32)
    label = np.eye(2, dtype=np.float32)[[0, 1]]
    mask = (rng.random((2, 16, 16, 1)) > 0.5).astype(np.float32)
    _finite_losses(model.fit({"image": img, "label": label}, {"scores": label, "segmentation": mask},
                             batch_size=2, epochs=2, verbose=0))
    out = model.predict({"image": img, "label": label}, verbose=0)
    _float32_finite(out)
    prior = out["prior"]
    assert prior.min() >= 0 and prior.max() == pytest.approx(1.0)   # normalised per image
    maps = inference_model(model).predict(img, verbose=0)
    assert maps.shape == (2, 16, 16, 5)
    _float32_finite(maps)


def test_nuclei_trains_in_bfloat16_with_the_perceptual_loss(bf16, rng, tmp_path):
    from irpath.methods.nuclei.config import NucleiConfig, NucleiTrainConfig
    from irpath.methods.nuclei.train import build_model

    vgg = tmp_path / "vgg16.weights.h5"
    keras.applications.VGG16(weights=None, include_top=False).save_weights(vgg)
    keras.utils.set_random_seed(0)
    cfg = NucleiConfig(decoder_filters=[8, 8, 8, 8], encoder_blocks=[1, 1, 1, 1],
                       encoder_filters=[8, 8, 8, 8])
    model = build_model(cfg, NucleiTrainConfig(vgg_weights=str(vgg)))
    assert model.loss.perceptual is not None
    assert model.loss.perceptual.features.layers[1].compute_dtype == "bfloat16"
    model.compile(optimizer=model.optimizer, loss=model.loss, run_eagerly=True)
    x = (rng.random((2, 32, 32, 3)) * 255).astype(np.float32)
    y = np.stack([rng.integers(0, 5, (2, 32, 32)), np.ones((2, 32, 32))], -1).astype(np.float32)
    _fits_and_predicts_a_float32_softmax(model, x, y)


def test_custom_layers_accept_bfloat16_inputs(bf16, rng):
    """Built under the mixed policy (compute dtype bfloat16), fed bfloat16: results close to float32."""
    from irpath.layers import (MinMaxScale, PoolingNeuron, SavitzkyGolay, SpectralStandardise,
                               VectorNormalise)

    cube = rng.random((2, 4, 4, 12)).astype(np.float32) + 1.0
    cube[0, 0, 0] = 0.0  # background
    mean, std = rng.random(12) + 1.0, rng.random(12) * 0.1 + 0.05
    layers = {"standardise": lambda **kw: SpectralStandardise(mean, std, **kw),
              "vector_norm": VectorNormalise, "savgol": lambda **kw: SavitzkyGolay(5, 2, 1, **kw),
              "minmax": MinMaxScale}
    for name, make in layers.items():
        want = np.asarray(make(dtype="float32")(cube))
        layer = make()
        assert layer.compute_dtype == "bfloat16"
        got = layer(tf.cast(cube, tf.bfloat16))
        assert got.dtype == tf.bfloat16, name
        got = np.asarray(tf.cast(got, tf.float32))
        # float32 arithmetic inside: only the input and output roundings (2**-8 relative) remain
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, atol=0.03 * scale, err_msg=name)
        assert not got[0, 0, 0].any(), name    # background stays exactly 0
    amap = rng.random((2, 32, 32, 1)).astype(np.float32)   # 1024 pixels: a bf16 sum would drift
    tissue = np.ones((2, 32, 32, 1), np.float32)
    want = np.asarray(PoolingNeuron(dtype="float32")([amap, tissue]))
    got = PoolingNeuron()([tf.cast(amap, tf.bfloat16), tf.cast(tissue, tf.bfloat16)])
    assert got.dtype == tf.bfloat16
    np.testing.assert_allclose(np.asarray(tf.cast(got, tf.float32)), want, rtol=1e-2)
