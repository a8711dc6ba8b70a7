import time
import tracemalloc

import numpy as np
import pytest

from irpath.errors import ConfigError, ShapeError
from irpath.inference.tiling import MARGIN_WEIGHT, blend_window, predict_tiled, tile_grid


def box_filter(radius: int, mix: np.ndarray):
    """A fully convolutional numpy fn: (2r+1)^2 box sum with zero 'same' padding, then
    a channel mix (C, K). Receptive field radius ``radius``."""
    def fn(x):
        n, h, w, _ = x.shape
        p = np.pad(x.astype(np.float64), ((0, 0), (radius, radius), (radius, radius), (0, 0)))
        s = sum(p[:, dy:dy + h, dx:dx + w] for dy in range(2 * radius + 1)
                for dx in range(2 * radius + 1))
        return (s @ mix).astype(np.float32)
    return fn


@pytest.mark.parametrize("shape,tile,overlap,margin,align,batch,window", [
    ((37, 53), 16, 8, 2, 1, 1, "cosine"),
    ((50, 41), (24, 16), 12, 3, 1, 3, "gaussian"),
    ((64, 45), 20, 8, 2, 4, 2, "constant"),
])
def test_tiled_equals_whole_image_for_a_finite_receptive_field(
        tmp_path, rng, shape, tile, overlap, margin, align, batch, window):
    """Exact up to the margin weight: with margin >= receptive field radius every pixel is
    dominated by tiles computing it exactly; the others weigh 1e-6, so |error| <= 1e-5
    relative to the values (~25 here); tolerance rtol 1e-5."""
    cube = rng.random(shape + (3,), dtype=np.float32)
    fn = box_filter(2, rng.normal(size=(3, 2)))
    whole = fn(cube[None])[0]
    tiled = predict_tiled(cube, fn, tmp_path / "map.npy", tile=tile, overlap=overlap,
                          margin=margin, align=align, batch=batch, window=window, progress=False)
    assert isinstance(tiled, np.memmap) and tiled.shape == shape + (2,)
    np.testing.assert_allclose(np.load(tmp_path / "map.npy"), whole, rtol=1e-5, atol=1e-4)
    assert len(tile_grid(*shape, tile, overlap, align=align)) > 4  # really tiled


def test_margin_smaller_than_receptive_field_is_not_exact(rng):
    """The check above can fail: a margin below the receptive field leaves seams."""
    cube = rng.random((37, 53, 3), dtype=np.float32)
    fn = box_filter(2, rng.normal(size=(3, 2)))
    tiled = predict_tiled(cube, fn, tile=16, overlap=8, margin=0, window="constant",
                          progress=False)
    assert np.abs(tiled - fn(cube[None])[0]).max() > 1e-2


@pytest.mark.parametrize("tile,overlap,window,margin", [
    (7, 3, "cosine", None), (16, 6, "gaussian", 3), (10, 0, "constant", 0), (5, 4, "cosine", 2),
    ((9, 13), 5, "constant", 1),
])
def test_pointwise_fn_is_reproduced(rng, tile, overlap, window, margin):
    """Per-pixel fn: any blend is a weighted mean of identical values -> the input."""
    cube = rng.normal(size=(29, 31, 4)).astype(np.float32)
    out = predict_tiled(cube, lambda x: x * 1.0, tile=tile, overlap=overlap, margin=margin,
                        window=window, batch=2, progress=False)
    np.testing.assert_allclose(out, cube, rtol=1e-6, atol=1e-6)


def test_prepare_gets_the_tile_and_its_box(rng):
    """prepare sees each raw tile with its (y0, y1, x0, x1); here it appends the row index."""
    cube = rng.random((30, 22, 2), dtype=np.float32)

    def prepare(raw, box):
        y0, y1, x0, x1 = box
        np.testing.assert_array_equal(raw, cube[y0:y1, x0:x1])
        rows = np.broadcast_to(np.arange(y0, y1, dtype=np.float32)[:, None, None],
                               raw.shape[:2] + (1,))
        return np.concatenate([raw, rows], axis=-1)
    out = predict_tiled(cube, lambda x: x, tile=8, overlap=4, prepare=prepare, progress=False)
    np.testing.assert_allclose(out[..., 2], np.mgrid[:30, :22][0], atol=1e-4)


@pytest.mark.parametrize("size,tile,overlap,align", [
    (100, 32, 8, 1), (97, 32, 8, 4), (33, 32, 0, 1), (512, 128, 16, 8), (10, 32, 8, 4),
    (32, 32, 8, 1), (200, 17, 16, 1),
])
def test_tile_grid_covers_every_pixel_inside_the_image(size, tile, overlap, align):
    boxes = tile_grid(size, size + 3, tile, overlap, align=align)
    cover = np.zeros((size, size + 3), int)
    for y0, y1, x0, x1 in boxes:
        assert 0 <= y0 < y1 <= size and 0 <= x0 < x1 <= size + 3  # shifted inside, no pad
        assert y1 - y0 <= tile and x1 - x0 <= tile
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    assert len({(b[1] - b[0], b[3] - b[2]) for b in boxes}) == 1  # one tile shape
    ys = sorted({b[:2] for b in boxes})
    for (a0, a1), (b0, b1) in zip(ys, ys[1:]):  # neighbours overlap by >= overlap
        assert a1 - b0 >= overlap
    for y0, _ in ys[:-1]:
        assert y0 % align == 0
    # fewest tiles: n - 1 of the largest aligned tiles, stepping by the largest aligned
    # stride, would not cover the axis
    n, top = len(ys), tile // align * align
    assert n == 1 or (n - 2) * ((top - overlap) // align * align) + top < size


def test_image_smaller_than_tile_is_one_tile():
    assert tile_grid(10, 7, 32, 8) == [(0, 10, 0, 7)]


def test_blend_window_shape_and_values():
    w = blend_window(20, 20, 8, "cosine", margin=2)
    assert w.dtype == np.float32 and (w > 0).all() and w.max() == 1.0
    profile = w[10]  # a row through the middle: x profile times 1
    assert profile[0] == profile[1] == pytest.approx(MARGIN_WEIGHT)
    ramp = profile[2:6]
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0, rtol=1e-6)  # neighbours sum to 1
    assert (np.diff(ramp) > 0).all() and (profile[6:14] == 1).all()
    np.testing.assert_array_equal(profile, profile[::-1])
    border = blend_window(20, 20, 8, edges=(False, False, False, True))
    assert (border[:, :10] == 1).all() and border[0, -1] < 1e-5  # only the right edge tapers
    assert (blend_window(6, 6, 4, "constant", margin=0) == 1).all()


def test_bad_arguments_are_refused(rng):
    cube = rng.random((8, 8, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="window"):
        predict_tiled(cube, lambda x: x, tile=4, overlap=2, window="hann", progress=False)
    with pytest.raises(ConfigError, match="margin"):
        predict_tiled(cube, lambda x: x, tile=4, overlap=2, margin=2, progress=False)
    with pytest.raises(ConfigError, match="too small"):
        tile_grid(64, 64, 8, 8)
    with pytest.raises(ShapeError, match=r"fn returned shape \(1, 4, 4\)"):
        predict_tiled(cube, lambda x: x[..., 0], tile=4, overlap=2, progress=False)
    with pytest.raises(ShapeError, match="K|3"):
        predict_tiled(cube, lambda x: x, tile=4, overlap=2, out_channels=3, progress=False)
    with pytest.raises(ShapeError, match=r"\(H, W, C\)"):
        predict_tiled(cube[..., 0], lambda x: x, progress=False)


def test_progress_bar_on_stderr(rng, capsys):
    cube = rng.random((20, 20, 1), dtype=np.float32)
    predict_tiled(cube, lambda x: x, tile=8, overlap=2, progress=True)
    err = capsys.readouterr().err
    n = len(tile_grid(20, 20, 8, 2))
    assert n == 9 and f"tiles {n}/{n}" in err and "px/s" in err and "ETA" in err
    predict_tiled(cube, lambda x: x, tile=8, overlap=2, progress=False)
    assert capsys.readouterr().err == ""


def test_memory_is_bounded_by_the_tile(tmp_path):
    """A 256 MB (1024, 1024, 64) memmapped cube, tile 128: the Python-heap peak (numpy
    buffers are tracked by tracemalloc) stays far below the image size."""
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1024, 1024, 64))
    for a in range(0, 1024, 128):
        big[a:a + 128] = np.arange(64, dtype=np.float32)
    big.flush()
    del big
    src = np.load(path, mmap_mode="r")
    file_rss = _rss_file()
    t = time.perf_counter()
    tracemalloc.start()
    try:
        out = predict_tiled(src, lambda x: x.mean(axis=-1, keepdims=True), tmp_path / "out.npy",
                            tile=128, overlap=16, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.1f} MB"  # tile + strip ~ 10 MB; image 256 MB
    assert out.shape == (1024, 1024, 1)
    np.testing.assert_allclose(out[::97, ::89], 31.5, rtol=1e-6)
    assert time.perf_counter() - t < 15
    if file_rss is not None:  # the source's pages were unmapped after each tile row
        assert _rss_file() - file_rss < 64 * 2**20


def _rss_file():
    """Resident file-backed pages of this process (Linux), in bytes, or None."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("RssFile:"))
    except (OSError, StopIteration):
        return None


def test_keras_model_tiled_matches_whole_image(rng):
    """A small 'same'-padded keras conv model (two 3x3 convs: radius 2)."""
    import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = keras.layers.Conv2D(1, 3, padding="same")(x)
    model = keras.Model(inp, y)
    cube = rng.random((45, 38, 3), dtype=np.float32)
    whole = np.asarray(model(cube[None]))[0]
    tiled = predict_tiled(cube, lambda t: model(t, training=False), tile=20, overlap=8,
                          margin=2, batch=2, progress=False)
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-5)
