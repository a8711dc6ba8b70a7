"""The plan: the default tile grows with what one tile's working set allows; a config's tile wins."""

from types import SimpleNamespace

from irpath.inference.plan import DEFAULT_TILE, MAX_TILE, TILE_BYTES, plan_prediction, tiling_defaults


def test_default_tile_follows_the_working_set_per_pixel():
    # 450-channel IR (12.8 kB/px) keeps the default tile; 3-channel RGB (2.1 kB/px) gets the largest
    ir = plan_prediction(4096, 4096, raw_channels=436, raw_itemsize=4, in_channels=450, out_channels=1,
                         memory_limit=2**30)
    rgb = plan_prediction(4096, 4096, raw_channels=3, raw_itemsize=1, in_channels=3, out_channels=4,
                          memory_limit=2**30)
    assert not ir.whole and not rgb.whole
    assert ir.tile == DEFAULT_TILE and rgb.tile == MAX_TILE
    assert tiling_defaults(None, TILE_BYTES // 320**2) == (320, 32)  # 320 px fit exactly
    assert tiling_defaults(None) == (DEFAULT_TILE, 32)


def test_config_and_caller_tiles_win():
    cfg = SimpleNamespace(tile=96, overlap=8)
    plan = plan_prediction(4096, 4096, raw_channels=3, raw_itemsize=1, in_channels=3, out_channels=4,
                           cfg=cfg, memory_limit=2**30)
    assert (plan.tile, plan.overlap) == (96, 8)
    plan = plan_prediction(4096, 4096, raw_channels=3, raw_itemsize=1, in_channels=3, out_channels=4,
                           cfg=cfg, memory_limit=2**30, tile=160, overlap=4)
    assert (plan.tile, plan.overlap) == (160, 4)
