"""Reading a batch of cached spots straight into one (N, H, W, C) buffer.

:class:`SpotReader` is the hot path of the spot pipeline: one call
per batch (through ``tf.numpy_function``), no Python work per pixel and no copy
after the read. Each cube file is read with a single ``os.preadv`` whose buffers
are the rows of that spot's slot in the batch buffer, so the kernel copies the
bytes once, from the page cache (or the disk) into the array that becomes the
batch tensor: a spot smaller than the padded size lands in the top-left corner
of its slot with the padding zeroed, a spot of the padded size is one buffer.
``os.preadv`` releases the GIL, so reads of several batches (``map`` with
``num_parallel_calls``) overlap.

Batch buffers come from a small pool and are 64-byte aligned, so TensorFlow
wraps them without a copy; a buffer is reused once no tensor refers to it any
more (its reference count says so), so a steady stream allocates nothing and
touches no fresh pages. At most :data:`POOL_SIZE` buffers are kept.
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from irpath.data.cache import CacheIndex
from irpath.errors import DataFileError

#: TensorFlow aliases numpy buffers aligned to this many bytes instead of copying them.
ALIGN = 64
#: Batch buffers kept for reuse: enough for the batches in flight (parallel reads,
#: prefetch, the step's own); more live batches get ordinary allocations.
POOL_SIZE = 6
#: Largest number of buffers one ``preadv`` call takes (Linux' IOV_MAX).
_IOV_MAX = 1024


def _aligned(owner: np.ndarray, nbytes: int) -> np.ndarray:
    """The (nbytes,) part of ``owner`` (uint8, ``nbytes + ALIGN`` long) starting on an
    :data:`ALIGN` boundary."""
    start = (-owner.ctypes.data) % ALIGN
    return owner[start:start + nbytes]


class SpotReader:
    """Reads batches of spots of one cache, padded bottom/right to (hp, wp).

    Args:
        index: the cache.
        hp, wp: the padded height and width (at least every spot's H and W).
        with_mask: also read the ground-truth masks (zeros for spots without one).

    Call :meth:`read` with the spot indices of a batch.
    """

    def __init__(self, index: CacheIndex, hp: int, wp: int, *, with_mask: bool = False):
        self.index = index
        self.hp, self.wp = int(hp), int(wp)
        self.with_mask = bool(with_mask)
        self.channels = index.entries[0].channels
        self.dtype = np.dtype(index.cube_dtype)
        self._pool: list[np.ndarray] = []
        self._lock = threading.Lock()

    def _buffer(self, n: int) -> np.ndarray:
        """An (n, hp, wp, C) cube buffer that no tensor uses any more (or a new one)."""
        nbytes = n * self.hp * self.wp * self.channels * self.dtype.itemsize
        with self._lock:
            # A view's base is the array that owns the memory, so a live batch (or any
            # view of it) holds a reference to its owner: free owners have two, the
            # pool's list and getrefcount's argument.
            free = [j for j in range(len(self._pool)) if self._pool[j].nbytes == nbytes + ALIGN
                    and sys.getrefcount(self._pool[j]) == 2]
            if free:
                owner = self._pool[free[0]]
            else:
                owner = np.empty(nbytes + ALIGN, np.uint8)
                if len(self._pool) < POOL_SIZE:  # beyond that, an ordinary allocation
                    self._pool.append(owner)
            view = _aligned(owner, nbytes).view(self.dtype).reshape(n, self.hp, self.wp, self.channels)
            del owner  # claimed: ``view`` keeps the count up until it is freed
            return view

    def _read_cube(self, entry, slot: np.ndarray) -> None:
        """Read one cube file into ``slot`` (hp, wp, C); the padding is zeroed."""
        h, w = entry.height, entry.width
        path = self.index.file(entry.cube_file)
        if w == self.wp:
            target = slot[:h]
            views = [memoryview(target).cast("B")]
        else:
            views = [memoryview(slot[r, :w]).cast("B") for r in range(h)]
        want = h * w * self.channels * self.dtype.itemsize
        got = 0
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DataFileError(f"{path}: cannot read the cached cube ({exc.strerror}); "
                                "delete the cache folder to rebuild it") from None
        try:
            for start in range(0, len(views), _IOV_MAX):
                chunk = views[start:start + _IOV_MAX]
                size = sum(v.nbytes for v in chunk)
                n = os.preadv(fd, chunk, got)
                got += n
                if n != size:  # a short read: the file is shorter than its entry says
                    break
        finally:
            os.close(fd)
        if got != want:
            raise DataFileError(f"{path}: the cached cube has {got} bytes, its index says {want}; "
                                "delete the cache folder to rebuild it")
        if h < self.hp:
            slot[h:] = 0
        if w < self.wp:
            slot[:h, w:] = 0

    def _read_plane(self, name: str | None, h: int, w: int) -> np.ndarray:
        """A uint8 (hp, wp) plane from a cached (h, w) file, zero-padded (zeros if no file)."""
        out = np.zeros((self.hp, self.wp), np.uint8)
        if name is not None:
            out[:h, :w] = np.fromfile(self.index.file(name), np.uint8).reshape(h, w)
        return out

    def read(self, ids) -> tuple:
        """The spots ``ids`` as one batch.

        Args:
            ids: (N,) spot indices into the cache.

        Returns:
            ``(cube, tissue[, mask])``: (N, hp, wp, C) in the cache's dtype, and
            (N, hp, wp, 1) uint8 planes (0/1). Padding is 0 everywhere.
        """
        ids = np.asarray(ids).reshape(-1)
        cube = self._buffer(ids.size)
        planes = [np.empty((ids.size, self.hp, self.wp, 1), np.uint8)
                  for _ in range(2 if self.with_mask else 1)]
        for slot, i in enumerate(ids):
            e = self.index.entries[int(i)]
            self._read_cube(e, cube[slot])
            planes[0][slot, ..., 0] = self._read_plane(e.tissue_file, e.height, e.width)
            if self.with_mask:
                planes[1][slot, ..., 0] = self._read_plane(e.mask_file, e.height, e.width)
        return (cube, *planes)
