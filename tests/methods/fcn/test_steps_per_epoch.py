"""``steps_per_epoch`` (``--steps-per-epoch``): batches per epoch of the fcn, and the shipped
``models/fcn-recommended`` recipe that uses it."""

from pathlib import Path

import numpy as np
import pytest

from irpath.errors import ConfigError
from irpath.methods.fcn.config import FcnTrainConfig

ROOT = Path(__file__).resolve().parents[3]


def _pairs(n=2, size=24):
    from irpath.methods.fcn.data import Pairs

    rng = np.random.default_rng(0)
    return Pairs([rng.uniform(0, 255, (size, size, 3)).astype(np.float32) for _ in range(n)],
                 [rng.integers(0, 3, (size, size)).astype(np.int32) for _ in range(n)], [], "mem")


def test_steps_per_epoch_sets_the_batches_of_an_epoch():
    from irpath.methods.fcn.data import make_datasets

    train = _pairs()
    paper = FcnTrainConfig(crop=8)
    _, _, steps = make_datasets(train, None, paper, global_batch=4)
    assert steps == 1                                      # one pass over 2 images: 1 batch
    cfg = FcnTrainConfig(crop=8, steps_per_epoch=5)
    ds, _, steps = make_datasets(train, None, cfg, global_batch=4)
    assert steps == 5
    crops = np.concatenate([x.numpy() for x, _ in ds.take(5)])
    assert crops.shape == (20, 8, 8, 3)
    assert len({c.tobytes() for c in crops}) == 20          # 20 different random crops, not 2 repeats
    with pytest.raises(ConfigError, match="steps_per_epoch must be >= 1"):
        FcnTrainConfig(steps_per_epoch=0)


def test_flag_reaches_the_config_and_the_recommended_recipe_loads(tmp_path, monkeypatch):
    import irpath.train
    from irpath.cli.main import main as cli
    from irpath.config import read_recipe
    from irpath.methods import get_method

    seen = {}
    monkeypatch.setattr(irpath.train, "run", lambda method, data, out, model_cfg, train_cfg, **kw:
                        seen.update(model=model_cfg, train=train_cfg))
    args = ["train", "fcn", "--train-manifest", "t.csv", "--val-manifest", "v.csv"]
    assert cli([*args, "--out", str(tmp_path / "a"), "--crop", "64", "--steps-per-epoch", "7"]) == 0
    assert seen["train"].steps_per_epoch == 7 and seen["train"].crop == 64
    path = ROOT / "models" / "fcn-recommended" / "config.json"
    assert cli([*args, "--out", str(tmp_path / "b"), "--config", str(path)]) == 0
    _, model, train = read_recipe(path, get_method, method="fcn")
    assert seen == {"model": model, "train": train}
    assert model.stride < 4 and train.steps_per_epoch and train.crop   # not the paper's recipe
