"""irpath.io.cube.release_pages: mapped pages dropped, data and private edits kept."""

import numpy as np

from irpath.io.cube import release_pages


def test_release_pages_keeps_data_and_ignores_writable_maps(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(4096, dtype=np.float32).reshape(64, 64, 1))
    ro = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert ro[5, 7, 0] == 5 * 64 + 7
    release_pages(ro)  # pages unmapped, re-read from the file on access
    assert ro[5, 7, 0] == 5 * 64 + 7
    rw = np.load(tmp_path / "a.npy", mmap_mode="c")  # private copy-on-write: must keep edits
    rw[0, 0, 0] = -1.0
    release_pages(rw)
    release_pages(np.zeros(3))
    assert rw[0, 0, 0] == -1.0
