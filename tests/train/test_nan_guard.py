"""A non-finite loss stops training with a clear error; the last finite checkpoint and
best model stay loadable and finite, and the run stays resumable."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from irpath.errors import TrainingDivergedError
from irpath.train.fit import fit
from irpath.train.run_dir import RunDirectory


@dataclasses.dataclass(frozen=True)
class Cfg:
    in_channels: int = 2


@dataclasses.dataclass(frozen=True)
class TrainCfg:
    epochs: int = 5
    seed: int = 0
    lr: float = 0.01


def _datasets(bad_from_epoch: int, steps: int = 2):
    """Finite batches for the first epochs, then labels of NaN."""
    rng = np.random.default_rng(0)
    x = rng.random((4 * steps, 3, 3, 2)).astype(np.float32)
    y = x.sum(-1, keepdims=True)

    def make(batch):
        good = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat(bad_from_epoch - 1)
        bad = tf.data.Dataset.from_tensor_slices((x, y * np.nan)).batch(4).repeat()
        val = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        return good.concatenate(bad), val
    return make


def _build():
    inp = keras.Input((None, None, 2))
    model = keras.Model(inp, keras.layers.Conv2D(1, 1)(inp))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def test_nan_loss_keeps_the_last_finite_checkpoint(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.start("compsegnet", Cfg(), TrainCfg())
    with pytest.raises(TrainingDivergedError, match="non-finite .* in epoch 3.*lower --lr") as info:
        fit(run, build=_build, datasets=_datasets(3), epochs=5, seed=0, batch_size=4, steps_per_epoch=2,
            verbose=0)
    assert "kept the last finite checkpoint (epoch 2)" in str(info.value)
    assert run.state()["epoch"] == 2
    for f in (run.best, run.last):
        model = keras.saving.load_model(f)
        assert all(np.isfinite(w).all() for w in model.get_weights()), f
    # the run is resumable: finite data from here on trains to the end
    fit(run, build=_build, datasets=_datasets(99), epochs=4, seed=0, batch_size=4, steps_per_epoch=2,
        verbose=0, lr=0.001)
    assert run.state()["epoch"] == 4
    epochs = [int(ln.split(",")[0]) for ln in run.history.read_text().strip().splitlines()[1:]]
    assert epochs == [0, 1, 2, 3]                               # every epoch exactly once


def test_nan_in_the_first_epoch_says_no_checkpoint_exists(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.start("compsegnet", Cfg(), TrainCfg())
    with pytest.raises(TrainingDivergedError, match="no checkpoint exists yet"):
        fit(run, build=_build, datasets=_datasets(1), epochs=3, seed=0, batch_size=4, steps_per_epoch=2,
            verbose=0)
    assert not run.best.exists() and not run.last.exists()
