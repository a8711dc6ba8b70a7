import io

import numpy as np
import pytest
from PIL import Image

from irpath.errors import InvalidValuesError, MissingFileError, ShapeError
from irpath.io.colour_labels import (BACKGROUND, CANCER, FCN_PALETTE, STROMA, decode_colour_labels,
                                     encode_colour_labels, read_colour_labels, write_colour_labels)


def _blobs(rng, shape=(48, 64)):
    """Label map with several regions of each class (like the paper's labels)."""
    from scipy import ndimage

    a = ndimage.gaussian_filter(rng.standard_normal(shape), 5)
    b = ndimage.gaussian_filter(rng.standard_normal(shape), 5)
    classes = np.where(a > 0, CANCER, STROMA)
    classes[b > 0.05] = BACKGROUND
    return classes.astype(np.int32)


def test_class_order_and_palette():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(decode_colour_labels(rgb), [[CANCER, STROMA, BACKGROUND]])
    assert (CANCER, STROMA, BACKGROUND) == (0, 1, 2)
    assert FCN_PALETTE.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 0]]


def test_encode_decode_round_trip(rng):
    classes = _blobs(rng)
    rgb = encode_colour_labels(classes)
    assert rgb.dtype == np.uint8 and rgb.shape == classes.shape + (3,)
    np.testing.assert_array_equal(decode_colour_labels(rgb), classes)


def test_nearest_colour_wins():
    rgb = np.array([[[200, 40, 30], [60, 190, 70], [50, 40, 60], [100, 0, 0]]], np.float32)
    np.testing.assert_array_equal(decode_colour_labels(rgb), [[0, 1, 2, 2]])


def test_jpeg_labels_still_decode(rng, tmp_path):
    classes = _blobs(rng)
    assert len(np.unique(classes)) == 3
    path = tmp_path / "label.jpg"
    write_colour_labels(path, classes, quality=75)  # Pillow default: 4:2:0 chroma subsampling
    raw = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(raw.astype(int) - encode_colour_labels(classes)).max() > 20  # really lossy
    decoded = read_colour_labels(path)
    assert decoded.dtype == np.int32
    agree = np.mean(decoded == classes)
    assert agree > 0.97, agree
    # any disagreement sits on a region boundary
    from scipy import ndimage
    edge = ndimage.grey_dilation(classes, 3) != ndimage.grey_erosion(classes, 3)
    assert np.all(edge[decoded != classes])


def test_bad_colour_names_file_and_count(tmp_path):
    classes = np.full((10, 12), STROMA)
    rgb = encode_colour_labels(classes)
    rgb[2:4, 5:8] = (0, 0, 255)  # 6 blue pixels
    path = tmp_path / "bad.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(InvalidValuesError, match=r"bad\.png: 6 pixel\(s\).*\(0, 0, 255\) at row 2, column 5"):
        read_colour_labels(path)
    # relaxing the threshold accepts it (blue is nearest to black)
    assert read_colour_labels(path, max_distance=None)[2, 5] == BACKGROUND


@pytest.mark.parametrize("colour", [(255, 255, 255), (128, 128, 128), (255, 255, 0)])
def test_white_grey_yellow_rejected(colour):
    rgb = np.array([[colour]], np.uint8)
    with pytest.raises(InvalidValuesError, match="1 pixel"):
        decode_colour_labels(rgb, path="x.png")


def test_errors(tmp_path):
    with pytest.raises(ShapeError, match="lab.png"):
        decode_colour_labels(np.zeros((4, 4)), path="lab.png")
    with pytest.raises(InvalidValuesError, match=r"\[0, 3\)"):
        encode_colour_labels(np.array([[0, 3]]))
    with pytest.raises(MissingFileError, match="nope.png"):
        read_colour_labels(tmp_path / "nope.png")


def test_custom_palette():
    palette = [[0, 0, 0], [255, 255, 255]]
    rgb = np.array([[[10, 10, 10], [240, 250, 245]]], np.uint8)
    np.testing.assert_array_equal(decode_colour_labels(rgb, palette), [[0, 1]])
    np.testing.assert_array_equal(encode_colour_labels(np.array([[1, 0]]), palette),
                                  [[[255, 255, 255], [0, 0, 0]]])
