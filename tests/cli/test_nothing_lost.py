"""Nothing lost, nothing crashes: every reproduction of the hostile-user review.

Each test reproduces a failure of irpath 0.1 (data deleted, a traceback, a silent
wrong answer) and checks the fix: exit code 2 and one line naming the file, and
nothing deleted.
"""

import builtins
import csv
import errno
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from irpath.cli.main import main


def one_error_line(capsys, needle=None):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in err if ln.startswith("irpath: error:")]
    assert len(errors) == 1, err
    assert not any("Traceback" in ln for ln in err), err
    if needle is not None:
        assert needle in errors[0], errors[0]
    return errors[0]


def tree(folder: Path) -> dict:
    """Every file under ``folder`` with its size and mtime."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of the finished tiny run, free to damage."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst)
    return dst


def train_argv(tma, out, *extra):
    return ["train", "compsegnet", "--train-manifest", str(tma["train"]), "--val-manifest", str(tma["val"]),
            "--out", str(out), "--filters", "8", "--depth", "2", "--batch-size", "4", "--lr", "0.01",
            *extra]


# -- data loss -------------------------------------------------------------------------
def test_export_into_its_own_run_is_refused_and_deletes_nothing(run_copy, capsys):
    before = tree(run_copy)
    assert main(["export", "--model", str(run_copy), "--out", str(run_copy)]) == 2
    one_error_line(capsys, "model being exported")
    assert tree(run_copy) == before


def test_export_leaves_a_users_folder_alone(tiny_run, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    assert main(["export", "--model", str(tiny_run), "--out", str(folder)]) == 2
    one_error_line(capsys, "not an irpath export")
    assert (folder / "notes.txt").read_text() == "precious" and len(list(folder.iterdir())) == 1


def test_export_replaces_an_export_only_with_overwrite_and_a_failed_one_keeps_it(tiny_run, tmp_path, capsys):
    out = tmp_path / "saved"
    assert main(["export", "--model", str(tiny_run), "--out", str(out)]) == 0
    good = tree(out)
    assert main(["export", "--model", str(tiny_run), "--out", str(out)]) == 2
    one_error_line(capsys, "--overwrite")
    junk = tmp_path / "junkrun"
    junk.mkdir()
    shutil.copy(tiny_run / "config.json", junk / "config.json")
    (junk / "segmenter.keras").write_bytes(b"not a model at all")
    assert main(["export", "--model", str(junk), "--out", str(out), "--overwrite"]) == 2
    one_error_line(capsys, "segmenter.keras")
    assert tree(out) == good                                     # the good export survived
    assert main(["export", "--model", str(tiny_run), "--out", str(out), "--overwrite"]) == 0
    assert (out / "saved_model.pb").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".saved")]  # no temporaries left


def test_predict_inputs_with_the_same_stem_get_distinct_outputs(tiny_run, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        cube = (rng.random((8, 8, 450)) * 0.5 + 0.2).astype(np.float32)
        np.save(tmp_path / sub / "spot.npy", cube)
        paths.append(tmp_path / sub / "spot.npy")
    assert main(["predict", "--model", str(tiny_run), "--input", *map(str, paths), "--out",
                 str(tmp_path / "p")]) == 0
    rows = json.loads((tmp_path / "p" / "predictions.json").read_text())["predictions"]
    assert [r["image"] for r in rows] == [str(p) for p in paths]
    assert len({r["map"] for r in rows}) == 2 and len({r["png"] for r in rows}) == 2
    for r in rows:
        assert (tmp_path / "p" / r["map"]).exists()


# -- one line instead of a traceback ---------------------------------------------------
def test_zero_byte_npy(tiny_run, tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert main(["predict", "--model", str(tiny_run), "--input", str(empty), "--out", str(tmp_path / "p")]) == 2
    one_error_line(capsys, "empty.npy")


@pytest.mark.parametrize("kind", ["npy", "envi_data", "envi_header"])
def test_unreadable_file(kind, tiny_tma, tmp_path, capsys, monkeypatch):
    """As root cannot be denied a read, simulate the EACCES the reader would get (0.1 printed
    a PermissionError traceback, or spectral's "'BsqFile' object has no attribute 'fid'")."""
    if kind == "npy":
        arg = denied = tmp_path / "locked.npy"
        np.save(arg, np.ones((4, 4, 450), np.float32))
    else:
        for f in Path(tiny_tma["test"]).parent.glob("spot_000.*"):
            shutil.copy(f, tmp_path / f.name.replace("spot_000", "locked"))
        arg = tmp_path / "locked.hdr"
        denied = arg if kind == "envi_header" else tmp_path / "locked.img"
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if str(file) == str(denied):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", deny)
    assert main(["inspect", str(arg)]) == 2
    one_error_line(capsys, f"{denied.name}: cannot read (Permission denied)")


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export"])
@pytest.mark.parametrize("where", ["file", "under_file", "read_only"])
def test_unusable_out(command, where, tiny_run, tiny_tma, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = {"file": blocker, "under_file": blocker / "sub", "read_only": tmp_path / "ro" / "out"}[where]
    if where == "read_only":
        real_mkdir = Path.mkdir

        def erofs(self, *args, **kwargs):
            if str(self).startswith(str(tmp_path / "ro")):
                raise OSError(errno.EROFS, "Read-only file system", str(self))
            return real_mkdir(self, *args, **kwargs)
        monkeypatch.setattr(Path, "mkdir", erofs)
    spot = str(tiny_tma["test"].parent / "spot_000.hdr")
    argv = {"train": train_argv(tiny_tma, out, "--epochs", "1"),
            "evaluate": ["evaluate", "--model", str(tiny_run), "--manifest", str(tiny_tma["test"]), "--out", str(out)],
            "predict": ["predict", "--model", str(tiny_run), "--input", spot, "--out", str(out)],
            "export": ["export", "--model", str(tiny_run), "--out", str(out)]}[command]
    assert main(argv) == 2
    one_error_line(capsys, str(out) if where != "under_file" else "blocker")
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("damage", ["last.keras", "stats.npz", "state.json"])
def test_damaged_run_files_on_resume(damage, run_copy, tiny_tma, capsys):
    f = {"last.keras": run_copy / "checkpoints" / "last.keras", "stats.npz": run_copy / "stats.npz",
         "state.json": run_copy / "checkpoints" / "state.json"}[damage]
    f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 3)])    # truncated
    assert main(train_argv(tiny_tma, run_copy, "--epochs", "20")) == 2
    line = one_error_line(capsys, damage)
    assert "delete" in line or "new --out" in line                      # says what to do


def test_resume_without_last_checkpoint_is_refused(run_copy, tiny_tma, capsys):
    history = (run_copy / "history.csv").read_text()
    (run_copy / "checkpoints" / "last.keras").unlink()
    assert main(train_argv(tiny_tma, run_copy, "--epochs", "20")) == 2
    one_error_line(capsys, "last.keras: missing")
    assert (run_copy / "history.csv").read_text() == history


@pytest.mark.parametrize("name", ["best.keras", "checkpoints/last.keras"])
def test_predict_with_a_training_model_file_extracts_the_segmenter(name, tiny_run, tiny_tma, tmp_path):
    spot = tiny_tma["test"].parent / "spot_000.hdr"
    assert main(["predict", "--model", str(tiny_run / name), "--input", str(spot), "--out", str(tmp_path / "a")]) == 0
    assert main(["predict", "--model", str(tiny_run), "--input", str(spot), "--out", str(tmp_path / "b")]) == 0
    if name == "best.keras":                                       # the segmenter is best.keras' U-Net
        np.testing.assert_allclose(np.load(tmp_path / "a" / "spot_000.npy"),
                                   np.load(tmp_path / "b" / "spot_000.npy"), rtol=1e-6)
    else:                                                          # last.keras' own U-Net, not best's
        import keras

        from irpath.data.prepare import prepare_image
        from irpath.models.compsegnet import extract_segmenter
        from irpath.train import optimizers  # noqa: F401  registers the checkpoint's optimizer

        cfg = json.loads((tiny_run / "config.json").read_text())["model"]
        axis = np.linspace(cfg["wn_start"], cfg["wn_stop"], cfg["in_channels"])
        cube = prepare_image(spot, "ir", axis=axis).data
        seg = extract_segmenter(keras.saving.load_model(tiny_run / name))
        np.testing.assert_allclose(np.load(tmp_path / "a" / "spot_000.npy"),
                                   np.asarray(seg(cube[None]))[0, ..., 0], rtol=1e-5, atol=1e-6)


def _junk_models(folder: Path, tiny_run: Path) -> dict:
    out = {}
    for kind in ("junk_zip", "text", "bad_config"):
        d = folder / kind
        d.mkdir()
        shutil.copy(tiny_run / "config.json", d / "config.json")
        f = d / "segmenter.keras"
        if kind == "junk_zip":
            with zipfile.ZipFile(f, "w") as z:
                z.writestr("hello.txt", "not keras")
        elif kind == "text":
            f.write_text("just some text")
        else:
            with zipfile.ZipFile(tiny_run / "segmenter.keras") as src, zipfile.ZipFile(f, "w") as dst:
                for item in src.infolist():
                    data = src.read(item)
                    if item.filename == "config.json":
                        data = b'{"class_name": "NoSuchLayer", "config": {}}'
                    dst.writestr(item, data)
        out[kind] = d
    return out


def test_damaged_models_are_one_line_errors(tiny_run, tiny_tma, tmp_path, capsys):
    spot = str(tiny_tma["test"].parent / "spot_000.hdr")
    for kind, d in _junk_models(tmp_path, tiny_run).items():
        assert main(["predict", "--model", str(d), "--input", spot, "--out", str(tmp_path / "p")]) == 2, kind
        one_error_line(capsys, "segmenter.keras")
    saved = tmp_path / "saved"
    shutil.copytree(tiny_run / "saved_model", saved)
    shutil.rmtree(saved / "variables")
    assert main(["predict", "--model", str(saved), "--input", spot, "--out", str(tmp_path / "p")]) == 2
    one_error_line(capsys, str(saved))


def test_lambda_layer_is_refused_in_safe_mode(tiny_run, tmp_path, capsys):
    import keras

    d = tmp_path / "lam"
    d.mkdir()
    shutil.copy(tiny_run / "config.json", d / "config.json")
    inp = keras.Input((None, None, 450))
    keras.Model(inp, keras.layers.Lambda(lambda x: x[..., :1] * 0)(inp), name="segmenter").save(d / "segmenter.keras")
    assert main(["export", "--model", str(d), "--out", str(tmp_path / "saved")]) == 2
    one_error_line(capsys, "Lambda")


@pytest.mark.parametrize("seed", ["-1", "99999999999", "4294967295"])
def test_out_of_range_seeds_are_refused_before_any_work(seed, tiny_tma, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(tiny_tma, out, "--epochs", "1", "--seed", seed)) == 2
    one_error_line(capsys, "seed")
    assert not out.exists()


def test_unexpected_exceptions_get_one_line_and_a_log(monkeypatch, tmp_path, capsys):
    import irpath.cli.inspect as inspect_cmd

    def boom(args):
        raise RuntimeError("something nobody foresaw")
    monkeypatch.setattr(inspect_cmd, "run", boom)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["inspect", "x.npy"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unexpected RuntimeError: something nobody foresaw" in err[0]
    log = Path(err[0].split("traceback in ")[1])
    assert log.parent == tmp_path and "Traceback" in log.read_text()


# -- silent wrong answers --------------------------------------------------------------
def test_huge_input_values_are_refused_naming_the_pixel(tiny_run, tmp_path, capsys):
    cube = (np.random.default_rng(0).random((8, 8, 450)) * 0.5 + 0.2).astype(np.float32)
    cube[2, 5, 7] = 3e37
    np.save(tmp_path / "huge.npy", cube)
    assert main(["predict", "--model", str(tiny_run), "--input", str(tmp_path / "huge.npy"),
                 "--out", str(tmp_path / "p")]) == 2
    one_error_line(capsys, "huge.npy: 1 pixel(s) hold values beyond")
    assert not (tmp_path / "p" / "huge.npy").exists()


def test_resume_on_different_data_is_refused(run_copy, tiny_tma, tmp_path, capsys):
    rows = (Path(tiny_tma["val"]).read_text().splitlines())
    other = Path(tiny_tma["val"]).parent / "val_fewer.csv"
    other.write_text("\n".join(rows[:-1]) + "\n")
    argv = train_argv(tiny_tma, run_copy, "--epochs", "20")
    argv[argv.index("--val-manifest") + 1] = str(other)
    assert main(argv) == 2
    one_error_line(capsys, "different data (val changed")


def test_a_run_that_failed_before_training_does_not_lock_its_settings(tiny_tma, tmp_path, capsys):
    src = Path(tiny_tma["train"])
    bad_cube = tmp_path / "inf.npy"
    c = np.ones((24, 24, 450), np.float32)
    c[3, 3, 3] = np.inf
    np.save(bad_cube, c)
    bad = tmp_path / "train_bad.csv"
    lines = src.read_text().splitlines()
    bad.write_text(lines[0] + "\n" + "\n".join(
        ",".join(str(src.parent / v) if v.endswith((".hdr", ".png")) else v for v in ln.split(","))
        for ln in lines[1:]) + f"\n{bad_cube},0,\n")
    out = tmp_path / "run"
    argv = train_argv({"train": bad, "val": tiny_tma["val"]}, out, "--epochs", "1")
    assert main(argv) == 2
    one_error_line(capsys, "inf.npy")
    argv = train_argv(tiny_tma, out, "--epochs", "1", "--filters", "4")      # corrected data and flags
    assert main(argv) == 0
    assert json.loads((out / "config.json").read_text())["model"]["filters"] == 4


@pytest.mark.parametrize("value", ["nan", "5", "0"])
def test_bad_thresholds(value, tiny_run, tiny_tma, tmp_path, capsys):
    spot = str(tiny_tma["test"].parent / "spot_000.hdr")
    assert main(["predict", "--model", str(tiny_run), "--input", spot, "--out", str(tmp_path / "p"),
                 "--threshold", value]) == 2
    one_error_line(capsys, "threshold")
    assert main(["evaluate", "--model", str(tiny_run), "--manifest", str(tiny_tma["test"]),
                 "--out", str(tmp_path / "e"), "--threshold", value]) == 2
    one_error_line(capsys, "threshold")


def test_manifest_problems_are_found_up_front_on_one_line(tiny_tma, tmp_path, capsys):
    base = Path(tiny_tma["train"]).parent
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    m = tmp_path / "m.csv"
    with open(m, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label"])
        w.writerow([str(base / "spot_000.hdr"), "1", "surplus"])
        w.writerow([str(tmp_path / "loop"), "0"])
        w.writerow([str(empty), "0"])
        w.writerow([str(base / "spot_001.hdr"), "1"])
    out = tmp_path / "run"
    assert main(train_argv({"train": m, "val": tiny_tma["val"]}, out, "--epochs", "1")) == 2
    line = one_error_line(capsys)
    assert "line 2: 1 more field(s)" in line and "symlink loop" in line
    assert not (out / "config.json").exists()
    m.write_text(f"image,label\n{base / 'spot_000.hdr'},1\n{empty},0\n{base / 'spot_001.hdr'},0\n")
    assert main(train_argv({"train": m, "val": tiny_tma["val"]}, out, "--epochs", "1")) == 2
    line = one_error_line(capsys, "empty.npy")                   # found before any caching
    assert not (out / "config.json").exists() and not (out / "cache").exists()


def test_a_manifest_error_is_one_line_even_with_a_newline_in_a_field(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text('image,label\n"two\nlines.hdr",1\n')
    assert main(["inspect", str(m)]) == 2
    line = one_error_line(capsys, "m.csv")
    assert "two lines.hdr" in line
