"""Spots that need no padding (decoded a batch at a time) give the same batches as the
padded path, cropped: same order, same augmentation, same masks."""

import numpy as np
import pytest

from irpath.data import build_cache
from irpath.methods.compsegnet.data import make_dataset
from irpath.io import read_manifest

from tests.data.conftest import AXIS, write_spots


@pytest.mark.parametrize("hw", [(8, 8), (8, 16)])
@pytest.mark.parametrize("kw", [dict(augment=True, with_mask=True, comparative=True, repeat=True),
                                dict(augment=True, shuffle=True),
                                dict(augment=False, shuffle=False, drop_remainder=True)])
def test_unpadded_batches_equal_padded_batches_cropped(tmp_path, rng, hw, kw):
    path, _ = write_spots(tmp_path / "src", [hw] * 7, [1, 0, 1, 0, 1, 1, 0], rng=rng)
    index = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)
    h, w = hw
    exact = make_dataset(index, batch_size=3, seed=5, pad_multiple=8, **kw)
    # pad_multiple 32 pads every spot to 32 x 32: the per-spot path; square, so its
    # augmentation may draw all 8 transforms, unlike (8, 16): compare only square spots then.
    padded = make_dataset(index, batch_size=3, seed=5, pad_multiple=32, **kw)
    assert exact.element_spec["cube"].shape[1:] == (h, w, AXIS.size)
    n = 0
    for a, b in zip(exact.take(5), padded.take(5)):
        assert a.keys() == b.keys()
        for k in a:
            x, y = a[k].numpy(), b[k].numpy()
            if k == "label":
                np.testing.assert_array_equal(x, y)
            elif h == w or not kw.get("augment"):
                np.testing.assert_array_equal(x, y[:, :h, :w], err_msg=k)
                assert not y[:, h:].any() and not y[:, :, w:].any()  # padding is zero
        n += 1
    assert n >= 2
