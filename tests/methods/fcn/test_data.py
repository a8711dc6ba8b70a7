"""fcn data: manifest / folder pairs, one-line errors, the mirrored (noisy) pipeline, paper-size images."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from irpath.errors import ConfigError, InvalidValuesError, ManifestError, MissingFileError, ShapeError
from irpath.io.colour_labels import write_colour_labels
from irpath.methods.fcn.config import FcnTrainConfig
from irpath.methods.fcn.data import (Pairs, add_noise, list_pairs, make_datasets,
                                     read_pairs, window_of)


@pytest.fixture
def texture_dir(tmp_path):
    from irpath.demo.textures import write_texture_set

    write_texture_set(tmp_path / "set", 3, (12, 16), seed=4)
    return tmp_path / "set"


def test_manifest_and_folder_give_the_same_pairs(texture_dir):
    from irpath.demo.textures import make_texture_set

    by_csv, by_dir = read_pairs(texture_dir / "manifest.csv"), read_pairs(texture_dir)
    assert [p[0].name for p in by_csv.paths] == [p[0].name for p in by_dir.paths]
    images, labels = make_texture_set(3, (12, 16), seed=4)
    for a, b, im, lab in zip(by_csv.images, by_dir.images, images, labels):
        np.testing.assert_array_equal(a, im)
        np.testing.assert_array_equal(b, im)
    for a, lab in zip(by_dir.labels, labels):
        np.testing.assert_array_equal(a, lab)


def test_jpeg_labels_pair_by_stem(texture_dir):
    lab = texture_dir / "labels" / "tile_000.png"
    Image.open(lab).save(texture_dir / "labels" / "tile_000.jpg", quality=90)
    lab.unlink()
    pairs = list_pairs(texture_dir)
    assert pairs[0][1].name == "tile_000.jpg"
    from irpath.demo.textures import make_texture_set

    truth = make_texture_set(3, (12, 16), seed=4)[1][0]
    assert np.mean(read_pairs(texture_dir).labels[0] == truth) > 0.9   # nearest colour decodes JPEG


def test_errors_name_the_file(texture_dir, tmp_path):
    with pytest.raises(MissingFileError, match="nowhere"):
        list_pairs(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    with pytest.raises(ConfigError, match="images/ and labels/"):
        list_pairs(tmp_path / "flat")
    (texture_dir / "labels" / "tile_001.png").unlink()
    with pytest.raises(MissingFileError, match=r"no label image for 1 image\(s\), e.g. tile_001.png"):
        list_pairs(texture_dir)
    with pytest.raises(ManifestError, match="label image labels/tile_001.png not found"):
        list_pairs(texture_dir / "manifest.csv")


def test_unknown_label_colour_and_wrong_shape(texture_dir):
    bad = np.zeros((12, 16, 3), np.uint8)
    bad[:2, :3] = (255, 255, 255)                                  # white: no class
    Image.fromarray(bad).save(texture_dir / "labels" / "tile_002.png")
    with pytest.raises(InvalidValuesError, match=r"tile_002.png: 6 pixel\(s\) have a colour"):
        read_pairs(texture_dir)
    write_colour_labels(texture_dir / "labels" / "tile_002.png", np.zeros((12, 15), np.int32))
    with pytest.raises(ShapeError, match=r"tile_002.png: label image is 15 x 12.*tile_002.png is 16 x 12"):
        read_pairs(texture_dir)


def _pairs(images, labels):
    return Pairs([np.asarray(i, np.float32) for i in images], list(labels), [], "mem")


def test_whole_images_need_one_size():
    p = _pairs([np.zeros((8, 8, 3)), np.zeros((8, 10, 3))], [np.zeros((8, 8), np.int32),
                                                             np.zeros((8, 10), np.int32)])
    with pytest.raises(ShapeError, match="2 sizes.*--crop"):
        window_of(p, None, "training")
    assert window_of(p, 16, "training") == 16


def _quadrant_label(h, w):
    lab = np.full((h, w), 1, np.int32)
    lab[: h // 3] = 0                     # cancer on top
    lab[:, : w // 4] = 2                  # background strip on the left
    return lab


def test_paper_size_whole_images_are_mirrored_about_both_axes():
    """1128 x 720 tiles go through whole; samples are the tile mirrored about x and/or y,
    with the image channel carrying the label so alignment is exact."""
    lab = _quadrant_label(720, 1128)
    image = np.repeat(lab[..., None] * 100.0, 3, axis=-1)
    cfg = dataclasses.replace(FcnTrainConfig(), batch_size=2, seed=3)
    ds, val, steps = make_datasets(_pairs([image], [lab]), _pairs([image], [lab]), cfg, global_batch=2)
    assert steps == 1
    seen = set()
    for x, y in ds.take(3):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == (2, 720, 1128, 3) and y.shape == (2, 720, 1128)
        np.testing.assert_array_equal(x[..., 0], y * 100.0)        # image and label move together
        for sample in y:
            errors = [np.mean(sample != f) for f in (lab, lab[:, ::-1], lab[::-1], lab[::-1, ::-1])]
            assert min(errors) < 0.005, errors                    # a mirror (up to a 1-pixel shift)
            seen.add(int(np.argmin(errors)))
    assert len(seen) >= 3, seen
    vx, vy = next(iter(val))
    np.testing.assert_array_equal(np.asarray(vy)[0], lab)       # validation: the tile itself


def test_no_mirror_no_noise_is_the_tile_itself():
    lab = _quadrant_label(20, 28)
    image = np.random.default_rng(0).uniform(0, 255, (20, 28, 3))
    cfg = dataclasses.replace(FcnTrainConfig(), mirror=False, batch_size=1)
    ds, _, _ = make_datasets(_pairs([image], [lab]), None, cfg, global_batch=1)
    x, y = next(iter(ds))
    np.testing.assert_array_equal(np.asarray(x)[0], image.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(y)[0], lab)


def test_noise_is_seeded_and_resumes_exactly():
    rng = np.random.default_rng(1)
    images = [rng.uniform(40, 200, (16, 16, 3)) for _ in range(4)]
    labels = [rng.integers(0, 3, (16, 16)).astype(np.int32) for _ in range(4)]
    cfg = dataclasses.replace(FcnTrainConfig(), crop=12, noise_std=10.0, batch_size=2, seed=5)
    pairs = _pairs(images, labels)
    full, _, steps = make_datasets(pairs, None, cfg, global_batch=2)
    resumed, _, _ = make_datasets(pairs, None, cfg, global_batch=2, start_epoch=1)
    a = [np.asarray(x) for x, _ in full.take(2 * steps)]
    b = [np.asarray(x) for x, _ in resumed.take(steps)]
    for u, v in zip(a[steps:], b):                               # epoch 1 == epoch 1 after a resume
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], a[steps])


def test_noise_statistics_and_range():
    import tensorflow as tf

    clean = np.full((4, 32, 32, 3), 128.0, np.float32)
    clean[0] = 250.0
    ds = tf.data.Dataset.from_tensors((clean, np.zeros((4, 32, 32), np.int32))).repeat(2)
    a, b = [np.asarray(x) for x, _ in add_noise(ds, 10.0, seed=1)]
    d = a[1:] - clean[1:]
    assert 9.5 < d.std() < 10.5 and abs(d.mean()) < 0.3            # N(0, 10²)
    assert a.max() <= 255.0 and a[0].max() == 255.0                 # clipped to the pixel range
    assert not np.array_equal(a, b)                                 # a new draw per batch
    c, _ = [np.asarray(x) for x, _ in add_noise(ds, 10.0, seed=1)]
    np.testing.assert_array_equal(a, c)                             # ... from the seed alone


def test_add_noise_zero_is_identity():
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensors((tf.ones((1, 4, 4, 3)), tf.zeros((1, 4, 4), tf.int32)))
    assert add_noise(ds, 0.0, 0) is ds
