"""The second IR spot bed: a manifest the CompSegNet loader reads, labels that agree with the
masks, sizes and tumour fractions within the stated ranges, and independence from bed 1."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from irpath.demo.bed2 import spots


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    out = tmp_path_factory.mktemp("bed2")
    return out, spots.make_bed(out, n_train=4, n_val=2, n_test=2, seed=3, size_range=(32, 40))


def test_manifest_read_by_the_loader_and_labels_agree_with_masks(bed):
    from irpath.data.cache import prepare_spot
    from irpath.io import read_cube, read_manifest
    from irpath.io.masks import read_mask

    _, manifests = bed
    m = read_manifest(manifests["train"], check_files=True, require_masks=True)
    assert [r.label for r in m.rows].count(1) == 2 and len(m.rows) == 4
    for row in m.rows:
        cube = read_cube(row.image)
        assert cube.data.shape[-1] == 450 and 32 <= cube.data.shape[0] <= 40
        np.testing.assert_allclose(cube.wavenumbers[[0, -1]], [1800, 948])
        mask = read_mask(row.mask, cube.data.shape[:2]) if row.mask else None
        tissue = np.any(cube.data != 0, axis=-1)
        assert bool(mask.any()) == (row.label == 1)
        assert not (mask & ~tissue).any()  # the tumour lies in the tissue
        assert np.isfinite(cube.data).all()
        _, valid, loader_tissue = prepare_spot(row.image, np.linspace(1800, 948, 450))
        assert valid.all() and (loader_tissue == tissue).mean() > 0.98  # the loader finds the core


def test_sizes_fractions_and_scales_in_range():
    rng = np.random.default_rng(0)
    infos = [spots.spot_classes(rng, int(rng.integers(32, 49)), True)[1] for _ in range(100)]
    fractions = np.array([i["fraction"] for i in infos])
    assert fractions.min() >= 0.025 and fractions.max() <= 0.62
    assert fractions.min() < 0.08 and fractions.max() > 0.5  # the whole range is drawn
    scales = np.array([i["scale"] for i in infos])
    assert scales.min() >= 0.25 and scales.max() <= 4.0 and scales.min() < 0.4 and scales.max() > 3
    assert {i["layout"] for i in infos} == set(spots.LAYOUTS)
    classes, info = spots.spot_classes(rng, 40, False)
    assert info["fraction"] == 0 and not (classes == 3).any() and (classes == 2).any()


def test_spots_json_matches_masks(bed):
    from PIL import Image

    out, _ = bed
    for info in json.loads((out / "train" / "spots.json").read_text()):
        mask = np.asarray(Image.open(out / "train" / info["image"].replace(".hdr", "_mask.png"))) > 0
        assert mask.shape == (info["size"], info["size"])
        assert (info["fraction"] > 0) == (info["label"] == 1) == mask.any()


def test_tumour_spectra_carry_the_signal():
    rng = np.random.default_rng(1)
    classes, _ = spots.spot_classes(rng, 48, True, fraction=0.4, layout="blobs", scale=2.0)
    cube = spots.render(rng, classes, noise=0.0)
    i1088 = int(np.argmin(np.abs(spots.AXIS - 1088)))
    i1024 = int(np.argmin(np.abs(spots.AXIS - 1024)))
    tum, ben = classes == 3, classes == 2
    ratio = lambda m: np.median(cube[m][:, i1088] / cube[m][:, i1024])  # noqa: E731
    assert ratio(tum) > 1.1 * ratio(ben)
    assert (cube[classes == 0] == 0).all()


def test_seed_changes_the_spots_and_no_bed1_import(tmp_path):
    a = spots.make_bed(tmp_path / "a", n_train=2, n_val=0, n_test=0, seed=0, size_range=(32, 32))
    b = spots.make_bed(tmp_path / "b", n_train=2, n_val=0, n_test=0, seed=1, size_range=(32, 32))
    c = spots.make_bed(tmp_path / "c", n_train=2, n_val=0, n_test=0, seed=0, size_range=(32, 32))
    img = lambda m: (m.parent / "spot_000.img").read_bytes()  # noqa: E731
    assert img(a["train"]) != img(b["train"]) and img(a["train"]) == img(c["train"])
    tree = ast.parse(Path(spots.__file__).read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(n and "synthetic" in n for n in names)
    assert not any(getattr(v, "__name__", "").endswith("synthetic") for v in vars(spots).values())
