import csv

import numpy as np

from irpath.demo.textures import make_texture_set, make_texture_tile, write_texture_set
from irpath.io.colour_labels import read_colour_labels
from irpath.io.rgb import read_rgb


def test_deterministic_and_seed_dependent():
    a = make_texture_set(2, 32, seed=4)
    b = make_texture_set(2, 32, seed=4)
    c = make_texture_set(2, 32, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_classes_have_the_described_colours():
    images, labels = make_texture_set(6, 64, seed=0)
    assert images.dtype == np.uint8 and images.shape == (6, 64, 64, 3)
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 1, 2}
    mean = {k: images[labels == k].astype(float).mean(0) for k in range(3)}
    brightness = {k: m.mean() for k, m in mean.items()}
    assert brightness[2] > 215  # background near-white
    assert brightness[0] < brightness[1] < brightness[2]  # cancer darkest (nuclei)
    assert mean[1][0] > mean[1][1] + 40  # stroma pink: red well above green
    # cancer is texture-rich: dark nuclei pixels are far more common than in stroma
    dark = images.astype(float).mean(-1) < 120
    assert dark[labels == 0].mean() > 3 * dark[labels == 1].mean()
    # ...but single colours overlap: some stroma pixels are as dark as cancer nuclei
    assert dark[labels == 1].mean() > 0.005


def test_write_texture_set_round_trips(tmp_path):
    pairs = write_texture_set(tmp_path, 2, (24, 40), seed=1, prefix="t")
    images, labels = make_texture_set(2, (24, 40), seed=1)
    assert [p.name for p, _ in pairs] == ["t_000.png", "t_001.png"]
    for (image_path, label_path), image, label in zip(pairs, images, labels):
        np.testing.assert_array_equal(read_rgb(image_path).data, image)
        np.testing.assert_array_equal(read_colour_labels(label_path), label)
    with open(tmp_path / "manifest.csv") as f:
        rows = list(csv.reader(f))
    assert rows == [["image", "label"], ["images/t_000.png", "labels/t_000.png"],
                    ["images/t_001.png", "labels/t_001.png"]]


def test_non_square_tile():
    image, label = make_texture_tile(np.random.default_rng(0), (20, 30))
    assert image.shape == (20, 30, 3) and label.shape == (20, 30)
