"""The learned corrector: learns ME-EMSC's correction on tiny data (distance to clean
drops), round-trips through .keras with identical outputs, and runs through the CLI."""

import json

import numpy as np
import pytest

from irpath.demo.synthetic import make_spot
from irpath.spectra.emsc import CorrectionConfig, Corrector, mie_extinction_distortion, unit_rms_error
from irpath.train.descatter import DescatterConfig, LearnedCorrector, errors, fit_descatter
from tests.spectra.mie_phantom import AXIS, HARD_CLEAN, mie_tissue


@pytest.fixture(scope="module")
def trained():
    clean, raw = mie_tissue(11, 24, n=170)
    target = Corrector(clean.mean(0), AXIS, CorrectionConfig("me-emsc", iterations=5))(raw)
    model, report = fit_descatter(raw[:130], target[:130], DescatterConfig(samples=130, epochs=30,
                                                                           batch_size=32))
    return model, report, clean[130:], raw[130:], target[130:]


def test_learned_correction_moves_towards_clean(trained):
    # measured: unit-RMS distance to clean 0.0170 -> learned 0.0032 (ME-EMSC 0.0029); held-out
    # rel_rmse 4.3 % (learned 0.0049 before the per-spectrum gain)
    model, report, clean, raw, target = trained
    out = LearnedCorrector(model, "test")(raw)
    before, after = unit_rms_error(raw, clean), unit_rms_error(out, clean)
    assert after < 0.5 * before, (before, after)
    assert report["held_out_errors"]["rel_rmse"] < 0.2
    assert set(report["definitions"]) == {"rel_rmse", "rel_rmse_of_correction", "range_rmse"}


def test_keras_round_trip_identical(trained, tmp_path):
    import keras

    from irpath.train.descatter import save_corrector

    model, _, _, raw, _ = trained
    save_corrector(model, tmp_path / "c.keras")
    again = keras.saving.load_model(tmp_path / "c.keras")
    np.testing.assert_array_equal(np.asarray(again(raw.astype(np.float32))),
                                  np.asarray(model(raw.astype(np.float32))))


def test_errors_definitions():
    target = np.ones((2, 4))
    raw = np.zeros((2, 4))
    e = errors(target + 0.1, target, raw)
    assert e["rel_rmse"] == pytest.approx(0.1) and e["rel_rmse_of_correction"] == pytest.approx(0.1)
    ramp = target + np.arange(4)
    assert errors(ramp + 0.1, ramp, raw)["range_rmse"] == pytest.approx(0.1 / 3)


def test_cli_learned_then_reuse(tmp_path, capsys):
    import spectral.io.envi as envi

    from irpath.cli.main import main
    from irpath.io import read_cube

    rng = np.random.default_rng(3)
    spot, _, tissue = make_spot(rng, 12, AXIS, True, HARD_CLEAN)
    spot[tissue] = mie_extinction_distortion(spot[tissue], AXIS, rng)
    envi.save_image(str(tmp_path / "a.hdr"), spot.astype(np.float32), interleave="bip", byteorder=0,
                    metadata={"wavelength": list(AXIS), "wavelength units": "cm-1"})
    args = ["correct", "--input", str(tmp_path / "a.hdr"), "--no-progress", "--iterations", "3"]
    assert main(args + ["--out", str(tmp_path / "o"), "--method", "learned", "--samples", "60",
                        "--epochs", "3"]) == 0
    record = json.loads((tmp_path / "o" / "correction.json").read_text())
    assert record["method"] == "learned"
    assert 0 < record["learned"]["held_out_errors"]["rel_rmse"] < 1
    assert record["cubes"]["a"]["tissue_spectra"] == tissue.sum()
    assert main(args + ["--out", str(tmp_path / "p"), "--corrector",
                        str(tmp_path / "o" / "corrector.keras")]) == 0
    np.testing.assert_array_equal(read_cube(tmp_path / "p" / "a.hdr").data,
                                  read_cube(tmp_path / "o" / "a.hdr").data)
    assert main(args + ["--out", str(tmp_path / "q"), "--corrector", str(tmp_path / "none.keras")]) == 2
    assert "none.keras: no such corrector file" in capsys.readouterr().err


def test_outlier_rule_flags_blown_up_targets_only():
    from irpath.train.descatter import outlier_rows

    rng = np.random.default_rng(0)
    raw = 1 + 0.1 * rng.random((200, 30))
    target = raw * rng.uniform(0.8, 1.25, (200, 1)) + 0.01 * rng.standard_normal((200, 30))
    target[5] *= 40            # a near-zero ME-EMSC scale: the whole spectrum blown up
    target[9, 3] += 30         # one wild channel: the range is far out, the norm less so
    target[12] = np.nan        # failed: not an outlier (counted apart)
    out = outlier_rows(raw, target)
    assert out[5] and out[9] and not out[12]
    assert out.sum() <= 2 + 0.02 * 200  # the ordinary spread is kept


def test_outlier_rule_flags_flipped_or_near_zero_me_emsc_scales():
    from irpath.train.descatter import SCALE_FLOOR, fit_descatter, outlier_rows

    rng = np.random.default_rng(1)
    raw = 1 + 0.1 * rng.random((40, 30))
    target = 1.1 * raw         # targets in line with their raw spectra: norm and range pass
    scale = rng.uniform(1.0, 2.0, 40)
    scale[[3, 4]] = [-0.8, 0.0]                        # the reference given a negative or no weight
    scale[7] = 0.9 * SCALE_FLOOR * np.median(scale[scale > 0])  # residual blown up
    scale[8] = np.nan                                  # NaN counts as not positive
    assert not outlier_rows(raw, target).any()         # invisible to the norm and range scores
    assert np.flatnonzero(outlier_rows(raw, target, scale=scale)).tolist() == [3, 4, 7, 8]
    _, report = fit_descatter(raw, target, DescatterConfig(samples=40, epochs=1), scale=scale)
    assert report["dropped_outliers"] == 4 and report["samples"] == 36
    assert report["held_out"] + report["held_out_outliers"] == 8   # 20 % of the 40 finite rows
    assert report["outlier_rule"].startswith(f"ME-EMSC scale <= 0 or < {SCALE_FLOOR:g} x the median")
