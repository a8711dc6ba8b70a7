import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.demo.glands import make_gland_image
from irpath.layers.saliency_prior import SaliencyPrior
from irpath.losses.multiloss import multiloss_compile_args
from irpath.models.multiloss import (ClassPlanes, StopGradient, build_classifier,
                                     build_joint_model, build_segmenter, inference_channels,
                                     inference_model, joint_mode)
from tests.serialization import assert_layer_round_trip

SIZE = 32


@pytest.fixture(scope="module")
def glands():
    rng = np.random.default_rng(0)
    images, masks, classes = [], [], []
    for i in range(8):
        image, labels = make_gland_image(SIZE, malignant=bool(i % 2), seed=rng)
        images.append(image.astype(np.float32))
        masks.append((labels > 0).astype(np.float32)[..., None])
        classes.append(i % 2)
    return np.stack(images), np.stack(masks), np.eye(2, dtype=np.float32)[classes]


def make(mode, seed=0, **kw):
    keras.utils.set_random_seed(seed)
    clf = build_classifier(filters=4, depth=2) if mode != "seg" else None
    seg = None
    if mode != "class":
        seg = build_segmenter(filters=4, depth=2, with_prior=mode == "joint",
                              with_scores=mode == "joint")
    return build_joint_model(clf, seg, mode=mode, **kw)


def xy(model, data, mode):
    images, masks, onehot = data
    x = {"image": images}
    if "label" in model.input:
        x["label"] = onehot
    y = {"scores": onehot, "segmentation": masks}
    return x, {k: y[k] for k in multiloss_compile_args(mode)["loss"]}


@pytest.mark.parametrize("mode", ["class", "seg", pytest.param("joint", marks=pytest.mark.slow)])
def test_each_mode_trains_in_graph_mode(mode, glands):
    model = make(mode)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), **multiloss_compile_args(mode))
    assert not model.run_eagerly
    x, y = xy(model, glands, mode)
    before = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["loss"]
    model.fit(x, y, epochs=12, batch_size=4, verbose=0, shuffle=False)
    after = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(after) and after < 0.9 * before
    out = model.predict(x, verbose=0)
    expected = {"class": {"scores", "prior"}, "seg": {"segmentation"},
                "joint": {"scores", "segmentation", "prior"}}[mode]
    assert set(out) == expected and joint_mode(model) == mode
    if "segmentation" in out:
        assert out["segmentation"].shape == (8, SIZE, SIZE, 3 if mode == "joint" else 2)
        np.testing.assert_allclose(out["segmentation"][..., :2].sum(-1), 1.0, rtol=1e-5)
    if mode == "joint":   # the segmentation output carries the prior as channel 3
        np.testing.assert_allclose(out["segmentation"][..., 2:], out["prior"], atol=1e-6)


@pytest.mark.slow
def test_pretrain_then_joint_shares_the_classifier(glands):
    keras.utils.set_random_seed(1)
    clf = build_classifier(filters=4, depth=2)
    pre = build_joint_model(clf, None, mode="class")
    pre.compile(optimizer="adam", **multiloss_compile_args("class"))
    x, y = xy(pre, glands, "class")
    pre.fit(x, y, epochs=1, batch_size=4, verbose=0)
    seg = build_segmenter(filters=4, depth=2)
    joint = build_joint_model(clf, seg, mode="joint")
    assert joint.get_layer("saliency_prior").classifier is clf
    np.testing.assert_allclose(joint.predict(xy(joint, glands, "joint")[0], verbose=0)["scores"],
                               clf.predict(glands[0] / 127.5 - 1, verbose=0), rtol=1e-5)


@pytest.mark.slow
def test_mirrored_strategy_step_equals_single_device(glands):
    x_all, y_all = None, None
    weights = {}
    for key in ("single", "mirrored"):
        strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                                   cross_device_ops=tf.distribute.ReductionToOneDevice()) if key == "mirrored"
                    else tf.distribute.get_strategy())
        with strategy.scope():
            model = make("joint", seed=2)
            model.compile(optimizer=keras.optimizers.SGD(0.05), **multiloss_compile_args("joint"))
        if key == "mirrored":
            assert strategy.num_replicas_in_sync == 2
        x_all, y_all = xy(model, glands, "joint")
        x = {k: v[:4] for k, v in x_all.items()}
        y = {k: v[:4] for k, v in y_all.items()}
        hist = model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
        assert np.isfinite(hist.history["loss"][0])
        weights[key] = [w.numpy() for w in model.weights]
    keras.utils.set_random_seed(2)
    initial = [w.numpy() for w in make("joint", seed=2).weights]
    moved = max(np.abs(a - b).max() for a, b in zip(weights["single"], initial))
    assert moved > 1e-4
    for a, b in zip(weights["mirrored"], weights["single"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_joint_keras_save_load_identical(glands, tmp_path):
    model = make("joint", seed=3)
    x, _ = xy(model, glands, "joint")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "joint.keras")
    again = keras.saving.load_model(tmp_path / "joint.keras")
    got = again.predict(x, verbose=0)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert len(again.weights) == len(model.weights)


@pytest.mark.parametrize("mode", ["joint", "seg", "class"])
def test_inference_model_channels_any_size(mode, glands):
    model = make(mode, seed=4, class_source="true" if mode != "seg" else "auto")
    inf = inference_model(model)
    image = glands[0][:3, :27, :30]           # odd size: padded and cropped inside
    maps = inf.predict(image, verbose=0)
    names = inference_channels(mode)
    assert maps.shape == (3, 27, 30, len(names))
    if mode in ("joint", "class"):
        scores = model.get_layer("saliency_prior").classifier.predict(
            np.pad(image / 127.5 - 1, [(0, 0), (0, 1), (0, 2), (0, 0)]), verbose=0)
        planes = maps[..., names.index("score_benign"):]
        np.testing.assert_allclose(planes, np.broadcast_to(scores[:, None, None], planes.shape),
                                   rtol=1e-5)
        prior = maps[..., names.index("prior")]
        assert prior.min() >= 0 and prior.max() <= 1 + 1e-6
    if mode in ("joint", "seg"):
        np.testing.assert_allclose(maps[..., :2].sum(-1), 1.0, rtol=1e-5)
        # on a size the training model takes, p matches it (joint: predicted-class prior)
        x = {"image": glands[0][:2]}
        if "label" in model.input:
            x["label"] = np.eye(2, dtype=np.float32)[
                model.get_layer("saliency_prior").classifier.predict(
                    glands[0][:2] / 127.5 - 1, verbose=0).argmax(-1)]
        ref = model.predict(x, verbose=0)["segmentation"][..., :2]
        np.testing.assert_allclose(inf.predict(glands[0][:2], verbose=0)[..., :2], ref,
                                   rtol=1e-4, atol=1e-5)


def test_class_planes_round_trip(tmp_path, rng):
    scores = rng.random((2, 3)).astype(np.float32)
    ref = rng.random((2, 5, 4, 1)).astype(np.float32)
    out = np.asarray(ClassPlanes(name="planes")([scores, ref]))
    assert out.shape == (2, 5, 4, 3)
    np.testing.assert_array_equal(out[:, 3, 2], scores)
    assert_layer_round_trip(ClassPlanes(name="planes"), [scores, ref], tmp_path)


def test_builder_errors():
    with pytest.raises(ValueError, match="mode"):
        build_joint_model(None, None, mode="both")
    with pytest.raises(ValueError, match="classifier"):
        build_joint_model(None, build_segmenter(filters=2, depth=1), mode="joint")
    with pytest.raises(ValueError, match="segmenter"):
        build_joint_model(build_classifier(filters=2, depth=1), None, mode="seg")


def test_zero_branch_segmenter_starts_as_the_seg_only_one_and_round_trips(glands, tmp_path):
    images = glands[0][:2] / 127.5 - 1.0
    prior = np.random.default_rng(1).random(images.shape[:3] + (1,)).astype(np.float32)
    scores = np.array([[0.2, 0.8], [0.9, 0.1]], np.float32)
    keras.utils.set_random_seed(7)
    alone = build_segmenter(filters=4, depth=2, with_prior=False, with_scores=False)
    keras.utils.set_random_seed(7)
    zero = build_segmenter(filters=4, depth=2, prior_entry="zero_branch")
    keras.utils.set_random_seed(7)
    concat = build_segmenter(filters=4, depth=2)
    expected = alone.predict(images, verbose=0)
    np.testing.assert_array_equal(zero.predict([images, prior, scores], verbose=0), expected)
    assert np.abs(concat.predict([images, prior, scores], verbose=0) - expected).max() > 1e-3
    # the prior branch is the only extra weight: 3x3 x (1 prior + 2 score planes) x 4, no bias
    assert zero.count_params() - alone.count_params() == 3 * 3 * 3 * 4
    assert not zero.get_layer("e1_prior_conv").get_weights()[0].any()
    # once the branch is non-zero the prior changes the output, and the model round-trips
    branch = zero.get_layer("e1_prior_conv")
    branch.set_weights([np.full_like(branch.get_weights()[0], 0.5)])
    moved = zero.predict([images, prior, scores], verbose=0)
    assert np.abs(moved - expected).max() > 1e-3
    zero.save(tmp_path / "zero.keras")
    again = keras.saving.load_model(tmp_path / "zero.keras")
    np.testing.assert_allclose(again.predict([images, prior, scores], verbose=0), moved, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="prior_entry"):
        build_segmenter(filters=2, depth=1, prior_entry="add")


RELOAD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
np.save(sys.argv[3], np.asarray(loaded.serve(tf.constant(np.load(sys.argv[2])))))
"""


@pytest.mark.slow
def test_savedmodel_export_reload_in_fresh_process(glands, tmp_path):
    model = make("joint", seed=5)
    inf = inference_model(model)
    image = glands[0][:2, :29, :31]
    expected = inf.predict(image, verbose=0)
    inf.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "x.npy", image)
    res = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path / "saved"),
                          str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    served = np.load(tmp_path / "y.npy")
    assert served.shape == (2, 29, 31, 5)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    assert served[..., 2].max() == pytest.approx(1.0, abs=1e-5)   # the prior really is there
    assert isinstance(model.get_layer("saliency_prior"), SaliencyPrior)


@pytest.mark.parametrize("score_gradient", [True, False])
def test_score_gradient_switch_decides_whether_ls_reaches_the_classifier(score_gradient, glands):
    model = make("joint", seed=5, score_gradient=score_gradient)
    images, masks, onehot = glands
    clf = model.get_layer("saliency_prior").classifier
    loss = multiloss_compile_args("joint", lam=0.0)["loss"]["segmentation"]  # L_s alone
    with tf.GradientTape() as tape:
        out = model({"image": images[:4], "label": onehot[:4]}, training=True)
        value = loss(masks[:4], out["segmentation"])
    seg = model.get_layer("segmenter")
    grads = tape.gradient(value, clf.trainable_weights + seg.trainable_weights)
    clf_norm = sum(float(tf.reduce_sum(tf.abs(g))) for g in grads[:len(clf.trainable_weights)]
                   if g is not None)
    seg_norm = sum(float(tf.reduce_sum(tf.abs(g))) for g in grads[len(clf.trainable_weights):])
    assert seg_norm > 0
    if score_gradient:     # end to end: L_s reaches the classifier through the score planes
        assert clf_norm > 1e-6
    else:
        assert clf_norm == 0.0
    # the switch changes gradients only, not outputs
    ref = make("joint", seed=5, score_gradient=not score_gradient)
    x = {"image": images[:4], "label": onehot[:4]}
    np.testing.assert_allclose(ref(x, training=False)["segmentation"],
                               model(x, training=False)["segmentation"], rtol=1e-5, atol=1e-6)


def test_stop_gradient_layer_round_trip(tmp_path, rng):
    x = rng.random((2, 3)).astype(np.float32)
    layer = StopGradient(name="stop")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(v) * 3.0 + v)
    np.testing.assert_array_equal(tape.gradient(y, v), np.ones_like(x))   # only the direct path
    assert_layer_round_trip(layer, x, tmp_path)
