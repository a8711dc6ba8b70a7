"""Cohort prediction on a 2-process dask LocalCluster gives the serial outputs; a re-run skips."""

import json

import numpy as np
import pytest

from irpath.cli.main import main


@pytest.mark.slow
def test_two_local_workers_match_serial_and_rerun_skips(tmp_path, capsys):
    from irpath.demo.textures import write_texture_set

    write_texture_set(tmp_path / "data", 4, 32, seed=3)
    assert main(["train", "fcn", "--train-manifest", str(tmp_path / "data" / "manifest.csv"),
                 "--val-manifest", str(tmp_path / "data" / "manifest.csv"), "--out", str(tmp_path / "run"), "--epochs", "1", "--cut", "block1_conv2",
                 "--decoder", "conv:3:4", "--lr", "1e-3"]) == 0
    images = sorted(str(p) for p in (tmp_path / "data" / "images").glob("*.png"))[:3]
    base = ["predict", "--model", str(tmp_path / "run"), "--input", *images]
    assert main(base + ["--out", str(tmp_path / "serial")]) == 0
    assert main(base + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    serial = json.loads((tmp_path / "serial" / "predictions.json").read_text())["predictions"]
    dask = json.loads((tmp_path / "dask" / "predictions.json").read_text())["predictions"]
    assert [r["image"] for r in dask] == images and len(serial) == 3
    for a, b in zip(serial, dask):
        assert a == b
        np.testing.assert_array_equal(np.load(tmp_path / "serial" / a["map"]), np.load(tmp_path / "dask" / b["map"]))
    capsys.readouterr()
    assert main(base + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    assert "3 image(s) already complete" in capsys.readouterr().err
