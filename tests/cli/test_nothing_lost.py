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
        from irpath.methods.compsegnet import optimizer  # noqa: F401  registers the checkpoint's optimizer

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


# -- round 2: one guard for every command, atomic writers, a full disk ------------------
def checksums(folder: Path) -> dict:
    """sha256 of every file under ``folder`` (hidden ones too)."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def temporaries(folder: Path) -> list:
    """Temporaries of any irpath writer (this version's and 0.1's) under ``folder``."""
    from irpath.io.paths import TMP_MARK

    return [p for p in folder.rglob("*") if TMP_MARK in p.name or p.name.endswith((".tmp.keras", ".tmp"))
            or ".tmp-" in p.name]


def kept(before: dict, folder: Path) -> None:
    """Every file ``before`` listed is still there, byte for byte (irpath's record of what it
    wrote aside)."""
    from irpath.io.paths import CLAIMS_FILE

    after = checksums(folder)
    assert {k: after.get(k) for k in before if k != CLAIMS_FILE} == \
        {k: v for k, v in before.items() if k != CLAIMS_FILE}


@pytest.fixture
def data(tiny_tma, tmp_path):
    """A private copy of the tiny TMA (manifests hold paths relative to themselves) plus
    ``x.npy``, a cube predict reads: {"train", "val", "test", "cube"}."""
    root = tmp_path / "data"
    shutil.copytree(Path(tiny_tma["test"]).parent.parent, root)
    out = {k: root / Path(tiny_tma[k]).parent.name / Path(tiny_tma[k]).name for k in ("train", "val", "test")}
    out["cube"] = root / "test" / "x.npy"
    np.save(out["cube"], (np.random.default_rng(1).random((24, 24, 450)) * 0.5 + 0.2).astype(np.float32))
    return out


def _argv(command, data, run, out):
    spot = str(data["test"].parent / "spot_000.hdr")
    return {"predict": ["predict", "--model", str(run), "--input", str(data["cube"]), "--out", str(out)],
            "correct": ["correct", "--input", spot, "--out", str(out), "--no-progress"],
            "evaluate": ["evaluate", "--model", str(run), "--manifest", str(data["test"]), "--out", str(out)],
            "export": ["export", "--model", str(run), "--out", str(out)],
            "ensemble": ["ensemble", "--no-export", "--out", str(out), str(run), str(data["run2"])],
            "train": train_argv(data, out, "--epochs", "1", "--filters", "4"),
            "demo": ["demo", "--out", str(out), "--epochs", "1", "--n-train", "4", "--size", "16"]}[command]


#: For each command and --out: the input's folder, the model's run, a folder holding a file of
#: the same name: "refused" (exit 2, one line naming the path) or "beside" (exit 0, and a re-run
#: over its own outputs is fine too). Both leave every file of the user's as it was.
GUARD_CASES = {
    ("predict", "input"): ("refused", "x.npy"), ("predict", "run"): ("beside", None),
    ("predict", "same_name"): ("refused", "x.png"),
    ("correct", "input"): ("refused", "spot_000.hdr"), ("correct", "run"): ("beside", None),
    ("correct", "same_name"): ("refused", "spot_000.img"),
    ("evaluate", "input"): ("beside", None), ("evaluate", "run"): ("refused", "cache"),
    ("evaluate", "same_name"): ("refused", "report.json"),
    ("export", "input"): ("refused", "model being exported"), ("export", "run"): ("refused", "model"),
    ("export", "same_name"): ("refused", "not an irpath export"),
    ("ensemble", "input"): ("refused", "not an empty folder"), ("ensemble", "run"): ("refused", "empty"),
    ("ensemble", "same_name"): ("refused", "not an empty folder"),
    ("train", "input"): ("beside", None), ("train", "same_name"): ("refused", "history.csv"),
    ("demo", "same_name"): ("refused", "demo_summary.json"),
}


@pytest.mark.parametrize("command,where", list(GUARD_CASES))
def test_every_command_refuses_or_writes_beside_and_changes_nothing_of_the_users(
        command, where, data, run_copy, tmp_path, capsys):
    expected, needle = GUARD_CASES[command, where]
    data["run2"] = run_copy
    inputs = {"predict": data["cube"].parent, "correct": data["test"].parent, "evaluate": data["test"].parent,
              "export": run_copy, "ensemble": run_copy, "train": data["train"].parent}
    same = {"predict": "x.png", "correct": "spot_000.img", "evaluate": "report.json",
            "export": "saved_model.pb", "ensemble": "config.json", "train": "history.csv",
            "demo": "demo_summary.json"}
    if where == "same_name":
        out = tmp_path / "mine"
        out.mkdir()
        (out / same[command]).write_text("the user's own file")
        (out / "notes.txt").write_text("precious")
    else:
        out = inputs[command] if where == "input" else run_copy
    watched = [data["train"].parent.parent, run_copy, out]
    before = [checksums(f) for f in watched]
    rc = main(_argv(command, data, run_copy, out))
    if expected == "refused":
        assert rc == 2
        line = one_error_line(capsys, needle)
        assert str(out) in line
        for f, b in zip(watched, before):
            assert checksums(f) == b
    else:
        assert rc == 0, capsys.readouterr().err[-2000:]
        for f, b in zip(watched, before):
            kept(b, f)
        if command != "train":  # (a re-run of train is a resume, tested in tests/train)
            assert main(_argv(command, data, run_copy, out)) == 0  # a re-run over its own outputs
        assert not temporaries(out)


def test_the_guard_names_both_paths_and_sees_through_symlinks_and_dotdot(tmp_path):
    from irpath.io.paths import OutputError, plan_outputs

    (tmp_path / "in").mkdir()
    cube = tmp_path / "in" / "x.npy"
    cube.write_bytes(b"raw")
    (tmp_path / "link").symlink_to(tmp_path / "in")
    with pytest.raises(OutputError) as err:
        plan_outputs(tmp_path / "link", ["x.npy"], command="predict",
                     inputs=[tmp_path / "in" / ".." / "in" / "x.npy"])
    assert str(tmp_path / "link" / "x.npy") in str(err.value) and "in/../in/x.npy" in str(err.value)
    with pytest.raises(OutputError, match="a file the model reads"):
        plan_outputs(tmp_path / "run" / "saved_model", ["x.npy"], command="predict",
                     model_files=[tmp_path / "run" / "saved_model"])
    plan_outputs(tmp_path / "o", ["a.npy", "maps/"], command="predict")
    (tmp_path / "o" / "a.npy").write_bytes(b"mine")
    plan_outputs(tmp_path / "o", ["a.npy", "maps/"], command="predict")   # its own: fine
    with pytest.raises(OutputError, match="written by irpath predict"):
        plan_outputs(tmp_path / "o", ["a.npy"], command="evaluate")
    assert cube.read_bytes() == b"raw" and (tmp_path / "o" / "a.npy").read_bytes() == b"mine"


def test_atomic_writers_leave_the_old_file_or_the_new_one(tmp_path):
    from irpath.io.paths import DiskError, atomic_path, atomic_save_npy

    f = tmp_path / "m.npy"
    atomic_save_npy(f, np.arange(3))
    with pytest.raises(RuntimeError):
        with atomic_path(f) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    with pytest.raises(DiskError, match=r"m.npy: no space left on device \(ENOSPC\); free space"):
        with atomic_path(f) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    np.testing.assert_array_equal(np.load(f), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy"]


# -- a full disk -------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root), else None: the tests then inject ENOSPC instead."""
    import subprocess

    d = tmp_path / "small"
    d.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)],
                        capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    yield d if ok else None
    if ok:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _fill(folder: Path, leave: int) -> None:
    """Fill ``folder``'s file system up to ``leave`` bytes."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def _full_disk_line(capsys, path_part):
    line = one_error_line(capsys, "no space left on device (ENOSPC)")
    assert path_part in line and "free space and re-run the same command to resume" in line
    assert "unexpected" not in line


def test_full_disk_during_a_checkpoint(run_copy, tiny_tma, capsys, monkeypatch):
    import keras

    before = checksums(run_copy / "checkpoints") | {"best": checksums(run_copy)["best.keras"]}
    real = keras.Model.save

    def full(self, path, *a, **k):
        Path(path).write_bytes(b"PK half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")   # no filename, as zipfile gives
    monkeypatch.setattr(keras.Model, "save", full)
    assert main(train_argv(tiny_tma, run_copy, "--epochs", str(16))) == 2
    _full_disk_line(capsys, ".keras")
    monkeypatch.setattr(keras.Model, "save", real)
    assert checksums(run_copy / "checkpoints") | {"best": checksums(run_copy)["best.keras"]} == before
    assert not temporaries(run_copy)


def test_full_disk_during_an_export_keeps_the_previous_export(tiny_run, tmp_path, capsys, monkeypatch):
    import keras

    out = tmp_path / "saved"
    shutil.copytree(tiny_run / "saved_model", out)
    before = checksums(out)

    def full(self, path, *a, **k):
        Path(path).mkdir()
        (Path(path) / "saved_model.pb").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(keras.Model, "export", full)
    assert main(["export", "--model", str(tiny_run), "--out", str(out), "--overwrite"]) == 2
    _full_disk_line(capsys, str(out))
    assert checksums(out) == before and not temporaries(tmp_path)


def test_full_disk_during_a_correction(data, tmp_path, small_disk, capsys, monkeypatch):
    spots = [str(data["test"].parent / f"spot_00{i}.hdr") for i in range(3)]   # 1.04 MB each
    out = (small_disk or tmp_path) / "corr"
    assert main(["correct", "--input", spots[0], "--out", str(out), "--no-progress"]) == 0
    before = checksums(out)
    if small_disk is not None:   # 3 cubes on a 2 MB disk: refused up front, with both numbers
        assert main(["correct", "--input", *spots, "--out", str(out), "--no-progress"]) == 2
        line = one_error_line(capsys, "the corrected cubes need 3.1 MB but only")
        assert "MB are free" in line
        import irpath.io.paths as paths
        monkeypatch.setattr(paths, "check_free_space", lambda *a, **k: None)
    else:
        import irpath.spectra.emsc as emsc
        real, calls = emsc._flush, []

        def full(f, item, *a):
            calls.append(1)
            if len(calls) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(f, item, *a)
        monkeypatch.setattr(emsc, "_flush", full)
    assert main(["correct", "--input", *spots, "--out", str(out), "--no-progress"]) == 2
    _full_disk_line(capsys, "spot_00")
    kept(before, out)
    assert set(checksums(out)) == set(before) and not temporaries(out.parent)


def test_full_disk_during_a_prediction(tiny_run, data, tmp_path, small_disk, capsys, monkeypatch):
    out = (small_disk or tmp_path) / "maps"
    argv = ["predict", "--model", str(tiny_run), "--input", str(data["cube"]), "--out", str(out)]
    assert main(argv) == 0
    before = checksums(out)
    second = tmp_path / "y.npy"   # a re-run skips x (complete), so the full disk hits y's outputs
    shutil.copyfile(data["cube"], second)
    argv = argv[:4] + [str(data["cube"]), str(second)] + argv[5:]
    if small_disk is not None:
        _fill(small_disk, 4096)   # room for the map (the free-space check passes), not the PNG
    else:
        real = np.save

        def full(f, arr, *a, **k):
            real(f, arr[: len(arr) // 2], *a, **k)
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(np, "save", full)
    assert main(argv) == 2
    _full_disk_line(capsys, str(out))
    kept(before, out)
    new = set(checksums(out)) - set(before)     # y's map may be complete; nothing is partial
    assert new <= {"y.npy"} and not temporaries(out)
    assert all(np.load(out / n).shape == (24, 24) for n in new | {"x.npy"})


def test_free_space_is_checked_before_a_large_prediction_or_export(tiny_run, data, tmp_path, capsys,
                                                                   monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1000))
    out = tmp_path / "maps"
    argv = ["predict", "--model", str(tiny_run), "--input", str(data["cube"]), "--out", str(out)]
    assert main(argv) == 2
    one_error_line(capsys, "the maps need 2.3 KB but only 1.0 KB are free")
    assert not (out / "x.npy").exists()
    assert main(["export", "--model", str(tiny_run), "--out", str(tmp_path / "saved")]) == 2
    one_error_line(capsys, "the export need")
    assert not (tmp_path / "saved").exists()


def test_an_environment_errno_anywhere_is_a_user_error(monkeypatch, tmp_path, capsys):
    import irpath.cli.inspect as inspect_cmd

    for code, words in ((errno.ENOSPC, "ENOSPC"), (errno.EDQUOT, "EDQUOT"), (errno.EROFS, "EROFS"),
                        (errno.EACCES, "EACCES")):
        def boom(args, code=code):
            try:
                raise OSError(code, os.strerror(code))
            except OSError as exc:
                raise RuntimeError("a library wrapped it") from exc
        monkeypatch.setattr(inspect_cmd, "run", boom)
        assert main(["inspect", "x.npy"]) == 2
        line = one_error_line(capsys, words)
        assert "re-run the same command" in line and "unexpected" not in line


# -- SIGKILL during each writer, then a re-run --------------------------------------------
KILL_DRIVER = '''
import os, signal, sys
real = os.replace
def replace(src, dst, *a, **k):   # the temporary is complete: die before it is renamed
    if os.path.basename(str(dst)) == os.environ["KILL_AT"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
from irpath.cli.main import main
sys.exit(main(sys.argv[1:]))
'''


def test_sigkill_during_each_writer_then_a_rerun_completes(run_copy, tiny_run, data, tiny_tma, tmp_path):
    import subprocess
    import sys

    driver = tmp_path / "kill_driver.py"
    driver.write_text(KILL_DRIVER)
    spot = str(data["test"].parent / "spot_000.hdr")
    jobs = {  # writer: (argv, the file whose rename is killed)
        "checkpoint": (train_argv(tiny_tma, run_copy, "--epochs", "16", "--no-export"), "last.keras"),
        "export": (["export", "--model", str(tiny_run), "--out", str(tmp_path / "exp" / "saved")], "saved"),
        "correct": (["correct", "--input", spot, "--out", str(tmp_path / "corr"), "--no-progress"],
                    "spot_000.img"),
        "predict": (["predict", "--model", str(tiny_run), "--input", str(data["cube"]),
                     "--out", str(tmp_path / "pred")], "x.npy"),
    }  # (evaluate's maps, report and figures go through the same writers as predict's)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(sys.path))
    procs = {k: subprocess.Popen([sys.executable, str(driver), *argv], env=dict(env, KILL_AT=at),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for k, (argv, at) in jobs.items()}
    for name, proc in procs.items():
        err = proc.communicate(timeout=600)[1]
        assert proc.returncode == -9, (name, err[-2000:])
    assert temporaries(run_copy) and temporaries(tmp_path / "pred")   # killed mid-write indeed
    assert not (tmp_path / "pred" / "x.npy").exists()                  # nothing that looks whole
    assert not (tmp_path / "corr" / "spot_000.img").exists() and not (tmp_path / "exp" / "saved").exists()
    for name, (argv, _) in jobs.items():
        assert main(argv) == 0, name
    from irpath.inference.loading import load_keras_model
    from irpath.io import read_cube

    load_keras_model(run_copy / "checkpoints" / "last.keras")
    assert json.loads((run_copy / "checkpoints" / "state.json").read_text())["epoch"] == 16
    assert (tmp_path / "exp" / "saved" / "saved_model.pb").exists()
    corrected = read_cube(tmp_path / "corr" / "spot_000.hdr")
    assert corrected.shape == (24, 24, 450) and np.isfinite(corrected.data).all()
    assert np.load(tmp_path / "pred" / "x.npy").shape == (24, 24)
    for folder in (run_copy, tmp_path / "exp", tmp_path / "corr", tmp_path / "pred"):
        assert not temporaries(folder), folder
