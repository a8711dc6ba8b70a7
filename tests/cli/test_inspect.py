"""``irpath inspect`` through ``main(argv)``: summaries, manifests and one-line errors."""

import json

import numpy as np
import pytest
import spectral.io.envi as envi

from irpath.cli.main import main
from tests.io.bad_inputs import CASES


@pytest.fixture
def known_cube(tmp_path):
    """4 x 5 x 3 big-endian int16 ENVI cube: 6 zero (background) pixels, 14 tissue pixels."""
    arr = np.full((4, 5, 3), 100, np.int16)
    arr[0, :] = 0
    arr[3, 0] = 0
    arr[1, 1] = [-7, 250, 3]
    hdr = tmp_path / "spot.hdr"
    envi.save_image(str(hdr), arr, dtype=np.int16, interleave="bil", byteorder=1,
                    metadata={"wavelength": [1000, 1100, 1200]})
    return hdr


def _nan_cube(tmp_path):
    """2 x 5 x 2 float32 .npy: 2 all-NaN pixels (4 NaN values) and 8 tissue pixels."""
    arr = np.ones((2, 5, 2), np.float32)
    arr[0, 0] = arr[1, 4] = np.nan
    np.save(tmp_path / "nan.npy", arr)
    return tmp_path / "nan.npy"


def test_summary_of_known_cube(known_cube, capsys):
    assert main(["inspect", str(known_cube)]) == 0
    out = capsys.readouterr().out
    assert str(known_cube) in out
    assert "4 x 5 x 3 (H x W x C), stored int16" in out
    assert "1000 .. 1200 cm^-1, 3 points" in out
    assert "tissue   70.0 % of pixels" in out
    assert "NaN      0 values; 0 of 20 pixels invalid" in out
    assert "values   -7 .. 250 (finite)" in out


def test_nan_background_is_counted_not_refused(tmp_path, capsys):
    path = _nan_cube(tmp_path)
    assert main(["inspect", "--json", str(path)]) == 0
    [summary] = json.loads(capsys.readouterr().out)
    assert summary["nan_values"] == 4 and summary["invalid_pixels"] == 2
    assert summary["tissue_fraction"] == pytest.approx(0.8)
    assert summary["axis"] is None and (summary["min"], summary["max"]) == (1.0, 1.0)


def test_manifest_lists_every_image_with_label(tmp_path, known_cube, capsys):
    _nan_cube(tmp_path)
    (tmp_path / "m.csv").write_text("image,label\nspot.hdr,1\nnan.npy,0\n")
    assert main(["inspect", "--json", str(tmp_path / "m.csv")]) == 0
    summaries = json.loads(capsys.readouterr().out)
    assert [(s["shape"], s["label"]) for s in summaries] == [([4, 5, 3], 1), ([2, 5, 2], 0)]
    assert main(["inspect", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "2 image(s)" in out and "label    1 (cancer)" in out and "label    0 (cancer-free)" in out


def test_help_mentions_manifests(capsys):
    assert main(["inspect", "--help"]) == 0
    assert "manifest" in capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2(case, tmp_path, capsys):
    path = CASES[case][0](tmp_path)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("irpath: error:")
    assert path.name in lines[0]


def test_stops_at_first_bad_path_after_good_ones(tmp_path, known_cube, capsys):
    assert main(["inspect", str(known_cube), str(tmp_path / "missing.npy")]) == 2
    captured = capsys.readouterr()
    assert "4 x 5 x 3" in captured.out
    assert captured.err.strip() == f"irpath: error: {tmp_path / 'missing.npy'}: no such file"


def test_rgb_tissue_fraction_is_the_non_background(tmp_path, capsys):
    """A white tile with a 10 x 20 purple block: 200 of 40 x 40 pixels are tissue."""
    from PIL import Image

    img = np.full((40, 40, 3), 245, np.uint8)
    img[5:15, 10:30] = (150, 60, 160)
    Image.fromarray(img).save(tmp_path / "tile.png")
    assert main(["inspect", "--json", str(tmp_path / "tile.png")]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["shape"] == [40, 40, 3]
    assert summary["tissue_fraction"] == pytest.approx(200 / 1600, abs=0.01)
