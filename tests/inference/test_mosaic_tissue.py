"""Tiled IR mosaics skip background tiles (``--tissue auto|none|MASK``), as slides do."""

import numpy as np
import pytest

from irpath.inference.loading import Predictor
from irpath.inference.predict import PredictOptions, predict_files
from irpath.inference.tiling import tile_grid
from tests.io.test_sources import write_envi

H, W, C = 96, 128, 40
TILE, OVERLAP = 32, 8


def counting_predictor(calls):
    """A compsegnet stand-in: the mean absorbance + 0.5 (so background tiles give 0.5, not 0)."""
    from irpath.methods.compsegnet.config import CompSegNetConfig

    def predict(x):
        x = np.asarray(x, np.float32)
        calls.append(x.shape)
        return x.mean(axis=-1, keepdims=True) + 0.5
    return Predictor(predict=predict, method="compsegnet", config=CompSegNetConfig(in_channels=16),
                     source="stand-in")


@pytest.fixture
def mosaic(tmp_path, rng):
    """A BSQ ENVI mosaic: tissue (absorbance 0.3..0.6) on rows 20..44, columns 70..100; zero glass."""
    cube = np.zeros((H, W, C), np.float32)
    tissue = np.zeros((H, W), bool)
    tissue[20:44, 70:100] = True
    cube[tissue] = 0.3 + 0.3 * rng.random((int(tissue.sum()), C))
    return write_envi(tmp_path, cube, "bsq", name="mosaic"), tissue, cube


def _run(hdr, out, tissue, calls):
    opts = PredictOptions(tile=TILE, overlap=OVERLAP, tile_limit=1000, tissue=tissue, progress=False)
    row = predict_files(counting_predictor(calls), [hdr], out, options=opts)["predictions"][0]
    return row, np.load(out / row["map"])


def _expected(region):
    """The tiles touching ``region`` and the fraction of the area they cover."""
    from irpath.methods.compsegnet.config import CompSegNetConfig

    boxes = tile_grid(H, W, TILE, OVERLAP, align=CompSegNetConfig(in_channels=16).multiple)
    touching = [b for b in boxes if region[b[0]:b[1], b[2]:b[3]].any()]
    covered = np.zeros((H, W), bool)
    for y0, y1, x0, x1 in touching:
        covered[y0:y1, x0:x1] = True
    return boxes, touching, covered


def test_background_tiles_of_a_mosaic_are_never_computed(mosaic, tmp_path):
    hdr, tissue, _ = mosaic
    boxes, touching, covered = _expected(tissue)
    assert 0 < len(touching) < len(boxes) / 2
    calls_all, calls_auto = [], []
    row_all, every = _run(hdr, tmp_path / "none", "none", calls_all)
    row_auto, auto = _run(hdr, tmp_path / "auto", "auto", calls_auto)
    assert len(calls_all) == len(boxes) and len(calls_auto) == len(touching)   # tiles outside: never computed
    assert row_all["tissue_fraction"] == 1.0 and row_all["tiled"] and row_auto["tiled"]
    assert row_auto["tissue_fraction"] == pytest.approx(covered.mean(), abs=1e-6)
    np.testing.assert_array_equal(auto[tissue], every[tissue])           # tissue: as with --tissue none
    assert (auto[~covered] == 0).all() and (every[~covered] == pytest.approx(0.5))  # background filled with 0
    assert (auto[tissue] > 0.5).all()


def test_a_mask_file_chooses_the_tiles(mosaic, tmp_path):
    from PIL import Image

    hdr, _, _ = mosaic
    region = np.zeros((H, W), bool)
    region[70:90, 5:20] = True                                           # glass: the mask decides, not the data
    Image.fromarray(region.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    _, touching, covered = _expected(region)
    calls = []
    row, maps = _run(hdr, tmp_path / "masked", str(tmp_path / "mask.png"), calls)
    assert len(calls) == len(touching)
    assert row["tissue_fraction"] == pytest.approx(covered.mean(), abs=1e-6)
    assert (maps[~covered] == 0).all() and (maps[region] == pytest.approx(0.5))


def test_band_mask_equals_the_full_spectrum_mask_on_the_amide_band(mosaic):
    from irpath.io import read_cube
    from irpath.spectra.mask import band_tissue_mask, tissue_mask

    hdr, tissue, cube = mosaic
    mm = read_cube(hdr, mmap=True)
    band = band_tissue_mask(mm.data, mm.valid, axis=mm.wavenumbers)
    np.testing.assert_array_equal(band, tissue)
    faint = cube.copy()
    faint[tissue & (np.arange(W) < 80)[None, :]] *= 0.05               # below 0.1 x the 99th percentile
    expect = tissue_mask(faint, axis=mm.wavenumbers)
    np.testing.assert_array_equal(band_tissue_mask(faint, axis=mm.wavenumbers), expect)
    assert expect.sum() == tissue.sum() - 24 * 10
