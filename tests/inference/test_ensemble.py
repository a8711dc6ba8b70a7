"""irpath ensemble: several runs of one recipe averaged into one model."""

import json
import shutil

import numpy as np
import pytest

from irpath.cli.main import main
from irpath.errors import ConfigError
from irpath.inference.ensemble import make_ensemble
from irpath.inference.loading import load_keras_model, load_predictor
from irpath.io.paths import OutputError


@pytest.fixture(scope="module")
def second_run(tiny_run, tmp_path_factory):
    """A copy of the tiny run whose map differs: its last layer's bias shifted."""
    out = tmp_path_factory.mktemp("second") / "run"
    shutil.copytree(tiny_run, out, ignore=shutil.ignore_patterns("saved_model"))
    model = load_keras_model(out / "segmenter.keras")
    last = [layer for layer in model.layers if layer.weights][-1]
    weights = last.get_weights()
    weights[-1] = weights[-1] + 4.0
    last.set_weights(weights)
    model.save(out / "segmenter.keras")
    return out


def _cube(seed=0):
    cube = (np.random.default_rng(seed).random((2, 30, 21, 450)) * 0.5).astype(np.float32)
    cube[:, :3] = 0.0
    return cube


def test_ensemble_maps_are_the_mean_of_the_members(tiny_run, second_run, tmp_path):
    out = make_ensemble([tiny_run, second_run], tmp_path / "ens")
    cube = _cube()
    a, b = load_predictor(tiny_run).predict(cube), load_predictor(second_run).predict(cube)
    assert np.abs(a - b).max() > 0.1  # the members really differ
    ens = load_predictor(out)
    assert ens.method == "compsegnet" and ens.config == load_predictor(tiny_run).config
    np.testing.assert_allclose(ens.predict(cube), (a + b) / 2, rtol=1e-5, atol=1e-6)
    # the SavedModel beside it serves the same maps
    np.testing.assert_allclose(load_predictor(out / "saved_model").predict(cube), (a + b) / 2,
                               rtol=1e-5, atol=1e-6)
    members = json.loads((out / "config.json").read_text())["ensemble"]["members"]
    assert members == [str((tiny_run / "segmenter.keras").resolve()),
                       str((second_run / "segmenter.keras").resolve())]
    assert "ensemble" not in json.loads((tiny_run / "config.json").read_text())
    assert json.loads((out / "config.json").read_text())["ensemble"]["combine"] == "mean"


def test_ensemble_refuses_bad_members_and_outputs(tiny_run, second_run, tmp_path):
    with pytest.raises(ConfigError, match="at least two"):
        make_ensemble([tiny_run], tmp_path / "one")
    other = tmp_path / "other"
    shutil.copytree(second_run, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"]["threshold"] = 0.5
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=r"differs .*\(threshold\)"):
        make_ensemble([tiny_run, other], tmp_path / "mixed")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an empty folder"):
        make_ensemble([tiny_run, second_run], busy)
    assert (busy / "x.txt").read_text() == "keep me"


def test_ensemble_cli_then_evaluate(tiny_run, second_run, tiny_tma, tmp_path, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", "--out", str(out), "--no-export", str(tiny_run), str(second_run)]) == 0
    assert not (out / "saved_model").exists() and (out / "segmenter.keras").exists()
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--manifest", str(tiny_tma["test"]),
                 "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["method"] == "compsegnet" and report["n_spots"] == 8 and report["tta"] is False
    # --tta: each spot's map is the mean over the 8 flips / quarter turns of the spot
    assert main(["evaluate", "--model", str(out), "--manifest", str(tiny_tma["test"]),
                 "--out", str(tmp_path / "eval_tta"), "--tta"]) == 0
    tta = json.loads((tmp_path / "eval_tta" / "report.json").read_text())
    assert tta["tta"] is True
    from irpath.data.augment import dihedral, inverse_dihedral
    from irpath.data.cache import CacheIndex

    cube = CacheIndex.open(tmp_path / "eval" / "cache").load(0)[0]
    predict = load_predictor(out).predict
    expected = np.mean([dihedral(predict(dihedral(cube, k)[None])[0], inverse_dihedral(k))
                        for k in range(8)], axis=0)[..., 0]
    np.testing.assert_allclose(np.load(tmp_path / "eval_tta" / tta["spots"][0]["map"]), expected,
                               rtol=1e-5, atol=1e-6)
    capsys.readouterr()
    assert main(["ensemble", "--out", str(tmp_path / "x"), str(tiny_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least two" in err[0]
