"""Label image readers: values kept exactly, errors naming the file."""

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from irpath.errors import (DataFileError, DatasetNotFoundError, InvalidValuesError,
                           MissingFileError, ShapeError, UnsupportedFormatError)
from irpath.io.labels import check_label_map, read_instance_type, read_label_image, write_label_image


@pytest.fixture
def labels(rng):
    return rng.integers(0, 6, (9, 13)).astype(np.int32)


def test_png_8_bit(tmp_path, labels):
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "y.png")
    out = read_label_image(tmp_path / "y.png", shape=(9, 13, 3))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, labels)


def test_png_16_bit_and_tiff_32_bit(tmp_path, labels):
    big = labels * 5000 + 7  # up to 25007: needs 16 bits
    Image.fromarray(big.astype(np.uint16)).save(tmp_path / "y16.png")
    np.testing.assert_array_equal(read_label_image(tmp_path / "y16.png"), big)
    huge = labels * 100_000
    Image.fromarray(huge.astype(np.int32)).save(tmp_path / "y32.tif")
    np.testing.assert_array_equal(read_label_image(tmp_path / "y32.tif"), huge)
    Image.fromarray(labels.astype(np.float32)).save(tmp_path / "yf.tiff")  # mode F
    np.testing.assert_array_equal(read_label_image(tmp_path / "yf.tiff"), labels)


def test_palette_png_keeps_the_index_not_the_colour(tmp_path, labels):
    im = Image.frombytes("P", (13, 9), labels.astype(np.uint8).tobytes())
    palette = [0, 0, 0, 10, 200, 30, 250, 0, 0, 1, 2, 3, 90, 90, 90, 0, 0, 255]
    im.putpalette(palette + [0] * (768 - len(palette)))
    im.save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as check:
        assert check.mode == "P"
    np.testing.assert_array_equal(read_label_image(tmp_path / "p.png"), labels)


def test_grey_saved_as_rgb_is_accepted_colour_is_refused(tmp_path, labels):
    grey = np.repeat(labels.astype(np.uint8)[..., None], 3, axis=-1)
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_label_image(tmp_path / "g.png"), labels)
    colour = grey.copy()
    colour[0, 0] = (255, 0, 0)
    Image.fromarray(colour).save(tmp_path / "c.bmp")
    with pytest.raises(DataFileError, match=r"c\.bmp.*colour.*decoder"):
        read_label_image(tmp_path / "c.bmp")


def test_npy_integer_and_integral_float(tmp_path, labels):
    np.save(tmp_path / "i.npy", labels.astype(np.uint16))
    np.save(tmp_path / "f.npy", labels.astype(np.float64)[..., None])
    for name in ("i.npy", "f.npy"):
        out = read_label_image(tmp_path / name)
        assert out.dtype == np.int32 and out.shape == (9, 13)
        np.testing.assert_array_equal(out, labels)


@pytest.mark.parametrize("value, error, words", [
    (0.5, InvalidValuesError, "non-integral"),
    (np.nan, InvalidValuesError, "NaN"),
    (-2.0, InvalidValuesError, "negative"),
])
def test_npy_bad_values(tmp_path, labels, value, error, words):
    arr = labels.astype(np.float32)
    arr[3, 4] = value
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(error, match=rf"bad\.npy.*{words}"):
        read_label_image(tmp_path / "bad.npy")


def test_npy_refuses_pickles_and_other_dtypes(tmp_path, labels):
    np.save(tmp_path / "d.npy", np.array({"inst_map": labels}, dtype=object), allow_pickle=True)
    with pytest.raises(DataFileError, match=r"d\.npy.*npz"):
        read_label_image(tmp_path / "d.npy")
    with pytest.raises(DataFileError, match=r"d\.npy"):
        read_instance_type(tmp_path / "d.npy")
    np.save(tmp_path / "c.npy", labels.astype(np.complex64))
    with pytest.raises(DataFileError, match="dtype"):
        read_label_image(tmp_path / "c.npy")


def test_npz_and_mat(tmp_path, labels):
    types = (labels % 3).astype(np.uint8)
    np.savez(tmp_path / "y.npz", inst_map=labels, type_map=types)
    scipy.io.savemat(tmp_path / "y.mat", {"inst_map": labels.astype(np.float64),
                                          "type_map": types, "inst_type": np.ones((5, 1))})
    for name in ("y.npz", "y.mat"):
        inst, typ = read_instance_type(tmp_path / name, shape=(9, 13))
        assert inst.dtype == np.int32 and typ.dtype == np.int32
        np.testing.assert_array_equal(inst, labels)
        np.testing.assert_array_equal(typ, types)
        np.testing.assert_array_equal(read_label_image(tmp_path / name), labels)  # inst_map
        np.testing.assert_array_equal(read_label_image(tmp_path / name, key="type_map"), types)
        with pytest.raises(DatasetNotFoundError, match="nuclei"):
            read_label_image(tmp_path / name, key="nuclei")
        with pytest.raises(DatasetNotFoundError, match=r"no instance map named x"):
            read_instance_type(tmp_path / name, inst_key="x")
    np.savez(tmp_path / "only.npz", inst_map=labels)
    assert read_instance_type(tmp_path / "only.npz")[1] is None


def test_mat_v73(tmp_path, labels):
    path = tmp_path / "v73.mat"
    types = labels % 2
    with h5py.File(path, "w", userblock_size=512) as f:  # MATLAB -v7.3: column-major
        f["inst_map"] = labels.astype(np.float64).T
        f["type_map"] = types.astype(np.uint8).T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as f:
        f.write(header)
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(path)
    inst, typ = read_instance_type(path)
    np.testing.assert_array_equal(inst, labels)
    np.testing.assert_array_equal(typ, types)


def test_npy_instance_type_stack(tmp_path, labels):
    np.save(tmp_path / "s.npy", np.stack([labels, labels % 2], axis=-1))
    inst, typ = read_instance_type(tmp_path / "s.npy")
    np.testing.assert_array_equal(inst, labels)
    np.testing.assert_array_equal(typ, labels % 2)
    np.save(tmp_path / "i.npy", labels)
    inst, typ = read_instance_type(tmp_path / "i.npy")
    assert typ is None
    np.testing.assert_array_equal(inst, labels)
    np.save(tmp_path / "three.npy", np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ShapeError, match=r"three\.npy"):
        read_instance_type(tmp_path / "three.npy")


def test_shape_missing_and_suffix_errors(tmp_path, labels):
    np.save(tmp_path / "y.npy", labels)
    with pytest.raises(ShapeError, match=r"y\.npy.*9x13.*10x13"):
        read_label_image(tmp_path / "y.npy", shape=(10, 13))
    with pytest.raises(MissingFileError, match="nope.png"):
        read_label_image(tmp_path / "nope.png")
    (tmp_path / "y.jpg").write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match=r"y\.jpg"):
        read_label_image(tmp_path / "y.jpg")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match=r"junk\.png"):
        read_label_image(tmp_path / "junk.png")
    np.savez(tmp_path / "t.npz", inst_map=labels, type_map=labels[:5])
    with pytest.raises(ShapeError, match=r"t\.npz.*type map"):
        read_instance_type(tmp_path / "t.npz")


def test_npy_hovernet_patch_and_single_maps_in_every_format(tmp_path, labels):
    """read_instance_type reads what read_label_image reads (types None) and the stacks."""
    rgb = np.zeros(labels.shape + (3,), np.int32) + 200
    np.save(tmp_path / "h.npy", np.concatenate([rgb, labels[..., None], (labels % 2)[..., None]], -1))
    inst, typ = read_instance_type(tmp_path / "h.npy")
    np.testing.assert_array_equal(inst, labels)
    np.testing.assert_array_equal(typ, labels % 2)
    Image.fromarray(labels.astype(np.uint16)).save(tmp_path / "l.png")
    np.savez(tmp_path / "l.npz", label=labels)
    for name in ("l.png", "l.npz"):
        inst, typ = read_instance_type(tmp_path / name, shape=(9, 13))
        assert typ is None
        np.testing.assert_array_equal(inst, labels)
    np.savez(tmp_path / "only.npz", inst_map=labels)
    with pytest.raises(DatasetNotFoundError, match=r"only\.npz: no type map named type_map"):
        read_instance_type(tmp_path / "only.npz", need_types=True)
    np.savez(tmp_path / "t.npz", type_map=labels)
    with pytest.raises(DatasetNotFoundError, match=r"t\.npz: no instance map named inst_map"):
        read_instance_type(tmp_path / "t.npz")


def test_check_label_map_in_memory():
    out = check_label_map(np.array([[0.0, 2.0], [3.0, 1.0]])[..., None])
    assert out.dtype == np.int32 and out.tolist() == [[0, 2], [3, 1]]
    with pytest.raises(InvalidValuesError, match=r"^a\.png: nuclei label image has negative"):
        check_label_map(np.array([[0, -1]]), "a.png", "nuclei label image")
    with pytest.raises(ShapeError, match=r"^a map must be 2-D"):
        check_label_map(np.zeros((2, 2, 2)), what="map")
    with pytest.raises(InvalidValuesError, match="non-integral"):
        check_label_map(np.array([[0.5]]))


def test_write_label_image_16_bit_png_or_npy(tmp_path):
    label = np.zeros((5, 5), np.int32)
    label[1:3, 1:3] = 300  # > 255: needs 16 bits
    label[3:5, 3:5] = 4
    path = write_label_image(tmp_path / "l.png", label)
    assert path.suffix == ".png"
    np.testing.assert_array_equal(read_label_image(path), label)
    label[0, 0] = 70001
    path = write_label_image(tmp_path / "m.png", label)
    assert path.suffix == ".npy" and not (tmp_path / "m.png").exists()
    np.testing.assert_array_equal(read_label_image(path), label)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.png", "m.npy"]  # no temporaries left
