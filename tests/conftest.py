"""Test session set-up.

TensorFlow's CPU is split into two logical devices before anything else touches
TensorFlow, so tests can build a 2-replica ``MirroredStrategy`` on a machine
without GPUs. Other tests simply run on the first device.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def _split_cpu():
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:  # already initialised (e.g. by a plugin): keep what is there
        pass


_split_cpu()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Tiny CompSegNet recipe shared by the training, inference and CLI tests.
TINY_DATA = dict(n_train=12, n_val=4, n_test=8, size=24)
TINY_EPOCHS = 15
TINY_LR = 1e-2  # 8 filters + batch norm learn ~8x slower per step than the paper's 64


def tiny_model_config():
    from irpath.methods.compsegnet.config import CompSegNetConfig

    return CompSegNetConfig(filters=8, depth=2)


@pytest.fixture(scope="session")
def tiny_tma(tmp_path_factory):
    """A small synthetic TMA: {"train", "val", "test"} manifest paths."""
    from irpath.demo.synthetic import make_tma

    return make_tma(tmp_path_factory.mktemp("tma"), seed=3, **TINY_DATA)


@pytest.fixture(scope="session")
def tiny_run(tiny_tma, tmp_path_factory):
    """A finished tiny training run directory."""
    from irpath.methods.compsegnet.config import CompSegNetTrainConfig as TrainConfig
    from irpath.methods import get_method
    from irpath.train import run as train_run

    out = tmp_path_factory.mktemp("run") / "run"
    train_run(get_method("compsegnet"), {"train_manifest": tiny_tma["train"], "val_manifest": tiny_tma["val"]}, out, tiny_model_config(),
          TrainConfig(epochs=TINY_EPOCHS, batch_size=4, seed=0, lr=TINY_LR), verbose=0)
    return out
