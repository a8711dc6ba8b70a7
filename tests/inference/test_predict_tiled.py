"""``predict`` switches to lazy, tiled inference above ``--tile-limit`` and gives the same maps.

Tolerance: the tiny U-Net (depth 2) sees ~20 px around a pixel, more than the
tiles' context margin here (overlap 12, margin 3), so the stated tolerance is
0.02 on average and 0.15 at worst per pixel, not round-off; with a margin >= the
receptive field radius the maps agree to float32 round-off
(tests/inference/test_tiling.py).
"""

import json

import numpy as np

from irpath.cli.main import main


def test_tiled_predict_matches_whole_image(tiny_run, tmp_path):
    rng = np.random.default_rng(0)
    axis = np.linspace(1802.0, 946.0, 430)              # not the model's axis
    cube = (0.4 + 0.1 * rng.random((72, 60, 430))).astype(np.float32)
    cube[:6] = np.nan                                    # background rows
    np.savez(tmp_path / "big.npz", cube=cube, wavenumbers=axis)
    common = ["predict", "--model", str(tiny_run), "--input", str(tmp_path / "big.npz")]
    assert main(common + ["--out", str(tmp_path / "whole")]) == 0
    assert main(common + ["--out", str(tmp_path / "tiled"), "--tile-limit", "1000", "--tile", "32",
                          "--overlap", "12"]) == 0
    whole, tiled = np.load(tmp_path / "whole" / "big.npy"), np.load(tmp_path / "tiled" / "big.npy")
    assert whole.shape == tiled.shape == (72, 60)
    diff = np.abs(whole - tiled)
    assert diff.mean() < 0.02 and diff.max() < 0.15, (diff.mean(), diff.max())
    rows = [json.loads((tmp_path / d / "predictions.json").read_text())["predictions"][0]
            for d in ("whole", "tiled")]
    assert abs(rows[0]["tumour_fraction"] - rows[1]["tumour_fraction"]) < 0.05
    assert rows[0]["tissue_pixels"] == rows[1]["tissue_pixels"] == 66 * 60
    assert not list((tmp_path / "tiled").glob(".*tmp*"))  # the tiled temporary was moved or removed
