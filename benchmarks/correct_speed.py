"""Spectra per second of each correction method, its quality on a known Mie-like
distortion, and the peak memory of ``correct_cube`` streaming a SIZE x SIZE x 450 mosaic.

    python benchmarks/correct_speed.py            # --size 256 (the mosaic part)
    python benchmarks/correct_speed.py --size 1024

Prints figures; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MEMORY = """
import sys, time
def hwm_kb():  # peak RSS of this process (VmHWM; unlike ru_maxrss it is reset by exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
from irpath.io import read_cube
from irpath.spectra.emsc import CorrectionConfig, Corrector, correct_cube
Corrector  # biospectools (and the TensorFlow it imports) loaded before the baseline
import biospectools.preprocessing
cube = read_cube(sys.argv[1], mmap=True)
base = hwm_kb()
t = time.perf_counter()
correct_cube(cube, sys.argv[2], CorrectionConfig(sys.argv[3]), progress=False)
print(base, hwm_kb(), time.perf_counter() - t)
"""

def speed_table(n: int, n_slow: int) -> list[dict]:
    from irpath.demo.synthetic import make_spot, wavenumber_axis
    from irpath.spectra.emsc import CorrectionConfig, Corrector, mie_like_distortion, unit_rms_error

    rng = np.random.default_rng(0)
    axis = wavenumber_axis()
    pure = []
    while sum(len(p) for p in pure) < n:
        cube, _, tissue = make_spot(rng, 48, axis, True)
        pure.append(cube[tissue].astype(np.float64))
    pure = np.concatenate(pure)[:n]
    dist = mie_like_distortion(pure, axis, rng)
    rows = []
    for label, cfg, count in [
            ("emsc", CorrectionConfig("emsc"), n),
            ("me-emsc it=1", CorrectionConfig("me-emsc"), n),
            ("me-emsc it=1 k=12", CorrectionConfig("me-emsc", n_components=12), n),
            ("me-emsc it=3", CorrectionConfig("me-emsc", iterations=3), n_slow),
            ("me-emsc it=30", CorrectionConfig("me-emsc", iterations=30), n_slow)]:
        for ref_name, ref in (("clean mean", pure.mean(0)), ("input mean", dist.mean(0))):
            t0 = time.perf_counter()
            corr = Corrector(ref, axis, cfg)
            t1 = time.perf_counter()
            out = corr(dist[:count])
            t2 = time.perf_counter()
            rows.append(dict(method=label, reference=ref_name, spectra=count,
                             spectra_per_s=round(count / (t2 - t1), 1), build_s=round(t1 - t0, 2),
                             rms_before=round(unit_rms_error(dist[:count], pure[:count]), 5),
                             rms_after=round(unit_rms_error(out, pure[:count]), 5)))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def memory(size: int, method: str) -> dict:
    import spectral.io.envi as envi

    from irpath.demo.synthetic import wavenumber_axis

    axis = wavenumber_axis()
    with tempfile.TemporaryDirectory() as tmp:
        hdr = Path(tmp) / "mosaic.hdr"
        img = envi.create_image(str(hdr), {"lines": size, "samples": size, "bands": 450, "data type": 4,
                                           "interleave": "bip", "byte order": 0,
                                           "wavelength": list(axis), "wavelength units": "cm-1"},
                                ext=".img", force=True)
        mm = img.open_memmap(writable=True)
        base = 0.5 + 0.4 * np.exp(-((axis - 1655) / 20) ** 2) + 0.3 * np.exp(-((axis - 1545) / 25) ** 2)
        rng = np.random.default_rng(0)
        for a in range(0, size, 64):
            b = min(size, a + 64)
            mm[a:b] = (base * rng.uniform(0.7, 1.3, (b - a, size, 1))).astype(np.float32)
        mm.flush()
        del mm
        res = subprocess.run([sys.executable, "-c", MEMORY, str(hdr), str(Path(tmp) / "out.hdr"), method],
                             capture_output=True, text=True, check=True)
        start_kb, peak_kb, seconds = res.stdout.split()[-3:]
    return dict(size=size, method=method, cube_mb=round(size * size * 450 * 4 / 2**20),
                rss_before_mb=round(int(start_kb) / 1024), peak_rss_mb=round(int(peak_kb) / 1024),
                seconds=round(float(seconds), 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="mosaic side for the memory run (default 256)")
    p.add_argument("--spectra", type=int, default=2000, help="spectra for the fast methods")
    p.add_argument("--slow-spectra", type=int, default=10, help="spectra for iterative ME-EMSC")
    args = p.parse_args(argv)
    speed_table(args.spectra, args.slow_spectra)
    for method in ("emsc", "me-emsc"):
        print(json.dumps(memory(args.size, method)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
