import numpy as np
import pytest
import tensorflow as tf

from irpath.data import build_cache
from irpath.methods.compsegnet.data import make_dataset
from irpath.data.cache import FLOAT16_ABS_ERROR, FLOAT16_REL_ERROR
from irpath.errors import ConfigError, InvalidValuesError
from irpath.io import read_manifest

from tests.data.conftest import AXIS, write_spots


@pytest.fixture
def two_caches(tmp_path, rng):
    """The same spots (values spanning 1e-6..5e3) as a float32 and a float16 cache."""
    path, arrays = write_spots(tmp_path / "src", [(8, 8), (8, 8), (8, 8), (8, 8)], [1, 0, 1, 0], rng=rng)
    for i, a in enumerate(arrays):  # widen the range beyond write_spots' 0.5..1
        a["cube"] *= np.float32(10.0 ** rng.uniform(-6, 3.7, size=a["cube"].shape))
        np.save(tmp_path / "src" / f"spot_{i:03d}.npy", a["cube"])
    m = read_manifest(path)
    f32 = build_cache(m, tmp_path / "c32", target_axis=AXIS, progress=False)
    f16 = build_cache(m, tmp_path / "c16", target_axis=AXIS, progress=False, cube_dtype="float16")
    return m, f32, f16


def test_float16_round_trip_is_within_the_stated_error(two_caches):
    _, f32, f16 = two_caches
    assert f16.cube_dtype == "float16" and f32.cube_dtype == "float32"
    worst_rel = 0.0
    for i in range(len(f32)):
        exact, half = f32.load(i)[0], f16.load(i)[0]
        assert half.dtype == np.float32
        err = np.abs(half - exact)
        bound = np.maximum(FLOAT16_REL_ERROR * np.abs(exact), FLOAT16_ABS_ERROR)
        assert np.all(err <= bound)
        normal = np.abs(exact) >= 2.0**-14
        worst_rel = max(worst_rel, float((err[normal] / np.abs(exact[normal])).max()))
        assert np.array_equal(half, exact.astype(np.float16).astype(np.float32))  # nearest rounding
        # half the bytes on disk, everything else the same
        e32, e16 = f32.entries[i], f16.entries[i]
        assert e16.cube_file.endswith(".f16")
        size = (f32.cache_dir / e32.cube_file).stat().st_size
        assert (f16.cache_dir / e16.cube_file).stat().st_size * 2 == size
        np.testing.assert_array_equal(f16.load(i)[1], f32.load(i)[1])
    assert worst_rel > FLOAT16_REL_ERROR / 4  # the bound is tight, not a loose guess


def test_dtypes_never_mix_in_one_folder(two_caches, capsys):
    m, f32, f16 = two_caches
    assert f32.fingerprint != f16.fingerprint
    again = build_cache(m, f32.cache_dir, target_axis=AXIS, progress=True, cube_dtype="float16")
    assert "up to date" not in capsys.readouterr().err  # rebuilt, not reused
    assert again.fingerprint == f16.fingerprint
    assert sorted(p.suffix for p in f32.cache_dir.glob("*.cube.*")) == [".f16"] * len(m)
    build_cache(m, f32.cache_dir, target_axis=AXIS, progress=True, cube_dtype="float16")
    assert "up to date" in capsys.readouterr().err


def test_pipeline_yields_the_float16_values(two_caches):
    _, f32, f16 = two_caches
    b16 = next(iter(make_dataset(f16, batch_size=4, shuffle=False)))
    b32 = next(iter(make_dataset(f32, batch_size=4, shuffle=False)))
    assert b16["cube"].dtype == tf.float16 and b32["cube"].dtype == tf.float32
    np.testing.assert_array_equal(b16["cube"].numpy(), b32["cube"].numpy().astype(np.float16))
    np.testing.assert_array_equal(b16["tissue"].numpy(), b32["tissue"].numpy())


def test_out_of_range_values_and_unknown_dtypes_are_refused(tmp_path, rng):
    path, arrays = write_spots(tmp_path / "src", [(6, 6)], [1], rng=rng)
    np.save(tmp_path / "src" / "spot_000.npy", arrays[0]["cube"] * 1e5)
    with pytest.raises(InvalidValuesError, match="spot_000.npy.*float16"):
        build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, progress=False,
                    cube_dtype="float16")
    assert not list((tmp_path / "c").glob("*.cube.*"))  # no partial file left
    with pytest.raises(ConfigError, match="bfloat16"):
        build_cache(read_manifest(path), tmp_path / "c", target_axis=AXIS, cube_dtype="bfloat16")
