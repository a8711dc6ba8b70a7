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
