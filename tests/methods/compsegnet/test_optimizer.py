import keras
import numpy as np
import pytest

from irpath.methods.compsegnet.optimizer import RMSprop


def one_step(opt, grad):
    var = keras.Variable(np.zeros(3, np.float32))
    opt.apply_gradients([(np.asarray(grad, np.float32), var)])
    return np.asarray(var)


def test_first_step_matches_tf1_rmsprop():
    g = np.array([1e-3, 0.5, -2.0])
    lr, rho = 1e-3, 0.9
    ms = rho * 1.0 + (1 - rho) * g**2                   # accumulator starts at 1
    np.testing.assert_allclose(one_step(RMSprop(lr, initial_accumulator=1.0), g), -lr * g / np.sqrt(ms + 1e-7), rtol=1e-5)


def test_keras_default_first_step_is_about_3_lr_whatever_the_gradient():
    """Why the accumulator matters: with 0 the step ignores the gradient's size."""
    g = np.array([1e-2, 1e-1, 1.0])
    step = -one_step(RMSprop(1e-3), g)                # Keras' default: 0
    np.testing.assert_allclose(step, 1e-3 / np.sqrt(0.1), rtol=1e-2)
    tf1 = -one_step(RMSprop(1e-3, initial_accumulator=1.0), g)
    np.testing.assert_allclose(tf1, 1e-3 * g / np.sqrt(0.9 + 0.1 * g**2), rtol=1e-4)  # steps scale with g


def test_serialisable_with_state(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=RMSprop(0.01, initial_accumulator=0.5), loss="mse")
    model.train_on_batch(np.ones((3, 2), np.float32), np.zeros((3, 1), np.float32))
    model.save(tmp_path / "m.keras")
    re = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(re.optimizer, RMSprop) and re.optimizer.initial_accumulator == 0.5
    for a, b in zip(model.optimizer.variables, re.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    assert RMSprop.from_config(RMSprop(0.01, initial_accumulator=0.5).get_config()).initial_accumulator == pytest.approx(0.5)
