"""Tiled, out-of-core prediction of (H, W, C) cubes larger than memory.

:func:`predict_tiled` runs any callable ``fn`` ((n, h, w, C) -> (n, h, w, K)) over
overlapping tiles of a lazily read source (``np.memmap``, h5py dataset, the
``Cube.data`` of ``read_cube(path, mmap=True)``) and blends the tiles into an
(H, W, K) map, in memory or in a memory-mapped ``.npy``. Tiles are processed one
row of tiles at a time, so besides the output only one strip of accumulators
(tile height x W) and one batch of tiles are ever in memory.

Blending: at every tile edge that borders another tile, the outermost ``margin``
pixels (context only, default ``overlap // 4``) get a weight of 1e-6 and the next
``overlap - 2 * margin`` pixels ramp up smoothly (cosine or Gaussian-CDF ramp,
``"constant"``: no ramp); the result is ``sum(w * y) / sum(w)``. Two neighbours'
ramps sum to one, and edges lying on the image border are not tapered. For a
``fn`` whose receptive field radius is at most ``margin``, the tiled map equals
the whole-image map up to float32 round-off (the 1e-6 weight bounds the rest).

IR cubes are resampled tile by tile by the ``prepare`` callable of
:func:`irpath.data.ir_resample.ir_tile_preparer`.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from irpath.errors import ConfigError, ShapeError
from irpath.io.cube import release_pages

WINDOWS = ("cosine", "gaussian", "constant")
#: Weight of the context margin: tiny, but never 0, so every sum of weights is > 0.
MARGIN_WEIGHT = 1e-6


def _pair(v, what: str) -> tuple[int, int]:
    h, w = (v, v) if np.isscalar(v) else tuple(v)
    if int(h) < 1 or int(w) < 1:
        raise ConfigError(f"{what} must be >= 1, got {v}")
    return int(h), int(w)


def _axis_tiles(size: int, tile: int, overlap: int, align: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the fewest equal tiles <= ``tile`` covering ``size`` with
    overlaps >= ``overlap``; starts are multiples of ``align`` except the last one."""
    if size <= tile:
        return [(0, size)]
    top = tile // align * align
    if top - overlap < align:
        raise ConfigError(f"tile {tile} too small for overlap {overlap} with align {align}")
    n = 2
    while True:  # the fewest tiles, then the smallest aligned size t, with stride t - overlap
        t = max(-(-(size + (n - 1) * overlap) // n), overlap + align)
        t = -(-t // align) * align
        while t <= top and (n - 1) * ((t - overlap) // align * align) + t < size:
            t += align
        if t <= top:
            break
        n += 1
    stride = (t - overlap) // align * align
    return [(s, s + t) for s in [min(i * stride, size - t) for i in range(n)]]


def tile_grid(height: int, width: int, tile=256, overlap: int = 32, *,
              align: int = 1) -> list[tuple[int, int, int, int]]:
    """Tiles covering an image, row by row.

    Per axis, the number of tiles is the smallest that covers the image with
    tiles of at most ``tile`` pixels overlapping by at least ``overlap``; the
    tiles are then shrunk to the smallest equal size that still does, so no
    work is spent on surplus overlap. Tiles step by ``t - overlap``; the last
    one is shifted inside to end at the border (never padded), so it may overlap
    more. An axis no longer than ``tile`` is one tile.

    Args:
        height, width: image size H, W.
        tile: maximum tile size, int or (th, tw).
        overlap: minimum overlap between neighbouring tiles (pixels).
        align: tile starts (but the last, at size - t) and sizes are multiples of
            this, e.g. 2**depth for a U-Net, so every tile sees the pooling grid
            of the whole image.

    Returns:
        ``[(y0, y1, x0, x1), ...]`` in row-major order; all tiles have one shape.
    """
    th, tw = _pair(tile, "tile")
    if overlap < 0 or align < 1:
        raise ConfigError(f"overlap must be >= 0 and align >= 1, got {overlap}, {align}")
    if height < 1 or width < 1:
        raise ShapeError(f"image size must be positive, got {height}x{width}")
    ys = _axis_tiles(int(height), th, int(overlap), int(align))
    xs = _axis_tiles(int(width), tw, int(overlap), int(align))
    return [(y0, y1, x0, x1) for y0, y1 in ys for x0, x1 in xs]


def _ramp(n: int, kind: str) -> np.ndarray:
    i = np.arange(n) + 0.5
    if kind == "cosine":
        return 0.5 - 0.5 * np.cos(np.pi * i / n)
    if kind == "gaussian":  # Gaussian CDF over +-3 sigma: ramp(i) + ramp(n - 1 - i) = 1
        return np.array([0.5 * math.erfc(-(v - n / 2) / (n / 6) / math.sqrt(2)) for v in i])
    return np.ones(n)


def _profile(n: int, overlap: int, margin: int, kind: str, lo: bool, hi: bool) -> np.ndarray:
    """1-D weights: margin, then ramp, from each tapered end (``lo``: start, ``hi``: end)."""
    edge = np.concatenate([np.full(margin, MARGIN_WEIGHT), _ramp(overlap - 2 * margin, kind)])
    side = np.ones(n)
    side[:min(n, edge.size)] = edge[:n]
    return np.minimum(side if lo else 1.0, side[::-1] if hi else 1.0) * np.ones(n)


def blend_window(h: int, w: int, overlap: int, kind: str = "cosine", *, margin: int | None = None,
                 edges=(True, True, True, True)) -> np.ndarray:
    """Blending weights of one tile.

    Args:
        h, w: tile size.
        overlap: overlap with the neighbouring tiles (pixels).
        kind: ``"cosine"`` (raised-cosine ramp), ``"gaussian"`` (Gaussian-CDF ramp)
            or ``"constant"`` (no ramp: plain averaging beyond the margin).
        margin: pixels at each tapered edge weighted :data:`MARGIN_WEIGHT` (context
            only); default ``overlap // 4``. Must be <= overlap / 2.
        edges: (top, bottom, left, right): which edges border another tile and are
            tapered; edges on the image border keep weight 1.

    Returns:
        (h, w) float32 weights in (0, 1].
    """
    if kind not in WINDOWS:
        raise ConfigError(f"window must be one of {', '.join(WINDOWS)}, got {kind!r}")
    margin = overlap // 4 if margin is None else int(margin)
    if overlap < 0 or margin < 0 or 2 * margin > overlap:
        raise ConfigError(f"need 0 <= 2 * margin <= overlap, got margin {margin}, "
                          f"overlap {overlap}")
    top, bottom, left, right = (bool(e) for e in edges)
    py = _profile(int(h), int(overlap), margin, kind, top, bottom)
    px = _profile(int(w), int(overlap), margin, kind, left, right)
    return np.outer(py, px).astype(np.float32)


class _Progress:
    """``tiles 3/20  1.25 Mpx/s  ETA 0:00:14`` on stderr, redrawn at most twice a second."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.done = self.px = 0
        self.start = self.last = time.perf_counter()

    def update(self, tiles: int, px: int):
        self.done += tiles
        self.px += px
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.5 and self.done < self.total):
            return
        self.last = now
        dt = max(now - self.start, 1e-9)
        eta = (self.total - self.done) * dt / self.done
        end = "\n" if self.done >= self.total else ""
        print(f"\rtiles {self.done}/{self.total}  {self.px / dt / 1e6:.2f} Mpx/s  "
              f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}", end=end, file=sys.stderr,
              flush=True)


def _row_batches(boxes, batch: int):
    """Split row-major tiles into batches that never span two tile rows."""
    rows: dict = {}
    for b in boxes:
        rows.setdefault(b[:2], []).append(b)
    out = []
    for (y0, y1), row in rows.items():
        for i in range(0, len(row), batch):
            out.append(((y0, y1), row[i:i + batch], i + batch >= len(row)))
    return out


def predict_tiled(source, fn, out=None, *, tile=256, overlap: int = 32, margin: int | None = None,
                  align: int = 1, out_channels: int | None = None, prepare=None,
                  window: str = "cosine", batch: int = 1, prefetch: bool = True,
                  progress: bool = True, dtype=np.float32, skip=None, stats: dict | None = None) -> np.ndarray:
    """Predict an (H, W, C) source tile by tile and blend the tiles.

    Memory is bounded by the tile, not the image: tiles are read, prepared and
    predicted one batch at a time, and one strip of (tile height, W) accumulators
    is written to ``out`` and recycled after each row of tiles.

    Args:
        source: (H, W, C) array-like with basic slicing (np.memmap, h5py dataset,
            ``Cube.data``, ndarray).
        fn: (n, h, w, C_in) float32 -> (n, h, w, K) maps (ndarray or tensor).
        out: None for an in-memory result, or a path: the result is written to a
            memory-mapped ``.npy`` there (``np.lib.format.open_memmap``).
        tile: maximum tile size, int or (th, tw); see :func:`tile_grid`. A 256 x 256 x 450
            float32 tile is 113 MB; with the small benchmark U-Net the process peaks
            near 2 GB (``benchmarks/tiled_predict.py``).
        overlap: minimum overlap between tiles (pixels).
        margin: context pixels at tile edges that (nearly) do not count; default
            ``overlap // 4``. The result is exact for an ``fn`` whose receptive
            field radius is <= ``margin``.
        align: tile starts/sizes are multiples of this (2**depth for a U-Net).
        out_channels: K, checked against ``fn``'s output if given.
        prepare: optional ``(raw tile (h, w, C), box (y0, y1, x0, x1)) -> (h, w, C_in)``
            float32, applied per tile (e.g. :func:`irpath.data.ir_resample.ir_tile_preparer`); default: cast
            to float32.
        window: ``"cosine"``, ``"gaussian"`` or ``"constant"``; see :func:`blend_window`.
        batch: tiles per ``fn`` call (tiles of one row only).
        prefetch: read and prepare the next batch in a thread while ``fn`` runs.
        progress: show tiles done/total, px/s and ETA on stderr.
        dtype: dtype of the result.
        skip: optional ``box -> bool``: True for a tile that is not read nor predicted
            (background); its prediction counts as 0 in the blend. Needs ``out_channels``.
        stats: optional dict, filled with ``computed_fraction`` (the fraction of the
            image's area covered by predicted tiles).

    Returns:
        (H, W, K) ``dtype`` array: an ndarray, or the ``np.memmap`` written to ``out``.

    Raises:
        ShapeError: ``source`` is not 3-D or ``fn`` returns the wrong shape.
        ConfigError: bad tile, overlap, margin, window or batch.
    """
    if len(getattr(source, "shape", ())) != 3:
        raise ShapeError(f"source must be (H, W, C), got shape {getattr(source, 'shape', None)}")
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    if skip is not None and not out_channels:
        raise ConfigError("skip needs out_channels")
    height, width = int(source.shape[0]), int(source.shape[1])
    boxes = tile_grid(height, width, tile, overlap, align=align)
    blend_window(1, 1, overlap, window, margin=margin)  # validates window and margin
    th = boxes[0][1] - boxes[0][0]
    windows: dict = {}

    skipped = {b for b in boxes if skip(b)} if skip is not None else set()
    if stats is not None:
        covered = np.zeros((height, width), bool)
        for y0, y1, x0, x1 in (b for b in boxes if b not in skipped):
            covered[y0:y1, x0:x1] = True
        stats["computed_fraction"] = float(covered.mean())
        del covered

    def load(group):
        tiles = []
        group = [b for b in group if b not in skipped]
        if not group:
            return None
        for box in group:
            y0, y1, x0, x1 = box
            raw = source[y0:y1, x0:x1]
            tiles.append(np.array(raw, np.float32) if prepare is None else prepare(raw, box))
            release_pages(source)  # the tile is copied out: unmap what it touched
        return tiles[0][None] if len(tiles) == 1 else np.stack(tiles)

    result = acc = wsum = None
    base = 0  # first image row held in acc / wsum
    bar = _Progress(len(boxes), progress)
    batches = _row_batches(boxes, batch)
    pool = ThreadPoolExecutor(1) if prefetch and len(batches) > 1 else None
    try:
        pending = pool.submit(load, batches[0][1]) if pool else None
        for i, ((y0, y1), group, row_done) in enumerate(batches):
            x = pending.result() if pool else load(group)
            if pool and i + 1 < len(batches):
                pending = pool.submit(load, batches[i + 1][1])
            want = (len(group), y1 - y0, group[0][3] - group[0][2])
            live = [b not in skipped for b in group]
            if all(live):
                y = np.asarray(fn(x))
            else:
                y = np.zeros(want + (out_channels,), np.float32)
                if x is not None:
                    y[np.array(live)] = np.asarray(fn(x))
            if y.ndim != 4 or y.shape[:3] != want or (out_channels and y.shape[3] != out_channels):
                k = out_channels or "K"
                raise ShapeError(f"fn returned shape {y.shape} for input {x.shape}; expected "
                                 f"({want[0]}, {want[1]}, {want[2]}, {k})")
            if result is None:
                shape = (height, width, y.shape[3])
                result = (np.empty(shape, dtype) if out is None else
                          np.lib.format.open_memmap(str(Path(out)), mode="w+", dtype=dtype,
                                                    shape=shape))
                acc = np.zeros((th, width, y.shape[3]), np.float32)
                wsum = np.zeros((th, width), np.float32)
            for (ty0, ty1, x0, x1), pred in zip(group, y):
                edges = (ty0 > 0, ty1 < height, x0 > 0, x1 < width)
                key = (ty1 - ty0, x1 - x0, edges)
                if key not in windows:
                    windows[key] = blend_window(*key[:2], overlap, window, margin=margin,
                                                edges=edges)
                wt = windows[key]
                acc[ty0 - base:ty1 - base, x0:x1] += wt[..., None] * pred
                wsum[ty0 - base:ty1 - base, x0:x1] += wt
            bar.update(len(group), len(group) * want[1] * want[2])
            if row_done:  # rows above the next tile row are final: write and recycle
                stop = batches[i + 1][0][0] if i + 1 < len(batches) else height
                n = stop - base
                result[base:stop] = (acc[:n] / wsum[:n, :, None]).astype(dtype, copy=False)
                keep = y1 - stop
                acc[:keep] = acc[n:n + keep]
                wsum[:keep] = wsum[n:n + keep]
                acc[keep:] = 0.0
                wsum[keep:] = 0.0
                base = stop
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    if isinstance(result, np.memmap):
        result.flush()
    return result
