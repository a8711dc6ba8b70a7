import numpy as np
import pytest

from irpath.data.spot_reader import ALIGN, SpotReader
from irpath.errors import DataFileError


def test_a_batch_equals_the_padded_spots(spots):
    index, arrays = spots
    reader = SpotReader(index, 16, 16, with_mask=True)
    ids = np.array([1, 5, 2, 2])
    cube, tissue, mask = reader.read(ids)
    assert cube.shape == (4, 16, 16, 20) and cube.dtype == np.float32
    assert cube.ctypes.data % ALIGN == 0
    for slot, i in enumerate(ids):
        src = arrays[i]
        h, w = src["tissue"].shape
        want = np.zeros((16, 16, 20), np.float32)
        want[:h, :w] = src["cube"]
        np.testing.assert_array_equal(cube[slot], want)
        np.testing.assert_array_equal(tissue[slot, :h, :w, 0], src["tissue"])
        assert tissue[slot].sum() == src["tissue"].sum()
        expect = src["mask"] if src["mask"] is not None else np.zeros((h, w), bool)
        assert mask[slot].sum() == expect.sum()


def test_buffers_are_reused_only_once_released(spots):
    index, arrays = spots
    reader = SpotReader(index, 16, 16)
    first = reader.read([0, 1])[0]
    held = first.copy()
    second = reader.read([2, 3])[0]                 # `first` is alive: a new buffer
    assert second.ctypes.data != first.ctypes.data
    np.testing.assert_array_equal(first, held)
    address = first.ctypes.data
    del first
    third = reader.read([4, 5])[0]                  # reuses the released one, padding zeroed
    assert third.ctypes.data == address
    h, w = arrays[5]["tissue"].shape
    assert not third[1, h:].any() and not third[1, :, w:].any()
    np.testing.assert_array_equal(third[1, :h, :w], arrays[5]["cube"])


def test_a_truncated_cube_file_is_named(spots):
    index, _ = spots
    path = index.cache_dir / index.entries[3].cube_file
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataFileError, match=r"00003\.cube\.f32.*index says"):
        SpotReader(index, 16, 16).read([3])
