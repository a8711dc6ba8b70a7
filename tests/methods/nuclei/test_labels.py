import h5py
import numpy as np
import pytest
import scipy.io

from irpath.errors import DatasetNotFoundError, InvalidValuesError, MissingFileError, ShapeError
from irpath.io.labels import write_label_image
from irpath.methods.nuclei.labels import (CLASSES, decode_label, encode_inst_type, encode_label,
                                          instance_types, read_nuclei_label)


def _inst_type():
    inst = np.zeros((6, 8), np.int32)
    inst[0:3, 0:3] = 7
    inst[3:6, 0:4] = 2
    inst[1:5, 5:8] = 9
    types = np.zeros_like(inst)
    types[inst == 7] = 4
    types[inst == 2] = 2
    types[inst == 9] = 5
    types[1, 5] = 2  # a stray pixel: the majority (5) must win
    return inst, types


def test_decode_uses_id_mod_3():
    label = np.array([[0, 3, 4], [5, 5, 0]])
    instances, classes = decode_label(label)
    assert instances.dtype == np.int32
    np.testing.assert_array_equal(instances, label)
    assert classes == {3: 0, 4: 1, 5: 2}
    assert [CLASSES[c] for c in (3 % 3, 4 % 3, 5 % 3)] == ["tumour", "lymphocyte", "stroma"]


def test_encode_round_trips_partition_and_classes():
    inst, _ = _inst_type()
    label = encode_label(inst, {7: "tumour", 2: 1, 9: "stroma"})
    _, classes = decode_label(label)
    assert sorted(classes.values()) == [0, 1, 2]
    for old, cls in ((7, 0), (2, 1), (9, 2)):
        ids = np.unique(label[inst == old])
        assert ids.size == 1 and ids[0] % 3 == cls and ids[0] > 0
    assert np.array_equal(label == 0, inst == 0)
    assert len(np.unique(label)) == 4  # ids stay distinct


def test_encode_drops_none_and_requires_every_class():
    inst, _ = _inst_type()
    label = encode_label(inst, {7: None, 2: 1, 9: 2})
    assert not label[inst == 7].any()
    with pytest.raises(InvalidValuesError, match="9"):
        encode_label(inst, {7: 0, 2: 1})
    with pytest.raises(InvalidValuesError):
        encode_label(inst, {7: "mitosis", 2: 1, 9: 2})


def test_inst_type_majority_and_mapping():
    inst, types = _inst_type()
    assert instance_types(inst, types) == {2: 2, 7: 4, 9: 5}
    label = encode_inst_type(inst, types, {2: "lymphocyte", 4: "tumour", 5: "stroma"})
    assert np.all(label[inst == 7] % 3 == 0) and np.all(label[inst == 2] % 3 == 1)
    assert np.all(label[inst == 9] % 3 == 2)
    with pytest.raises(InvalidValuesError, match="x.mat.*5"):
        encode_inst_type(inst, types, {2: 1, 4: 0}, source="x.mat")


def test_read_both_formats(tmp_path):
    inst, types = _inst_type()
    cmap = {2: "lymphocyte", 4: "tumour", 5: "stroma"}
    expected = encode_inst_type(inst, types, cmap)
    scipy.io.savemat(tmp_path / "a.mat", {"inst_map": inst, "type_map": types, "inst_type": [[1]]})
    np.savez(tmp_path / "a.npz", inst_map=inst, type_map=types)
    np.save(tmp_path / "a.npy", np.stack([inst, types], -1))
    for name in ("a.mat", "a.npz", "a.npy"):
        np.testing.assert_array_equal(read_nuclei_label(tmp_path / name, cmap), expected)
    with pytest.raises(InvalidValuesError, match="class mapping"):
        read_nuclei_label(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", inst_map=inst)
    with pytest.raises(DatasetNotFoundError, match="b.npz.*type_map"):
        read_nuclei_label(tmp_path / "b.npz", cmap)
    with pytest.raises(MissingFileError, match="nope.png"):
        read_nuclei_label(tmp_path / "nope.png")


def test_label_images_written_by_io_read_back_as_id_mod_3(tmp_path):
    inst, _ = _inst_type()
    label = encode_label(inst * 10000, {70000: 0, 20000: 1, 90000: 2})
    label[0, 0] = 70001  # past 16 bits: the writer falls back to .npy
    for small in (label % 65536, label):
        path = write_label_image(tmp_path / "l.png", small)
        assert path.suffix == (".npy" if small.max() > 65535 else ".png")
        assert decode_label(read_nuclei_label(path))[1] == decode_label(small)[1]


def test_read_matlab_v73_and_hovernet_patch(tmp_path):
    """The formats io.labels reads and the nuclei reader once refused (v7.3) or lacked (.npz label)."""
    inst, types = _inst_type()
    cmap = {2: "lymphocyte", 4: "tumour", 5: "stroma"}
    expected = encode_inst_type(inst, types, cmap)
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:  # MATLAB -v7.3: column-major
        f["inst_map"] = inst.astype(np.float64).T
        f["type_map"] = types.astype(np.uint8).T
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM")
    np.testing.assert_array_equal(read_nuclei_label(path, cmap), expected)
    rgb = np.full(inst.shape + (3,), 128, np.int32)
    np.save(tmp_path / "p.npy", np.concatenate([rgb, inst[..., None], types[..., None]], -1))
    np.testing.assert_array_equal(read_nuclei_label(tmp_path / "p.npy", cmap), expected)
    np.savez(tmp_path / "l.npz", label=expected)
    np.testing.assert_array_equal(read_nuclei_label(tmp_path / "l.npz"), expected)
    np.save(tmp_path / "bad.npy", np.where(inst > 0, -inst, 0))
    with pytest.raises(InvalidValuesError, match=r"bad\.npy.*negative"):
        read_nuclei_label(tmp_path / "bad.npy")
    with pytest.raises(ShapeError, match="2-D"):
        decode_label(np.zeros((2, 2, 3)))
