"""correct_cube_file: tissue first, failed spectra NaN and listed, a killed run resumes
from its last block and gives the same cube, outputs never overwrite the input."""

import json

import numpy as np
import pytest

from irpath.demo.synthetic import make_spot, wavenumber_axis
from irpath.io import read_cube
from irpath.io.cube import make_cube
from irpath.io.paths import OutputError
from irpath.spectra.correct_cube import correct_cube_file, is_complete, sample_tissue
from irpath.spectra.emsc import CorrectionConfig, Corrector

AXIS = wavenumber_axis()


@pytest.fixture
def cube():
    rng = np.random.default_rng(7)
    data, _, tissue = make_spot(rng, 12, AXIS, True)
    return make_cube("mem", data, wavenumbers=AXIS), tissue


class Killed(Exception):
    pass


class Dies:
    """A corrector that dies on its ``n``-th call (a killed run)."""

    def __init__(self, inner, n):
        self.inner, self.n, self.calls, self.seen = inner, n, 0, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.n:
            raise Killed
        self.seen += len(x)
        return self.inner(x)


def test_killed_run_resumes_and_equals_an_uninterrupted_one(tmp_path, cube):
    src, tissue = cube
    ref = src.data[tissue].mean(0)
    fast = Corrector(ref, AXIS, CorrectionConfig("emsc"))
    whole = correct_cube_file(src, tmp_path / "whole.hdr", fast, block_spectra=24, progress=False,
                              label="emsc")
    dying = Dies(fast, 3)
    with pytest.raises(Killed):
        correct_cube_file(src, tmp_path / "c.hdr", dying, block_spectra=24, progress=False, label="emsc")
    assert not (tmp_path / "c.hdr").exists() and not is_complete(tmp_path / "c.hdr")
    assert (tmp_path / "c.img.part").exists()
    again = Dies(fast, 0)
    report = correct_cube_file(src, tmp_path / "c.hdr", again, block_spectra=24, progress=False,
                               label="emsc")
    assert report["resumed_at_row"] == 4 and again.seen == tissue[4:].sum()  # 2 rows per block
    np.testing.assert_array_equal(read_cube(tmp_path / "c.hdr").data, read_cube(whole["path"]).data)
    assert report["tissue_spectra"] == tissue.sum()
    assert not (tmp_path / "c.img.part").exists() and not (tmp_path / "c.progress.json").exists()
    # A complete cube is not corrected again.
    assert correct_cube_file(src, tmp_path / "c.hdr", Dies(fast, 1), progress=False)["resumed"] == "complete"


def test_tissue_first_failed_spectra_nan_and_listed(tmp_path, cube):
    from irpath.spectra.mask import tissue_mask

    src, _ = cube
    data = src.data
    tissue = tissue_mask(src.data, src.valid)
    assert 0 < tissue.sum() < tissue.size

    def corrector(spectra):
        out = spectra * 2
        out[0] = np.nan  # the first tissue spectrum of each block fails
        return out

    report = correct_cube_file(src, tmp_path / "o.hdr", corrector, block_spectra=1000,
                               progress=False, label="x2")
    out = read_cube(tmp_path / "o.hdr").data
    first = tuple(np.argwhere(tissue)[0])
    assert report["failed_spectra"] == 1 and report["failed_pixels"] == [list(map(int, first))]
    assert np.isnan(out[first]).all()
    np.testing.assert_array_equal(out[~tissue], data[~tissue])  # background as it was
    rest = tissue.copy()
    rest[first] = False
    np.testing.assert_allclose(out[rest], 2 * data[rest])
    saved = json.loads((tmp_path / "o.correction.json").read_text())
    assert saved["method"] == "x2" and saved["tissue_spectra"] == tissue.sum()


def test_never_overwrites_the_input(tmp_path, cube):
    import spectral.io.envi as envi

    src, _ = cube
    envi.save_image(str(tmp_path / "in.hdr"), src.data, interleave="bip", byteorder=0,
                    metadata={"wavelength": list(AXIS)})
    with pytest.raises(OutputError, match="would overwrite the input"):
        correct_cube_file(read_cube(tmp_path / "in.hdr"), tmp_path / "in.hdr",
                          CorrectionConfig("emsc"), progress=False)


def test_sample_tissue_is_stratified(cube):
    src, tissue = cube
    parts = sample_tissue([src, src], 21, np.random.default_rng(0))
    assert [len(p) for p in parts] == [11, 10]
    pool = {tuple(s) for s in src.data[tissue]}
    assert all(tuple(s.astype(np.float32)) in pool for s in parts[0])
