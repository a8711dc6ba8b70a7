"""``--time-limit``: training stops after the last epoch that fits, the run is finished
from what exists, and the same command resumes to the planned end."""

import time

import numpy as np
import pytest
import tensorflow as tf

from irpath.errors import ConfigError
from irpath.train.callbacks import TimeLimit
from irpath.train.fit import fit
from irpath.train.run_dir import RunDirectory
from tests.train.test_nan_guard import Cfg, TrainCfg, _build


def _datasets(batch):
    rng = np.random.default_rng(0)
    x = rng.random((8, 3, 3, 2)).astype(np.float32)
    y = x.sum(-1, keepdims=True)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    return ds.repeat(), ds


def test_a_passed_deadline_stops_after_one_epoch_and_the_run_resumes(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.start("compsegnet", Cfg(), TrainCfg())
    kw = dict(build=_build, datasets=_datasets, epochs=4, seed=0, batch_size=4, steps_per_epoch=2, verbose=0)
    info = fit(run, deadline=time.time() - 1, **kw)
    assert info["time_limit_epoch"] == 1
    assert run.state()["epoch"] == 1 and run.best.exists() and run.last.exists()
    info = fit(run, deadline=time.time() + 3600, **kw)  # the same command again: to the end
    assert info["time_limit_epoch"] is None and info["initial_epoch"] == 1
    assert run.state()["epoch"] == 4


def test_time_limit_callback_needs_room_for_one_more_epoch_of_the_last_length():
    class Model:
        stop_training = False

    cb = TimeLimit(time.time() + 3600)
    cb.set_model(Model())
    cb.on_epoch_begin(0)
    cb.on_epoch_end(0)
    assert cb.stopped_after is None and not cb.model.stop_training
    cb = TimeLimit(time.time() + 5)
    cb.set_model(Model())
    cb._begin = time.time() - 10  # an epoch of 10 s does not fit in the 5 s left
    cb.on_epoch_end(2)
    assert cb.stopped_after == 3 and cb.model.stop_training


@pytest.mark.parametrize("extra, message", [
    (["--time-limit", "1", "--local-workers", "2"], "--time-limit trains in one process only"),
    (["--time-limit", "0"], "--time-limit must be > 0 minutes"),
])
def test_time_limit_refusals_are_one_line_with_exit_2(tmp_path, capsys, extra, message):
    from irpath.cli.main import main

    code = main(["train", "nuclei", "--train", str(tmp_path / "t"), "--val", str(tmp_path / "v"),
                 "--out", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_resuming_keeps_sections_a_method_added_to_config_json(tmp_path):
    """A calibration recorded after training survives the next resume's recipe check, so a
    run killed after that resume still resumes (nuclei records its calibration this way)."""
    from irpath.config import load_json, save_json

    run = RunDirectory(tmp_path / "run")
    run.start("compsegnet", Cfg(), TrainCfg())
    kw = dict(build=_build, datasets=_datasets, epochs=1, seed=0, batch_size=4, steps_per_epoch=2, verbose=0)
    fit(run, **kw)
    save_json(run.config, **load_json(run.config), calibration={"recipe_min_area": 20})
    assert run.start("compsegnet", Cfg(), TrainCfg()) is True  # a resume
    assert load_json(run.config)["calibration"] == {"recipe_min_area": 20}
