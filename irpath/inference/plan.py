"""Whole image or tiles: decided by memory, not by pixel count.

An image goes through the model whole only when its working set fits the
memory budget (``--memory-limit GB``, by default a quarter of the memory
available when the command starts). The working set of a whole-image pass is
estimated per pixel as

    raw read (one copy of C_raw values, >= 4 bytes each; IR cubes are read block
    by block into the prepared input, RGB images whole) + prepared input, its
    tensor copy and the model's own preprocessing temporaries (5 x C_in float32)
    + maps (2 x K float32) + :data:`ACTIVATION_BYTES_PER_PX` of activations.

Measured (``benchmarks/tiled_predict.py``): a 512 x 512 x 436 ENVI cube through the
450-channel benchmark CompSegNet peaks 2.3 GB above the process's RSS (8.9 kB/px:
the prepared input is one array; the rest is TensorFlow's input copy and the eager
standardisation's temporaries); the estimate is 12.8 kB/px.

Otherwise the image is tiled and the peak is set by the tile, not the image.
"""

from __future__ import annotations

import dataclasses

from irpath.errors import ConfigError

#: Activations of a whole-image pass, per pixel: about four live float32 tensors of
#: 128 channels (the widest full-resolution layers of the irpath models).
ACTIVATION_BYTES_PER_PX = 2048
#: Tile size and overlap when the method's config names none; the tile grows with what
#: one tile's working set allows (:data:`TILE_BYTES`), up to :data:`MAX_TILE`.
DEFAULT_TILE = 224
DEFAULT_OVERLAP = 32
#: Working set allowed to one tile when the tile is chosen by memory: a 450-channel IR
#: model keeps 224 px (12.8 kB/px), a 3-channel RGB model gets 512 px (2.2 kB/px), whose
#: overlap recomputes 14 % of the pixels instead of 36 % (benchmarks/slide_predict.py).
TILE_BYTES = 640 * 2**20
MAX_TILE = 512


def default_memory_limit() -> int:
    """A quarter of the memory available now, in bytes."""
    import psutil

    return int(psutil.virtual_memory().available // 4)


def memory_limit_bytes(gb: float | None) -> int:
    """``--memory-limit GB`` in bytes (None: :func:`default_memory_limit`)."""
    if gb is None:
        return default_memory_limit()
    if not gb > 0:
        raise ConfigError(f"--memory-limit must be > 0 GB, got {gb}")
    return int(gb * 2**30)


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one image is predicted.

    Attributes:
        whole: one pass over the whole image; else tiles.
        tile, overlap: tile size and minimum overlap (pixels) of the tiled path.
        working_set: estimated bytes of a whole-image pass.
        budget: the memory limit in bytes it was compared with.
    """

    whole: bool
    tile: int
    overlap: int
    working_set: int
    budget: int

    def __post_init__(self):
        if self.tile < 16 or not 0 <= self.overlap < self.tile // 2:
            raise ConfigError(f"tile must be >= 16 and overlap in [0, tile/2), got tile {self.tile}, "
                              f"overlap {self.overlap}")


def whole_working_set(height: int, width: int, *, raw_channels: int, raw_itemsize: int,
                      in_channels: int, out_channels: int) -> int:
    """Estimated bytes of a whole-image pass (see the module docstring)."""
    per_px = (raw_channels * max(raw_itemsize, 4) + 20 * in_channels + 8 * out_channels
              + ACTIVATION_BYTES_PER_PX)
    return int(height) * int(width) * per_px


def tiling_defaults(cfg, per_px: int | None = None) -> tuple[int, int]:
    """``(tile, overlap)`` of a method config (its ``tile`` / ``overlap`` if it has them).

    Without a config tile: :data:`DEFAULT_TILE`, or, given the working set per pixel
    ``per_px``, the largest multiple of 32 whose tile fits :data:`TILE_BYTES`, between
    :data:`DEFAULT_TILE` and :data:`MAX_TILE`.
    """
    tile = getattr(cfg, "tile", None)
    if not tile:
        tile = DEFAULT_TILE
        if per_px:
            fit = int((TILE_BYTES / per_px) ** 0.5) // 32 * 32
            tile = min(MAX_TILE, max(DEFAULT_TILE, fit))
    return int(tile), int(getattr(cfg, "overlap", None) or DEFAULT_OVERLAP)


def plan_prediction(height: int, width: int, *, raw_channels: int, raw_itemsize: int, in_channels: int,
                    out_channels: int, cfg=None, memory_limit: int | None = None, tile: int | None = None,
                    overlap: int | None = None, tile_limit: int | None = None, lazy_only: bool = False) -> Plan:
    """The :class:`Plan` of one (height, width) image.

    Args:
        raw_channels, raw_itemsize: channels and bytes per value of the file's pixels.
        in_channels, out_channels: the model's C_in and K.
        cfg: the method config (tile / overlap defaults).
        memory_limit: bytes (None: :func:`default_memory_limit`).
        tile, overlap: override the config's.
        tile_limit: the former pixel rule: if given, images with more pixels are tiled
            whatever the memory.
        lazy_only: the image can only be read by regions (a slide): always tiled.
    """
    budget = default_memory_limit() if memory_limit is None else int(memory_limit)
    need = whole_working_set(height, width, raw_channels=raw_channels, raw_itemsize=raw_itemsize,
                             in_channels=in_channels, out_channels=out_channels)
    d_tile, d_overlap = tiling_defaults(cfg, need // max(1, int(height) * int(width)))
    whole = need <= budget and not lazy_only
    if tile_limit is not None:
        whole = whole and height * width <= tile_limit
    return Plan(whole=whole, tile=int(tile or d_tile), overlap=int(d_overlap if overlap is None else overlap),
                working_set=need, budget=budget)
