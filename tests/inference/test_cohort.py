"""Cohort prediction on dask LocalClusters: 2 workers give the serial outputs, a re-run skips,
a killed worker's task is retried."""

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest

from irpath.cli.main import main


def _die_once(marker):
    """A worker set-up that kills its worker process the first time it runs anywhere."""
    marker = Path(marker)
    if not marker.exists():
        marker.write_text("killed")
        os._exit(1)


@pytest.mark.slow
def test_workers_match_serial_rerun_skips_killed_worker_retried(tmp_path, capsys, monkeypatch):
    from irpath.demo.textures import write_texture_set

    write_texture_set(tmp_path / "data", 4, 32, seed=3)
    assert main(["train", "fcn", "--train-manifest", str(tmp_path / "data" / "manifest.csv"),
                 "--val-manifest", str(tmp_path / "data" / "manifest.csv"), "--out", str(tmp_path / "run"), "--epochs", "1", "--cut", "block1_conv2",
                 "--decoder", "conv:3:4", "--lr", "1e-3", "--mpp", "1.5", "--no-export"]) == 0
    from irpath.inference.loading import recorded_mpp

    assert recorded_mpp(tmp_path / "run") == 1.5  # the training resolution is recorded in the run
    images = sorted(str(p) for p in (tmp_path / "data" / "images").glob("*.png"))[:3]
    base = ["predict", "--model", str(tmp_path / "run"), "--input", *images]
    assert main(base + ["--out", str(tmp_path / "serial")]) == 0
    assert main(base + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    serial = json.loads((tmp_path / "serial" / "predictions.json").read_text())["predictions"]
    dask = json.loads((tmp_path / "dask" / "predictions.json").read_text())["predictions"]
    assert [r["image"] for r in dask] == images and len(serial) == 3
    for a, b in zip(serial, dask):
        assert a == b
        np.testing.assert_array_equal(np.load(tmp_path / "serial" / a["map"]),
                                      np.load(tmp_path / "dask" / b["map"]))
    capsys.readouterr()
    import distributed

    def no_cluster(*args, **kwargs):
        raise AssertionError("a re-run with nothing left to do started a cluster")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    assert main(base + ["--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    assert "3 image(s) already complete" in capsys.readouterr().err
    monkeypatch.undo()
    # a worker killed mid-run: its task is retried on a restarted worker; the outputs still match
    from irpath.inference.loading import load_predictor
    from irpath.inference.predict import predict_files

    predictor = load_predictor(tmp_path / "run")
    killed = predict_files(predictor, images[:2], tmp_path / "killed", workers=1,
                           worker_setup=functools.partial(_die_once, tmp_path / "marker"))
    assert (tmp_path / "marker").is_file()
    for a, b in zip(serial, killed["predictions"]):
        np.testing.assert_array_equal(np.load(tmp_path / "serial" / a["map"]),
                                      np.load(tmp_path / "killed" / b["map"]))
