"""A tiny synthetic GlaS folder and one finished tiny joint run, shared by the multiloss tests."""

import pytest

# 10 images of 64 x 64 -> split 7 / 1 / 2 images; 32 x 32 tiles and crops; a 2-level net.
TINY = ["--resize", "64", "--tile", "32", "--crop", "32", "--filters", "4", "--depth", "2",
        "--batch-size", "4", "--optimizer", "adam", "--lr", "0.01"]


@pytest.fixture(scope="session")
def tiny_glas(tmp_path_factory):
    from irpath.demo.glands import make_glas_folder

    return make_glas_folder(tmp_path_factory.mktemp("glas"), n_images=10, size=64, seed=1)


@pytest.fixture(scope="session")
def joint_run(tiny_glas, tmp_path_factory):
    """RUN_DIR of `irpath train multiloss --mode joint` (1 pre-training + 1 joint epoch)."""
    from irpath.cli.main import main

    run = tmp_path_factory.mktemp("runs") / "joint"
    assert main(["train", "multiloss", "--data", str(tiny_glas), "--out", str(run), "--epochs", "1",
                 "--pretrain-epochs", "1"] + TINY) == 0
    return run
