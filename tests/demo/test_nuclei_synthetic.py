import numpy as np
from PIL import Image
from scipy import ndimage

from irpath.demo.nuclei import make_nuclei_dataset, make_nuclei_tile
from irpath.methods.nuclei.labels import read_nuclei_label


def test_tile_is_deterministic_and_encoded():
    rgb, label = make_nuclei_tile(96, seed=4)
    rgb2, label2 = make_nuclei_tile(96, seed=4)
    np.testing.assert_array_equal(rgb, rgb2)
    np.testing.assert_array_equal(label, label2)
    assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8
    assert label.shape == (96, 96) and label.dtype == np.int32
    ids = np.unique(label[label > 0])
    assert len(ids) > 20 and set(ids % 3) == {0, 1, 2}
    for i in ids:  # every nucleus is one connected piece
        assert ndimage.label(label == i)[1] == 1


def test_types_differ_in_size_shape_and_stain():
    areas, dark, elong = {0: [], 1: [], 2: []}, {0: [], 1: [], 2: []}, {0: [], 1: [], 2: []}
    for seed in range(3):
        rgb, label = make_nuclei_tile(128, seed=seed)
        for i in np.unique(label[label > 0]):
            m = label == i
            if m.sum() < 10:
                continue
            cls = int(i) % 3
            areas[cls].append(m.sum())
            dark[cls].append(rgb[m].mean())
            ev = np.linalg.eigvalsh(np.cov(np.argwhere(m).T))
            elong[cls].append(np.sqrt(ev[1] / max(ev[0], 1e-6)))
    med = {k: {n: np.median(v[k]) for n, v in (("area", areas), ("dark", dark), ("elong", elong))}
           for k in range(3)}
    assert med[1]["area"] < med[2]["area"] < med[0]["area"]  # lymphocytes smallest, tumour largest
    assert med[1]["dark"] < med[2]["dark"] < med[0]["dark"]  # lymphocytes darkest
    assert med[2]["elong"] > 2 * med[1]["elong"]  # stroma spindles


def test_touching_nuclei_present():
    _, label = make_nuclei_tile(128, seed=0)
    right = (label[:, :-1] > 0) & (label[:, 1:] > 0) & (label[:, :-1] != label[:, 1:])
    down = (label[:-1] > 0) & (label[1:] > 0) & (label[:-1] != label[1:])
    pairs = {tuple(sorted(p)) for p in zip(label[:, :-1][right], label[:, 1:][right])}
    pairs |= {tuple(sorted(p)) for p in zip(label[:-1][down], label[1:][down])}
    assert len(pairs) >= 5


def test_dataset_written_and_readable(tmp_path):
    pairs = make_nuclei_dataset(tmp_path, n=2, size=40, seed=7)
    assert [p[0].name for p in pairs] == ["nuclei_000.png", "nuclei_001.png"]
    for i, (image_path, label_path) in enumerate(pairs):
        rgb, label = make_nuclei_tile(40, None, np.random.default_rng([7, i]))
        np.testing.assert_array_equal(np.asarray(Image.open(image_path)), rgb)
        np.testing.assert_array_equal(read_nuclei_label(label_path), label)
        assert label_path.parent.name == "labels"
