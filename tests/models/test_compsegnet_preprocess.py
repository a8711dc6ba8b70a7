"""CompSegNet with spectral preprocessing inside the model: default unchanged, statistics
on preprocessed spectra, export -> fresh-process reload identical."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from irpath.methods.compsegnet.config import CompSegNetConfig, segmenter_kwargs
from irpath.models.compsegnet import build_segmenter
from tests.conftest import tiny_model_config

PRE = {"vector_norm": True, "sg_deriv": 1, "sg_window": 7, "minmax": "amide"}


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_default_config_builds_the_same_layers_as_before():
    cfg = CompSegNetConfig(filters=2, depth=1)
    assert cfg.preprocess == {}
    mean, std = np.zeros(450), np.ones(450)
    old = build_segmenter(mean, std, in_channels=450, filters=2, depth=1, norm=cfg.norm,
                          map_bias=cfg.map_bias)  # the call before preprocessing existed
    new = build_segmenter(mean, std, **segmenter_kwargs(cfg))
    assert _layer_types(new) == _layer_types(old)
    assert [w.shape for w in new.weights] == [w.shape for w in old.weights]
    with_pre = build_segmenter(mean, std, **segmenter_kwargs(dataclasses.replace(cfg, preprocess=PRE)))
    assert _layer_types(with_pre)[1:4] == ["VectorNormalise", "SavitzkyGolay", "MinMaxScale"]


def test_config_preprocess_is_validated_and_round_trips_json():
    from irpath.config import from_dict, to_dict
    from irpath.errors import ConfigError

    cfg = CompSegNetConfig(preprocess={"vector_norm": True, "sg_deriv": 1, "sg_window": 9})
    assert cfg.preprocess == {"vector_norm": True, "sg_deriv": 1}  # canonical: defaults dropped
    again = from_dict(CompSegNetConfig, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg
    assert from_dict(CompSegNetConfig, {}) == CompSegNetConfig()  # old configs still load
    with pytest.raises(ConfigError, match="sg_deriv"):
        CompSegNetConfig(preprocess={"sg_deriv": 4})


def test_cli_flags_set_preprocess():
    from irpath.cli.main import build_parser
    from irpath.methods import get_method

    args = build_parser().parse_args(["train", "compsegnet", "--train-manifest", "a.csv",
                                      "--val-manifest", "b.csv", "--out", "r", "--vector-norm",
                                      "--sg-deriv", "2", "--sg-window", "11", "--sg-order", "3",
                                      "--minmax", "spectrum"])
    model, _ = get_method("compsegnet").configs_from_args(args)
    assert model.preprocess == {"vector_norm": True, "sg_deriv": 2, "sg_window": 11, "sg_order": 3,
                                "minmax": "spectrum"}
    defaults = build_parser().parse_args(["train", "compsegnet", "--train-manifest", "a.csv",
                                          "--val-manifest", "b.csv", "--out", "r"])
    assert get_method("compsegnet").configs_from_args(defaults)[0] == CompSegNetConfig()


RELOAD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
np.save(sys.argv[3], np.asarray(loaded.serve(tf.constant(np.load(sys.argv[2])))))
"""


@pytest.mark.slow
def test_preprocessed_run_stats_and_export_in_fresh_process(tiny_tma, tmp_path):
    from irpath.inference.export import export_model
    from irpath.inference.loading import load_predictor
    from irpath.methods import get_method
    from irpath.methods.compsegnet.config import CompSegNetTrainConfig
    from irpath.spectra.preprocess import PreprocessSpec, preprocess_spectra
    from irpath.train import run as train_run

    cfg = dataclasses.replace(tiny_model_config(), preprocess=PRE)
    run = tmp_path / "run"
    train_run(get_method("compsegnet"), {"train_manifest": tiny_tma["train"], "val_manifest": tiny_tma["val"]}, run, cfg,
          CompSegNetTrainConfig(epochs=2, batch_size=4, seed=0, lr=1e-2), verbose=0)
    assert json.loads((run / "config.json").read_text())["model"]["preprocess"] == PRE

    stats = np.load(run / "stats.npz")
    # brute force: preprocess every training tissue pixel, then mean / std
    from irpath.data.cache import prepare_spot
    from irpath.io import read_manifest
    pix = []
    for row in read_manifest(tiny_tma["train"]):
        data, _, tissue = prepare_spot(row.image, cfg.axis)
        pix.append(preprocess_spectra(np.asarray(data), PreprocessSpec(**PRE), cfg.axis)[tissue])
    pix = np.concatenate(pix)
    np.testing.assert_allclose(stats["mean"], pix.mean(0), rtol=1e-3, atol=1e-5 * np.abs(pix).max())
    np.testing.assert_allclose(stats["std"], pix.std(0), rtol=1e-2, atol=1e-5 * np.abs(pix).max())

    saved = export_model(run, tmp_path / "saved")
    cube = (np.random.default_rng(0).random((1, 20, 17, 450)) * 0.5).astype(np.float32)
    cube[:, :3] = 0.0
    np.save(tmp_path / "cube.npy", cube)
    res = subprocess.run([sys.executable, "-c", RELOAD, str(saved), str(tmp_path / "cube.npy"),
                          str(tmp_path / "maps.npy")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    expected = load_predictor(run).predict(cube)
    np.testing.assert_allclose(np.load(tmp_path / "maps.npy"), expected, rtol=1e-5, atol=1e-6)
