"""Lazy image sources: every format's ``read_region`` equals the same window of a full
read at every level; BSQ region reads stay memory-bounded; nearest level for a µm/px."""

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from irpath.errors import ConfigError, ShapeError
from irpath.io.sources import EnviSource, ResampledView, SlideSource, TiffSource, open_image

WINDOWS = [(0, 0, 5, 7), (3, 2, 9, 11), (13, 17, 7, 6)]


def write_envi(folder, cube, interleave, name="m", byte_order=0):
    """Write (H, W, C) ``cube`` as ENVI in ``interleave``; returns the header."""
    h, w, c = cube.shape
    order = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave]
    dt = ">f4" if byte_order else "<f4"
    np.ascontiguousarray(cube.transpose(order)).astype(dt).tofile(folder / f"{name}.img")
    axis = ", ".join(f"{v:.1f}" for v in np.linspace(1000, 1800, c))
    hdr = folder / f"{name}.hdr"
    hdr.write_text(f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\nheader offset = 0\n"
                   f"file type = ENVI Standard\ndata type = 4\ninterleave = {interleave}\n"
                   f"byte order = {byte_order}\nwavelength units = cm-1\nwavelength = {{{axis}}}\n")
    return hdr


def write_pyramid(path, rgb, *, ome: bool, mpp=0.5, levels=3, tile=64, compression="zlib"):
    """A tiled pyramid: OME-TIFF with SubIFDs, or one IFD per level (OpenSlide's generic TIFF)."""
    pyramid = [rgb[::2 ** i, ::2 ** i] for i in range(levels)]
    res = dict(resolution=(1e4 / mpp, 1e4 / mpp), resolutionunit="CENTIMETER")
    with tifffile.TiffWriter(path, ome=ome) as tw:
        meta = {"axes": "YXS", "PhysicalSizeX": mpp, "PhysicalSizeY": mpp} if ome else None
        tw.write(pyramid[0], subifds=levels - 1 if ome else None, tile=(tile, tile),
                 compression=compression, photometric="rgb", metadata=meta, **res)
        for lv in pyramid[1:]:
            tw.write(lv, subfiletype=1, tile=(tile, tile), compression=compression,
                     photometric="rgb", **res)
    return pyramid


def _check_windows(src, full_levels):
    assert src.levels == len(full_levels)
    for level, full in enumerate(full_levels):
        assert src.level_shapes[level] == full.shape[:2]
        np.testing.assert_array_equal(np.asarray(src.level(level)), full)
        for y, x, h, w in WINDOWS:
            h, w = min(h, full.shape[0] - y), min(w, full.shape[1] - x)
            if h > 0 and w > 0:
                np.testing.assert_array_equal(src.read_region(level, y, x, h, w), full[y:y + h, x:x + w])


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_regions_every_interleave(tmp_path, rng, interleave):
    cube = rng.normal(size=(24, 30, 5)).astype(np.float32)
    with open_image(write_envi(tmp_path, cube, interleave, byte_order=int(interleave == "bil"))) as src:
        assert isinstance(src, EnviSource) and src.shape == (24, 30, 5) and src.vendor == f"envi-{interleave}"
        np.testing.assert_allclose(src.wavenumbers, np.linspace(1000, 1800, 5), atol=0.05)
        _check_windows(src, [cube])
    with pytest.raises(ShapeError, match="leaves level 0"):
        open_image(tmp_path / "m.hdr").read_region(0, 20, 0, 5, 1)


def test_npy_hdf5_and_agilent_regions(tmp_path, rng):
    import h5py

    cube = rng.normal(size=(20, 18, 4)).astype(np.float32)
    np.save(tmp_path / "c.npy", cube)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["cube"] = cube
        f["wavenumbers"] = np.linspace(1000, 1800, 4)
    for name, vendor in (("c.npy", "numpy"), ("c.h5", "hdf5")):
        with open_image(tmp_path / name) as src:
            assert src.vendor == vendor
            _check_windows(src, [cube])
    from tests.io.test_agilent import _mosaic_by_hand, _write_tile, F, NPTS, SHIPPED

    shutil.copy(SHIPPED / "5_mosaic_agg1024.dmt", tmp_path / "scan.dmt")
    raws = {(x, y): rng.normal(size=(NPTS, F, F)).astype(np.float32) for x in range(3) for y in range(2)}
    for (x, y), raw in raws.items():
        _write_tile(tmp_path / f"Scan_{x:04d}_{y:04d}.dmd", raw)
    with open_image(tmp_path / "scan.dmt") as src:
        assert src.vendor == "agilent" and src.wavenumbers.size == NPTS
        _check_windows(src, [_mosaic_by_hand(raws)])


def test_ome_tiff_pyramid_levels_and_mpp(tmp_path, rng):
    rgb = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    pyramid = write_pyramid(tmp_path / "s.ome.tif", rgb, ome=True, mpp=0.25)
    with open_image(tmp_path / "s.ome.tif") as src:
        assert isinstance(src, TiffSource) and src.vendor == "ome-tiff" and src.modality == "rgb"
        assert src.mpp == pytest.approx(0.25) and src.downsamples == (1.0, 2.0, 4.0)
        _check_windows(src, pyramid)
        assert src.nearest_level(1.0) == 2 and src.nearest_level(0.7) == 1
        assert src.nearest_level(0.1) == 0 and src.nearest_level(50) == 2


def test_generic_tiled_tiff_through_openslide(tmp_path, rng):
    rgb = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    pyramid = write_pyramid(tmp_path / "g.tif", rgb, ome=False, mpp=0.5)
    with open_image(tmp_path / "g.tif") as src:
        assert isinstance(src, SlideSource) and src.vendor == "generic-tiff"
        assert src.mpp == pytest.approx(0.5) and src.levels == 3
        _check_windows(src, pyramid)


def test_small_png_on_pillow(tmp_path, rng):
    from PIL import Image

    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "t.png")
    with open_image(tmp_path / "t.png") as src:
        assert src.vendor == "pillow" and src.modality == "rgb" and src.mpp is None
        _check_windows(src, [rgb.astype(np.float32)])
        with pytest.raises(ConfigError, match="no pixel size"):
            src.nearest_level(1.0)


def test_resampled_view_tiles_equal_whole(rng):
    level = rng.normal(size=(41, 37, 2)).astype(np.float32)
    view = ResampledView(level, 1.5)
    assert view.shape == (27, 25, 2)
    whole = np.asarray(view)
    np.testing.assert_array_equal(view[5:19, 3:20], whole[5:19, 3:20])
    np.testing.assert_allclose(ResampledView(level, 1.0)[:, :], level)  # identity
    # output (4, 6) samples source (6.25, 9.25): bilinear weights 9/16, 3/16, 3/16, 1/16
    want = (level[6, 9] * 9 + level[6, 10] * 3 + level[7, 9] * 3 + level[7, 10]) / 16
    np.testing.assert_allclose(whole[4, 6], want, rtol=1e-5)


def test_bsq_region_read_memory_is_bounded_by_the_region(tmp_path):
    """A 64 MB BSQ cube; reading a 16 x 16 region must not map whole bands (RSS in a subprocess)."""
    h, w, c = 1024, 1024, 16
    mm = np.lib.format.open_memmap(tmp_path / "big.npy", "w+", np.float32, (c, h, w))
    mm[:] = 1.0
    mm.flush()
    del mm
    data = (tmp_path / "big.npy").read_bytes()
    (tmp_path / "big.img").write_bytes(data[128:])  # the .npy header is 128 bytes
    (tmp_path / "big.npy").unlink()
    (tmp_path / "big.hdr").write_text(f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\n"
                                      "header offset = 0\ndata type = 4\ninterleave = bsq\nbyte order = 0\n")
    code = textwrap.dedent(f"""
        import resource, numpy as np
        from irpath.io.sources import open_image
        src = open_image({str(tmp_path / 'big.hdr')!r})
        def rss():
            return int(open('/proc/self/statm').read().split()[1]) * 4096
        before = rss()
        total = 0.0
        for y in range(0, 1024, 16):
            total += float(src.read_region(0, y, 500, 16, 16).sum())
        print(rss() - before, total)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    grown, total = out.stdout.split()
    assert float(total) == 1024 * 16 * 16  # every row of the column read once
    assert int(grown) < 16 * 2**20, f"RSS grew by {int(grown) / 2**20:.1f} MB reading 1 MB of regions"
