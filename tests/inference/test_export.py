import json
import subprocess
import sys

import numpy as np

from irpath.inference.export import export_model
from irpath.inference.loading import load_predictor

RELOAD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
cube = np.load(sys.argv[2])
np.save(sys.argv[3], np.asarray(loaded.serve(tf.constant(cube))))
"""


def test_export_reload_in_fresh_process_gives_identical_maps(tiny_run, tmp_path):
    saved = export_model(tiny_run, tmp_path / "saved")
    assert (saved / "saved_model.pb").exists()
    meta = json.loads((saved / "irpath.json").read_text())
    assert meta["model"]["in_channels"] == 450 and meta["model"]["threshold"] == 0.35
    assert meta["method"] == "compsegnet" and meta["irpath_version"]
    rng = np.random.default_rng(0)
    cube = (rng.random((2, 30, 21, 450)) * 0.5).astype(np.float32)   # raw cubes, odd size
    cube[:, :3] = 0.0                                                # background rows
    np.save(tmp_path / "cube.npy", cube)
    res = subprocess.run([sys.executable, "-c", RELOAD, str(saved), str(tmp_path / "cube.npy"),
                          str(tmp_path / "maps.npy")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    served = np.load(tmp_path / "maps.npy")
    expected = load_predictor(tiny_run).predict(cube)
    assert served.shape == (2, 30, 21, 1)
    assert expected.shape == (2, 30, 21, 1)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    # and the SavedModel loads as a Predictor too
    np.testing.assert_allclose(load_predictor(saved).predict(cube), expected, rtol=1e-5, atol=1e-6)
