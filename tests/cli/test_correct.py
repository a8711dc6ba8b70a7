"""``irpath correct`` through ``main(argv)``: ENVI output, rewritten manifest, reference files."""

import numpy as np
import pytest
import spectral.io.envi as envi

from irpath.cli.main import main
from irpath.demo.synthetic import make_spot, wavenumber_axis
from irpath.io import read_cube, read_manifest
from irpath.spectra.emsc import unit_rms_error
from tests.spectra.mie_phantom import mie_like_distortion

AXIS = wavenumber_axis()


@pytest.fixture
def spot(tmp_path):
    rng = np.random.default_rng(4)
    cube, _, tissue = make_spot(rng, 16, AXIS, True)
    d = cube.copy()
    d[tissue] = mie_like_distortion(cube[tissue], AXIS, rng)
    envi.save_image(str(tmp_path / "spot.hdr"), d.astype(np.float32), interleave="bip", byteorder=0,
                    metadata={"wavelength": list(AXIS), "wavelength units": "cm-1"})
    (tmp_path / "mask.npy").write_bytes(b"")  # never opened: only paths are rewritten
    (tmp_path / "m.csv").write_text("image,label\nspot.hdr,1\n")
    return tmp_path, cube, d, tissue


def test_correct_manifest_with_csv_reference(spot, capsys):
    folder, pure, distorted, tissue = spot
    np.savetxt(folder / "ref.csv", np.c_[AXIS[::-1], pure[tissue].mean(0)[::-1]], delimiter=",",
               header="wavenumber,absorbance", comments="")
    out = folder / "out"
    assert main(["correct", "--input", str(folder / "m.csv"), "--out", str(out), "--reference",
                 str(folder / "ref.csv"), "--block", "40", "--method", "emsc",
                 "--no-progress"]) == 0
    rows = read_manifest(out / "m.csv").rows
    assert rows[0].image == (out / "spot.hdr").resolve() and rows[0].label == 1
    corrected = read_cube(rows[0].image).data
    assert unit_rms_error(corrected[tissue], pure[tissue]) < 0.75 * unit_rms_error(distorted[tissue], pure[tissue])


def test_correct_npy_reference_must_match_axis(spot, capsys):
    folder, pure, _, tissue = spot
    np.save(folder / "ref.npy", pure[tissue].mean(0)[:100])
    assert main(["correct", "--input", str(folder / "spot.hdr"), "--out", str(folder / "o"),
                 "--reference", str(folder / "ref.npy"), "--no-progress"]) == 2
    assert "ref.npy: reference has 100 values but the cube has 450" in capsys.readouterr().err
    np.save(folder / "ref.npy", pure[tissue].mean(0))
    assert main(["correct", "--input", str(folder / "spot.hdr"), "--out", str(folder / "o"),
                 "--reference", str(folder / "ref.npy"), "--method", "me-emsc", "--no-progress"]) == 0
    assert read_cube(folder / "o" / "spot.hdr").shape == (16, 16, 450)


def test_help_documents_methods(capsys):
    assert main(["correct", "--help"]) == 0
    text = capsys.readouterr().out
    assert "emsc" in text and "me-emsc" in text and "spectra/s" in text
