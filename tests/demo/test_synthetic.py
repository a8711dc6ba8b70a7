import csv

import numpy as np
import pytest
import spectral.io.envi as envi
from PIL import Image

from irpath.demo.synthetic import (CLASS_HEIGHTS, make_spot, make_tma, render_spot, spot_layout,
                                   wavenumber_axis, write_sample)

AXIS = wavenumber_axis()


def _band(cube, centre, half_width=4.0):
    return cube[..., np.abs(AXIS - centre) <= half_width].mean(axis=-1)


def _rows(csv_path):
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def tma(tmp_path_factory):
    out = tmp_path_factory.mktemp("tma")
    return make_tma(out, n_train=4, n_val=2, n_test=4, size=24, seed=3)


def test_axis_is_papers_axis():
    assert AXIS.shape == (450,)
    assert AXIS[0] == 1800 and AXIS[-1] == 948 and np.all(np.diff(AXIS) < 0)


def test_manifests_are_well_formed_and_balanced(tma):
    for split, n in (("train", 4), ("val", 2), ("test", 4)):
        header, rows = _rows(tma[split])
        assert header == ["image", "label", "mask"]
        assert len(rows) == n
        assert sum(int(r["label"]) for r in rows) == n // 2
        for r in rows:
            assert (tma[split].parent / r["image"]).is_file()
            assert (tma[split].parent / r["mask"]).is_file()
    np.testing.assert_array_equal(tma["axis"], AXIS)


def test_manifest_passes_the_reader(tma):
    from irpath.io.manifest import read_manifest

    manifest = read_manifest(tma["test"], require_masks=True)
    assert manifest.labels.count(1) == 2 and all(r.mask is not None for r in manifest.rows)


def test_envi_cubes_masks_and_background(tma):
    _, rows = _rows(tma["train"])
    for r in rows:
        img = envi.open(str(tma["train"].parent / r["image"]))
        cube = np.asarray(img.load())
        assert cube.shape == (24, 24, 450) and cube.dtype == np.float32
        assert img.metadata["interleave"] == "bsq"
        assert img.metadata["wavelength units"] == "cm-1"
        np.testing.assert_allclose([float(w) for w in img.metadata["wavelength"]], AXIS, atol=1e-3)
        tissue = np.any(cube != 0, axis=-1)
        assert 0.3 < tissue.mean() < 0.8
        assert not tissue[[0, 0, -1, -1], [0, -1, 0, -1]].any()  # corners are background
        with Image.open(tma["train"].parent / r["mask"]) as im:
            mask = np.asarray(im)
        assert mask.shape == (24, 24) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        if r["label"] == "1":
            assert mask.any() and np.all(tissue[mask > 0])
        else:
            assert not mask.any()


def test_spot_background_exactly_zero_and_amide_peak(rng):
    cube, tumour, tissue = make_spot(rng, 32, AXIS, cancer=True)
    assert cube.shape == (32, 32, 450) and cube.dtype == np.float32
    assert np.all(cube[~tissue] == 0)
    assert np.all(np.any(cube[tissue] != 0, axis=-1))
    assert 0.4 < _band(cube, 1655)[tissue].mean() < 1.1
    assert np.argmax(cube[tissue].mean(axis=0)) == np.argmin(np.abs(AXIS - 1655))


def test_tumour_fraction_range_and_no_tumour_when_cancer_free():
    for seed in range(6):
        _, tumour, tissue = make_spot(np.random.default_rng(seed), 48, AXIS, cancer=True)
        assert 0.15 <= tumour.sum() / tissue.sum() <= 0.5
        assert not np.any(tumour & ~tissue)
        _, tumour, _ = make_spot(np.random.default_rng(seed), 48, AXIS, cancer=False)
        assert not tumour.any()


def test_tumour_has_more_nucleic_acid_than_normal_epithelium():
    diffs = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        classes = spot_layout(rng, 48, cancer=True)
        cube = render_spot(rng, classes, AXIS)
        tum, epi = classes == 3, classes == 2
        assert tum.any() and epi.any()
        diffs.append([_band(cube, w)[tum].mean() - _band(cube, w)[epi].mean()
                      for w in (1236, 1080, 1025)])
    diffs = np.array(diffs)
    assert np.all(diffs[:, 0] > 0)          # PO2- asym, every spot
    assert diffs[:, 1].mean() > 0           # PO2- sym (overlaps glycogen 1080), on average
    assert diffs[:, 2].mean() < 0           # glycogen is lower in tumour


def test_cancer_free_spots_hold_normal_epithelium():
    classes = spot_layout(np.random.default_rng(1), 48, cancer=False)
    assert set(np.unique(classes)) == {0, 1, 2}
    assert CLASS_HEIGHTS.shape[0] == 3


def test_same_seed_same_spot_different_seed_different_spot():
    a = make_spot(np.random.default_rng(7), 24, AXIS, cancer=True)
    b = make_spot(np.random.default_rng(7), 24, AXIS, cancer=True)
    c = make_spot(np.random.default_rng(8), 24, AXIS, cancer=True)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_make_tma_is_deterministic(tmp_path):
    calls = []
    a = make_tma(tmp_path / "a", n_train=2, n_val=0, n_test=0, size=16, seed=5,
                 progress=lambda done, total: calls.append((done, total)))
    b = make_tma(tmp_path / "b", n_train=2, n_val=0, n_test=0, size=16, seed=5)
    assert calls == [(1, 2), (2, 2)]
    assert a["train"].read_text() == b["train"].read_text()
    for name in ("spot_000.img", "spot_001.img", "spot_000_mask.png"):
        assert (a["train"].parent / name).read_bytes() == (b["train"].parent / name).read_bytes()


def test_write_sample(tmp_path):
    manifest = write_sample(tmp_path)
    header, rows = _rows(manifest)
    assert header == ["image", "label", "mask"]
    assert sorted(r["label"] for r in rows) == ["0", "1"]
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total < 2.5e6
    cube = envi.open(str(tmp_path / rows[0]["image"])).load()
    assert cube.shape == (24, 24, 450)


def test_small_size_rejected(rng):
    with pytest.raises(ValueError, match="size"):
        make_spot(rng, 4, AXIS, cancer=False)


def test_repo_sample_is_readable():
    from pathlib import Path

    from irpath.io.manifest import read_manifest

    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    manifest = read_manifest(sample / "manifest.csv", require_masks=True)
    assert sorted(manifest.labels) == [0, 1]
    for row in manifest:
        img = envi.open(str(row.image))
        assert img.shape == (24, 24, 450)
        with Image.open(row.mask) as im:
            assert np.asarray(im).any() == bool(row.label)
