import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.layers.saliency_prior import SaliencyPrior, pooling_layer_names
from irpath.models.multiloss import build_classifier
from tests.serialization import assert_layer_round_trip


def tiny_classifier(seed=0, depth=2, filters=3):
    keras.utils.set_random_seed(seed)
    return build_classifier(filters=filters, depth=depth, convs_per_level=1)


def head_and_tail(classifier, pool_name):
    """Split the (chain) classifier at a pooling layer: x -> z_k and z_k -> (logits, Q)."""
    z = classifier.get_layer(pool_name).output
    head = keras.Model(classifier.inputs[0], z)
    tail = keras.Model(z, [classifier.get_layer("scores").input, classifier.outputs[0]])
    return head, tail


def reference_derivatives(classifier, image, weights, score="probability"):
    """∂(Σ_n Σ_l w_nl S_nl)/∂z_k, z_k watched explicitly as the input of a second model."""
    grads = []
    for name in pooling_layer_names(classifier):
        head, tail = head_and_tail(classifier, name)
        z = tf.convert_to_tensor(head(image))
        with tf.GradientTape() as tape:
            tape.watch(z)
            logits, q = tail(z)
            s = q if score == "probability" else logits
            target = tf.reduce_sum(s * weights)
        grads.append(tape.gradient(target, z).numpy())
    return grads


def reference_prior(grads, size):
    maps = [tf.image.resize(np.abs(g).max(-1, keepdims=True), size, method="bilinear").numpy()
            for g in grads]
    f = np.mean(maps, axis=0)
    lo = f.min(axis=(1, 2, 3), keepdims=True)
    hi = f.max(axis=(1, 2, 3), keepdims=True)
    return (f - lo) / (hi - lo)


def test_prior_matches_second_tape(rng):
    clf = tiny_classifier()
    image = rng.normal(size=(3, 16, 16, 3)).astype(np.float32)
    layer = SaliencyPrior(clf)
    assert layer.pool_layers == ["pool1", "pool2"]
    prior = np.asarray(layer(image))
    q = clf(image).numpy()
    predicted = np.eye(2, dtype=np.float32)[q.argmax(-1)]
    grads = reference_derivatives(clf, image, predicted)
    raw, scores = layer.derivatives(image)
    for g, r in zip(raw, grads):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(scores.numpy(), q, rtol=1e-6)
    expected = reference_prior(grads, (16, 16))
    assert prior.shape == (3, 16, 16, 1)
    np.testing.assert_allclose(prior, expected, rtol=1e-4, atol=1e-5)
    assert prior.min(axis=(1, 2, 3)).max() == 0.0 and np.allclose(prior.max(axis=(1, 2, 3)), 1.0)


@pytest.mark.parametrize("score", ["probability", "logit"])
def test_derivatives_match_finite_differences(score):
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        clf = tiny_classifier(seed=1, depth=2, filters=2)
        layer = SaliencyPrior(clf, class_source="true", score=score)
        rng = np.random.default_rng(1)
        image = rng.normal(size=(2, 8, 8, 3))
        label = np.array([[0.0, 1.0], [1.0, 0.0]])
        grads, _ = layer.derivatives(tf.constant(image), tf.constant(label))
        assert grads[0].dtype == tf.float64
        for k, name in enumerate(layer.pool_layers):
            head, tail = head_and_tail(clf, name)
            z = head(image).numpy()
            out = 0 if score == "logit" else 1
            fd = np.zeros_like(z)
            h = 1e-6
            for n in range(len(z)):   # perturb each entry of z[n]; one batched call per sample
                m = z[n].size
                eye = np.eye(m).reshape((m,) + z.shape[1:]) * h
                batch = np.concatenate([z[n] + eye, z[n] - eye])
                s = tail(batch)[out].numpy() @ label[n]
                fd[n] = ((s[:m] - s[m:]) / (2 * h)).reshape(z.shape[1:])
            assert np.abs(fd).max() > 1e-4          # the check is not vacuous
            np.testing.assert_allclose(grads[k].numpy(), fd, rtol=1e-5, atol=1e-8)
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")


def test_class_selection(rng):
    clf = tiny_classifier(seed=2)
    image = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    q = clf(image).numpy()
    predicted = np.eye(2, dtype=np.float32)[q.argmax(-1)]
    other = 1.0 - predicted
    by_pred = SaliencyPrior(clf, reduce="sum")(image).numpy()
    true = SaliencyPrior(clf, class_source="true", reduce="sum")
    np.testing.assert_allclose(true([image, predicted]).numpy(), by_pred, atol=1e-6)
    # two softmax classes: ∂Q_0 = -∂Q_1, so the signed map of the other class is 1 - f
    np.testing.assert_allclose(true([image, other]).numpy(), 1.0 - by_pred, atol=1e-5)
    # "auto" takes the label only when training
    auto = SaliencyPrior(clf, class_source="auto", reduce="sum")
    np.testing.assert_allclose(auto([image, other], training=True).numpy(), 1.0 - by_pred,
                               atol=1e-5)
    np.testing.assert_allclose(auto([image, other], training=False).numpy(), by_pred, atol=1e-6)
    # with logits the classes give genuinely different |·| maps
    lg = SaliencyPrior(clf, class_source="true", score="logit")
    assert np.abs(lg([image, predicted]).numpy() - lg([image, other]).numpy()).max() > 1e-3


def test_graph_mode_matches_eager_and_scores(rng):
    clf = tiny_classifier(seed=3)
    layer = SaliencyPrior(clf, return_scores=True)
    image = rng.normal(size=(2, 24, 16, 3)).astype(np.float32)
    prior, scores = layer(image)
    g_prior, g_scores = tf.function(lambda x: layer(x))(tf.constant(image))
    np.testing.assert_allclose(g_prior.numpy(), prior.numpy(), atol=1e-6)
    np.testing.assert_allclose(g_scores.numpy(), clf(image).numpy(), rtol=1e-6)
    assert prior.shape == (2, 24, 16, 1)


def test_prior_carries_no_gradient_but_scores_do(rng):
    clf = tiny_classifier(seed=4)
    layer = SaliencyPrior(clf, return_scores=True)
    image = tf.constant(rng.normal(size=(1, 16, 16, 3)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        prior, scores = layer(image)
        a, b = tf.reduce_sum(prior), scores[0, 0]
    assert all(g is None for g in tape.gradient(a, clf.trainable_variables))
    assert any(g is not None and np.abs(g.numpy()).max() > 0
               for g in tape.gradient(b, clf.trainable_variables))


def test_constant_map_normalises_to_zero():
    clf = tiny_classifier(seed=5)
    for v in clf.get_layer("class_maps").weights:
        v.assign(tf.zeros_like(v))       # scores no longer depend on the image
    prior = SaliencyPrior(clf)(np.ones((1, 8, 8, 3), np.float32)).numpy()
    assert np.isfinite(prior).all() and (prior == 0).all()


def test_bad_arguments():
    clf = tiny_classifier()
    with pytest.raises(ValueError, match="class_source"):
        SaliencyPrior(clf, class_source="oracle")
    with pytest.raises(ValueError, match="reduce"):
        SaliencyPrior(clf, reduce="median")
    no_pool = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match="no pooling layer"):
        SaliencyPrior(no_pool)


def test_round_trip_predicted(tmp_path, rng):
    layer = SaliencyPrior(tiny_classifier(seed=6), reduce="mean_abs", name="prior_a")
    image = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    reloaded = assert_layer_round_trip(layer, image, tmp_path)
    inner = reloaded.get_layer("prior_a")
    assert inner.classifier.count_params() == layer.classifier.count_params()
    assert inner.get_config()["classifier"]["class_name"] == "Functional"


def test_round_trip_true_class_with_scores(tmp_path, rng):
    layer = SaliencyPrior(tiny_classifier(seed=7), class_source="true", score="logit",
                          name="prior_b")
    image = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    label = np.eye(2, dtype=np.float32)[[1, 0]]
    assert_layer_round_trip(layer, [image, label], tmp_path)
    both = SaliencyPrior(layer.classifier, return_scores=True)
    clone = SaliencyPrior.from_config(both.get_config())
    clone.classifier.set_weights(both.classifier.get_weights())
    for a, b in zip(clone(image), both(image)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
