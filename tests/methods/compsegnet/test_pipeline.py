import numpy as np
import pytest
import tensorflow as tf

from irpath.data import build_cache
from irpath.methods.compsegnet.data import make_dataset, padded_size
from irpath.errors import ConfigError
from irpath.io import read_manifest

from tests.data.conftest import AXIS, write_spots


def batches(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def signature(ds):
    """Per element (label, cube sum): identifies spots and their order."""
    return [(float(l), round(float(c.sum()), 3)) for b in batches(ds)
            for l, c in zip(b["label"], b["cube"])]


def test_shapes_dtypes_and_zero_padding(spots):
    index, arrays = spots
    ds = make_dataset(index, batch_size=4, shuffle=False, with_mask=True)
    got = batches(ds)
    assert [b["cube"].shape for b in got] == [(4, 16, 16, 20), (2, 16, 16, 20)]
    spec = ds.element_spec
    assert spec["cube"].shape.as_list() == [None, 16, 16, 20]
    for key in ("cube", "tissue", "label", "mask"):
        assert spec[key].dtype == tf.float32
    assert got[0]["tissue"].shape == (4, 16, 16, 1) and got[0]["mask"].shape == (4, 16, 16, 1)
    flat = {k: np.concatenate([b[k] for b in got]) for k in got[0]}
    for i, src in enumerate(arrays):
        h, w = src["tissue"].shape
        cube = flat["cube"][i]
        np.testing.assert_array_equal(cube[:h, :w], src["cube"])
        assert not cube[h:].any() and not cube[:, w:].any()
        np.testing.assert_array_equal(flat["tissue"][i, :h, :w, 0], src["tissue"])
        assert flat["tissue"][i].sum() == src["tissue"].sum()
        expect = src["mask"] if src["mask"] is not None else np.zeros((h, w), bool)
        np.testing.assert_array_equal(flat["mask"][i, :h, :w, 0], expect)
        assert flat["mask"][i].sum() == expect.sum()
        assert flat["label"][i] == src["label"]


@pytest.mark.parametrize("multiple, expect", [(16, (16, 16)), (5, (15, 15)), (1, (12, 13))])
def test_padding_to_a_multiple(spots, multiple, expect):
    index, _ = spots
    assert padded_size(index, multiple) == expect
    b = next(iter(make_dataset(index, batch_size=2, pad_multiple=multiple, augment=True)))
    assert b["cube"].shape[1:3] == expect


def test_order_is_a_function_of_seed_and_epoch(spots):
    index, _ = spots

    def epochs(seed):
        return [signature(make_dataset(index, batch_size=4, seed=seed, epoch=e)) for e in range(3)]

    a, b, c = epochs(3), epochs(3), epochs(4)
    assert a == b
    assert epochs(0) == epochs(0)  # the default seed is a real seed too
    assert a != c
    assert a[0] != a[1] or a[1] != a[2]
    assert sorted(a[0]) == sorted(a[1])  # every spot once per epoch
    ds = make_dataset(index, batch_size=4, seed=3)
    assert signature(ds) == signature(ds) == a[0]  # iterating again gives the same epoch
    # an endless stream is the epochs one after another, and may start at any epoch
    per_epoch = len(batches(make_dataset(index, batch_size=4, seed=3)))
    stream = make_dataset(index, batch_size=4, seed=3, repeat=True, drop_remainder=False)
    assert signature(stream.take(3 * per_epoch)) == sum(a, [])
    resumed = make_dataset(index, batch_size=4, seed=3, repeat=True, epoch=1)
    assert signature(resumed.take(2 * per_epoch)) == a[1] + a[2]


def test_augmentation_keeps_cube_and_masks_aligned(spots):
    index, _ = spots
    plain = batches(make_dataset(index, batch_size=3, shuffle=False, with_mask=True))

    def epochs(seed):
        return [batches(make_dataset(index, batch_size=3, shuffle=False, augment=True,
                                     with_mask=True, seed=seed, epoch=e)) for e in range(2)]

    a = epochs(1)
    for epoch in a:
        for b, ref in zip(epoch, plain):
            for cube, tissue, mask, label in zip(b["cube"], b["tissue"], b["mask"], b["label"]):
                # the test spots' GT is channel 0 > 0.8 on cancer spots, tissue is cube != 0
                expect = (cube[..., 0] > 0.8) if label == 1 else np.zeros(cube.shape[:2])
                np.testing.assert_array_equal(mask[..., 0], expect)
                np.testing.assert_array_equal(tissue[..., 0], cube.any(axis=-1))
            np.testing.assert_array_equal(b["label"], ref["label"])
            np.testing.assert_allclose(b["cube"].sum(axis=(1, 2, 3)),
                                       ref["cube"].sum(axis=(1, 2, 3)), rtol=1e-5)
    moved = [not np.array_equal(b["cube"], ref["cube"]) for epoch in a
             for b, ref in zip(epoch, plain)]
    assert any(moved)  # not all identities
    assert not all(np.array_equal(x["cube"], y["cube"]) for x, y in zip(a[0], a[1]))
    b = epochs(1)  # reproducible epoch by epoch
    for x, y in zip(sum(a, []), sum(b, [])):
        np.testing.assert_array_equal(x["cube"], y["cube"])
        np.testing.assert_array_equal(x["mask"], y["mask"])


def test_comparative_batches_alternate_4_3(tmp_path, rng):
    path, _ = write_spots(tmp_path / "src", [(8, 8)] * 10, [1] * 7 + [0] * 3, rng=rng)
    index = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)
    ds = make_dataset(index, batch_size=7, comparative=True, seed=2)
    counts = [int(b["label"].sum()) for b in batches(ds)]
    assert counts == [4, 3]  # ceil(10 / 7) = 2 full batches, cancer gets the extra first
    long = make_dataset(index, batch_size=7, comparative=True, repeat=True, seed=2).take(6)
    got = batches(long)
    assert [b["label"].shape[0] for b in got] == [7] * 6
    assert [int(b["label"].sum()) for b in got] == [4, 3, 4, 3, 4, 3]
    # the 3 cancer-free spots repeat within an epoch (7 slots of 14): each once per 3 draws
    neg = [round(float(c.sum()), 3) for b in got for l, c in zip(b["label"], b["cube"]) if l == 0]
    assert len(neg) == 21 and len(set(neg)) == 3
    for start in (0, 7, 14):
        assert all(len(set(neg[start + i:start + i + 3])) == 3 for i in (0, 3))
    assert signature_of(got[2:4]) == signature_of(
        batches(make_dataset(index, batch_size=7, comparative=True, seed=2, epoch=1)))


def signature_of(bs):
    return [round(float(c.sum()), 3) for b in bs for c in b["cube"]]


def test_comparative_needs_both_classes(tmp_path, rng):
    path, _ = write_spots(tmp_path / "src", [(8, 8)] * 3, [1, 1, 1], rng=rng)
    index = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)
    with pytest.raises(ConfigError, match="both cancer.*cancer-free"):
        make_dataset(index, batch_size=2, comparative=True)


def test_with_mask_needs_masks_on_cancer_spots(tmp_path, rng):
    path, _ = write_spots(tmp_path / "src", [(8, 8)] * 2, [1, 0], rng=rng, with_masks=False)
    index = build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False)
    make_dataset(index, batch_size=2)  # fine without masks
    with pytest.raises(ConfigError, match="with_mask needs a ground-truth mask"):
        make_dataset(index, batch_size=2, with_mask=True)


def test_drop_remainder_and_repeat(spots):
    index, _ = spots
    assert len(batches(make_dataset(index, batch_size=4, drop_remainder=True))) == 1
    ds = make_dataset(index, batch_size=4, repeat=True, drop_remainder=True)
    assert ds.element_spec["cube"].shape[0] == 4
    assert len(batches(ds.take(5))) == 5


def test_two_replica_mirrored_strategy(spots):
    index, _ = spots
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    dist = strategy.experimental_distribute_dataset(
        make_dataset(index, batch_size=4, augment=True, with_mask=True))
    sizes, labels = [], []
    for batch in dist:
        parts = strategy.experimental_local_results(batch["cube"])
        sizes.append([int(p.shape[0]) for p in parts])
        labels += [float(x) for p in strategy.experimental_local_results(batch["label"])
                   for x in p.numpy()]
        assert parts[0].shape[1:] == (16, 16, 20)
    assert sizes == [[2, 2], [1, 1]]
    assert sorted(labels) == sorted(float(x) for x in index.labels)
